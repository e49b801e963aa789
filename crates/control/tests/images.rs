//! A fleet's image changing under it, image copies sharing their root, and image
//! permissions, driven through the ControlPlane and its effects.

use porthole_control::image::{ImagePermissions, ImageState};
use porthole_control::{
    default_image, Config, ControlPlane, Effect, EndReason, ErrorKind, Fleet, FleetType, Image,
    ImageRoot, InstanceState, SequentialIds, Stack, Timestamp,
};

mod common;
use common::{at, launches, terminated};

const ACCOUNT: &str = "123456789012";
const OTHER: &str = "210987654321";

fn image(name: &str) -> Image {
    Image {
        name: name.to_owned(),
        ..default_image(at(0), vec![])
    }
}

fn plane() -> ControlPlane {
    let mut cp = ControlPlane::new(
        Config {
            region: "us-east-1".into(),
            account: ACCOUNT.into(),
        },
        SequentialIds::default(),
    );
    cp.put_image(image("old"));
    cp.put_image(image("new"));
    cp
}

/// A started fleet of `desired` instances on the image "old", all reported
/// ready, with a stack to stream from.
fn running_fleet(cp: &mut ControlPlane, fleet_type: FleetType, desired: u32) {
    let mut fleet = Fleet::new("f", "old", "stream.standard.small", fleet_type, at(0));
    fleet.desired_instances = desired;
    cp.create_fleet(fleet).unwrap();
    cp.create_stack(Stack::new("s", at(0))).unwrap();
    cp.associate_fleet("f", "s").unwrap();
    cp.start_fleet("f", at(0)).unwrap();
    for spec in launches(&cp.take_effects()) {
        cp.instance_ready(&spec.instance_id, at(0)).unwrap();
    }
}

/// Opens a session for `user`, answering its instance's start if it needs one.
fn open(cp: &mut ControlPlane, user: &str, now: Timestamp) -> (String, String) {
    let grant = cp
        .create_streaming_url("s", "f", user, None, None, None, now)
        .unwrap();
    let (session, effects) = cp.open_session(&grant, now).unwrap();
    let instance = session.instance_id.unwrap();
    if effects
        .iter()
        .any(|e| matches!(e, Effect::StartInstance(_)))
    {
        cp.instance_ready(&instance, now).unwrap();
    }
    (session.id, instance)
}

fn change_image(cp: &mut ControlPlane, image: &str, now: Timestamp) -> Vec<Effect> {
    cp.update_fleet("f", now, |f| {
        f.image_name = image.to_owned();
        Ok(())
    })
    .unwrap();
    cp.take_effects()
}

fn images_of_instances(cp: &ControlPlane) -> Vec<(String, String)> {
    cp.instances()
        .filter(|i| i.state != InstanceState::Terminating)
        .map(|i| (i.id.clone(), i.image_name.clone()))
        .collect()
}

#[test]
fn always_on_replaces_idle_instances_and_busy_ones_once_their_session_ends() {
    let mut cp = plane();
    running_fleet(&mut cp, FleetType::AlwaysOn, 3);
    let (session, busy) = open(&mut cp, "alice", at(1));
    let idle: Vec<String> = cp
        .instances()
        .filter(|i| i.id != busy)
        .map(|i| i.id.clone())
        .collect();

    let effects = change_image(&mut cp, "new", at(2));
    assert_eq!(cp.fleet("f").unwrap().image_name, "new", "shown at once");
    assert_eq!(terminated(&effects), idle);
    let fresh = launches(&effects);
    assert_eq!(fresh.len(), 2);
    for spec in &fresh {
        assert_eq!(spec.image, "new");
        assert_eq!(spec.root, cp.image("new").unwrap().root);
    }
    assert_eq!(cp.instance(&busy).unwrap().image_name, "old");
    assert!(
        cp.session(&session).unwrap().is_live(),
        "sessions are left alone"
    );

    let effects = cp
        .end_session(&session, EndReason::UserEnded, at(3))
        .unwrap();
    assert_eq!(terminated(&effects), std::slice::from_ref(&busy));
    let replacement = launches(&effects);
    assert_eq!(replacement.len(), 1);
    assert_eq!(replacement[0].image, "new");
    assert_ne!(replacement[0].instance_id, busy, "replaced, not reused");
    for id in idle.iter().chain([&busy]) {
        cp.instance_exited(id, at(4)).unwrap();
    }
    assert!(images_of_instances(&cp)
        .iter()
        .all(|(_, image)| image == "new"));
}

#[test]
fn on_demand_replaces_reserved_instances_and_starts_sessions_on_the_new_image() {
    let mut cp = plane();
    running_fleet(&mut cp, FleetType::OnDemand, 2);
    let (session, busy) = open(&mut cp, "alice", at(1));

    let effects = change_image(&mut cp, "new", at(2));
    assert!(
        terminated(&effects).is_empty() && launches(&effects).is_empty(),
        "reserved capacity has no process to stop or boot: {effects:?}"
    );
    let images = images_of_instances(&cp);
    assert_eq!(images.len(), 2);
    for (id, image) in &images {
        let expected = if *id == busy { "old" } else { "new" };
        assert_eq!(image, expected, "{id}");
    }

    let grant = cp
        .create_streaming_url("s", "f", "bob", None, None, None, at(3))
        .unwrap();
    let (_, effects) = cp.open_session(&grant, at(3)).unwrap();
    let Some(Effect::StartInstance(spec)) = effects.first() else {
        panic!("{effects:?}")
    };
    assert_eq!(spec.image, "new");

    let effects = cp
        .end_session(&session, EndReason::UserEnded, at(4))
        .unwrap();
    assert_eq!(terminated(&effects), std::slice::from_ref(&busy));
    assert!(images_of_instances(&cp)
        .iter()
        .all(|(id, image)| *id == busy || image == "new"));
}

#[test]
fn a_fleet_takes_only_an_existing_available_image() {
    let mut cp = plane();
    running_fleet(&mut cp, FleetType::AlwaysOn, 1);
    let set = |cp: &mut ControlPlane, image: &str| {
        cp.update_fleet("f", at(1), |f| {
            f.image_name = image.to_owned();
            Ok(())
        })
        .map(|_| ())
        .unwrap_err()
        .kind
    };
    assert_eq!(set(&mut cp, "missing"), ErrorKind::ResourceNotFound);
    cp.put_image(Image {
        state: ImageState::Pending,
        ..image("pending")
    });
    assert_eq!(set(&mut cp, "pending"), ErrorKind::ResourceNotAvailable);
    let mut fleet = Fleet::new(
        "g",
        "pending",
        "stream.standard.small",
        FleetType::AlwaysOn,
        at(1),
    );
    fleet.desired_instances = 1;
    assert_eq!(
        cp.create_fleet(fleet).unwrap_err().kind,
        ErrorKind::ResourceNotAvailable
    );
    assert_eq!(cp.fleet("f").unwrap().image_name, "old");
    assert!(cp.take_effects().is_empty());
}

#[test]
fn an_image_outlives_the_instances_still_running_from_it() {
    let mut cp = plane();
    running_fleet(&mut cp, FleetType::AlwaysOn, 1);
    let (session, busy) = open(&mut cp, "alice", at(1));
    change_image(&mut cp, "new", at(2));
    assert_eq!(
        cp.delete_image("old").unwrap_err().kind,
        ErrorKind::ResourceInUse
    );
    cp.end_session(&session, EndReason::UserEnded, at(3))
        .unwrap();
    assert_eq!(
        cp.delete_image("old").unwrap_err().kind,
        ErrorKind::ResourceInUse,
        "terminating, not yet gone"
    );
    cp.instance_exited(&busy, at(4)).unwrap();
    cp.delete_image("old").unwrap();
}

#[test]
fn a_copy_shares_its_source_root_and_catalog() {
    let mut cp = plane();
    let root = ImageRoot::Host;
    let copy = cp
        .copy_image("old", "copy", "us-east-1", Some("mine".into()), at(5))
        .unwrap()
        .clone();
    let source = cp.image("old").unwrap();
    assert_eq!(
        (&copy.root, &copy.applications, &copy.display_name),
        (&source.root, &source.applications, &source.display_name)
    );
    assert_eq!(
        (copy.description.as_str(), copy.created_time),
        ("mine", at(5))
    );

    cp.delete_image("old").unwrap();
    assert!(
        cp.image_root_in_use(&root),
        "the copy still needs its files"
    );
    cp.delete_image("new").unwrap();
    assert!(cp.image_root_in_use(&root));
    cp.delete_image("copy").unwrap();
    assert!(!cp.image_root_in_use(&root));
}

#[test]
fn copy_refusals() {
    let mut cp = plane();
    let copy = |cp: &mut ControlPlane, source: &str, dest: &str, region: &str| {
        cp.copy_image(source, dest, region, None, at(1))
            .map(|_| ())
            .unwrap_err()
            .kind
    };
    assert_eq!(
        copy(&mut cp, "old", "x", "eu-west-1"),
        ErrorKind::InvalidParameterCombination
    );
    assert_eq!(
        copy(&mut cp, "missing", "x", "us-east-1"),
        ErrorKind::ResourceNotFound
    );
    assert_eq!(
        copy(&mut cp, "old", "new", "us-east-1"),
        ErrorKind::ResourceAlreadyExists
    );
    cp.put_image(Image {
        state: ImageState::Pending,
        ..image("pending")
    });
    assert_eq!(
        copy(&mut cp, "pending", "x", "us-east-1"),
        ErrorKind::ResourceNotAvailable
    );
    assert!(cp.image("x").is_err());
}

#[test]
fn image_permissions_are_recorded_per_account_and_stored() {
    let mut cp = plane();
    cp.take_changes();
    let fleet_only = ImagePermissions {
        allow_fleet: true,
        allow_image_builder: false,
    };
    cp.share_image("old", OTHER, fleet_only).unwrap();
    assert_eq!(cp.image_shares("old").unwrap()[OTHER], fleet_only);
    let stored = cp.take_changes();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].document.as_ref().unwrap()["shared_with"][OTHER]["allow_fleet"],
        true
    );

    let both = ImagePermissions {
        allow_fleet: true,
        allow_image_builder: true,
    };
    cp.share_image("old", OTHER, both).unwrap();
    assert_eq!(cp.image_shares("old").unwrap().len(), 1, "replaced");
    assert_eq!(cp.image_shares("old").unwrap()[OTHER], both);
    let copy = cp
        .copy_image("old", "copy", "us-east-1", None, at(1))
        .unwrap();
    assert!(copy.shared_with.is_empty(), "shares are per image");

    cp.unshare_image("old", OTHER).unwrap();
    assert!(cp.image_shares("old").unwrap().is_empty());
    assert_eq!(
        cp.unshare_image("old", OTHER).unwrap_err().kind,
        ErrorKind::ResourceNotFound
    );
}

#[test]
fn image_permission_refusals() {
    let mut cp = plane();
    let share = |cp: &mut ControlPlane, image: &str, account: &str| {
        cp.share_image(image, account, ImagePermissions::default())
            .unwrap_err()
            .kind
    };
    assert_eq!(
        share(&mut cp, "missing", OTHER),
        ErrorKind::ResourceNotFound
    );
    assert_eq!(share(&mut cp, "old", "1234"), ErrorKind::Validation);
    assert_eq!(share(&mut cp, "old", ACCOUNT), ErrorKind::Validation);
    cp.put_image(Image {
        state: ImageState::Pending,
        ..image("pending")
    });
    assert_eq!(
        share(&mut cp, "pending", OTHER),
        ErrorKind::ResourceNotAvailable
    );
    assert_eq!(
        cp.image_shares("missing").unwrap_err().kind,
        ErrorKind::ResourceNotFound
    );
}
