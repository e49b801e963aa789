//! Image builders through the ControlPlane: their instance's life with the builder's state,
//! desktop sessions on it, and "create image" turning the writable layer into an image.

use porthole_control::image::ImageState;
use porthole_control::{
    default_image, Config, ControlPlane, Effect, EndReason, ErrorKind, ImageBuilderState,
    ImageRoot, NewImageBuilder, SequentialIds,
};

mod common;
use common::{at, launches, terminated};

fn plane() -> ControlPlane {
    let mut cp = ControlPlane::new(
        Config {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        },
        SequentialIds::default(),
    );
    cp.put_image(default_image(at(0), vec![]));
    cp
}

fn new_builder(name: &str) -> NewImageBuilder {
    NewImageBuilder {
        name: name.to_owned(),
        image_name: "porthole-default".to_owned(),
        instance_type: "stream.standard.medium".to_owned(),
        display_name: None,
        description: None,
        enable_default_internet_access: true,
        tags: Default::default(),
    }
}

/// A builder created and its instance reported ready: (plane, instance id).
fn running_builder() -> (ControlPlane, String) {
    let mut cp = plane();
    cp.create_image_builder(new_builder("b"), at(0)).unwrap();
    let spec = launches(&cp.take_effects()).pop().expect("a launch");
    cp.instance_ready(&spec.instance_id, at(1)).unwrap();
    (cp, spec.instance_id)
}

fn state(cp: &ControlPlane) -> ImageBuilderState {
    cp.image_builder("b").unwrap().state
}

#[test]
fn a_new_builder_launches_a_writable_desktop_instance_and_runs_once_it_is_up() {
    let mut cp = plane();
    let builder = cp.create_image_builder(new_builder("b"), at(0)).unwrap();
    assert_eq!(builder.state, ImageBuilderState::Pending);
    let writable = builder.writable_layer.clone();
    assert!(writable.starts_with("builders/"));
    assert!(porthole_control::image::is_layer_id(&writable));
    let spec = launches(&cp.take_effects()).pop().expect("a launch");
    assert_eq!(spec.writable_layer.as_deref(), Some(writable.as_str()));
    assert_eq!(spec.stream_view, porthole_control::StreamView::Desktop);
    assert!(spec.network);
    // The default image is the host's: the builder's changes go over its system trees.
    assert_eq!(
        spec.root,
        ImageRoot::Layers {
            on_host: true,
            layers: vec![]
        }
    );
    cp.instance_ready(&spec.instance_id, at(1)).unwrap();
    assert_eq!(state(&cp), ImageBuilderState::Running);
    // No fleet counts it.
    assert!(cp.fleets().next().is_none());
    let err = cp
        .create_image_builder(new_builder("b"), at(2))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ResourceAlreadyExists);
}

#[test]
fn desktop_sessions_come_and_go_while_the_builder_keeps_its_instance() {
    let (mut cp, instance) = running_builder();
    let grant = cp
        .create_image_builder_streaming_url("b", Some(600), at(2))
        .unwrap();
    assert_eq!(grant.image_builder.as_deref(), Some("b"));
    assert_eq!(grant.application_id, None, "the desktop, with its catalog");
    let (session, _) = cp.open_session(&grant, at(3)).unwrap();
    assert_eq!(session.instance_id.as_deref(), Some(instance.as_str()));
    // A second URL reconnects to the same session.
    let again = cp
        .create_image_builder_streaming_url("b", None, at(4))
        .unwrap();
    assert_eq!(cp.open_session(&again, at(4)).unwrap().0.id, session.id);
    // The administrator ends the session: the builder goes on.
    let effects = cp
        .end_session(&session.id, EndReason::UserEnded, at(5))
        .unwrap();
    assert!(terminated(&effects).is_empty());
    assert_eq!(state(&cp), ImageBuilderState::Running);
    // Hours later, no fleet timeout has ended anything.
    let fresh = cp.open_session(&again, at(6)).unwrap().0;
    assert!(cp
        .tick(at(6 + 10 * 3600))
        .iter()
        .all(|e| !matches!(e, Effect::EndSession { .. })));
    assert!(cp.session(&fresh.id).unwrap().is_live());
}

#[test]
fn stopping_ends_the_session_and_the_instance_and_starting_launches_a_new_one() {
    let (mut cp, instance) = running_builder();
    let grant = cp
        .create_image_builder_streaming_url("b", None, at(2))
        .unwrap();
    let (session, _) = cp.open_session(&grant, at(2)).unwrap();
    cp.stop_image_builder("b", at(3)).unwrap();
    assert_eq!(state(&cp), ImageBuilderState::Stopping);
    let effects = cp.take_effects();
    assert_eq!(terminated(&effects), std::slice::from_ref(&instance));
    assert_eq!(
        cp.session(&session.id).unwrap().end_reason,
        Some(EndReason::ImageBuilderStopped)
    );
    let err = cp
        .create_image_builder_streaming_url("b", None, at(3))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ResourceNotAvailable);
    cp.instance_exited(&instance, at(4)).unwrap();
    assert_eq!(state(&cp), ImageBuilderState::Stopped);
    cp.start_image_builder("b", at(5)).unwrap();
    assert_eq!(state(&cp), ImageBuilderState::Pending);
    let spec = launches(&cp.take_effects()).pop().expect("a launch");
    assert_ne!(spec.instance_id, instance);
    cp.instance_ready(&spec.instance_id, at(6)).unwrap();
    assert_eq!(state(&cp), ImageBuilderState::Running);
}

#[test]
fn an_instance_that_fails_leaves_the_builder_failed_with_the_reason() {
    let mut cp = plane();
    cp.create_image_builder(new_builder("b"), at(0)).unwrap();
    let spec = launches(&cp.take_effects()).pop().unwrap();
    cp.instance_failed(&spec.instance_id, "no X server", at(1))
        .unwrap();
    let builder = cp.image_builder("b").unwrap();
    assert_eq!(builder.state, ImageBuilderState::Failed);
    assert!(builder
        .state_change_reason
        .as_ref()
        .unwrap()
        .message
        .contains("no X server"));
    // Not retried on its own: the administrator starts it again.
    assert!(launches(&cp.tick(at(60))).is_empty());
    cp.start_image_builder("b", at(61)).unwrap();
    assert_eq!(launches(&cp.take_effects()).len(), 1);
}

#[test]
fn creating_an_image_snapshots_the_stopped_builder_into_a_new_top_layer() {
    let (mut cp, instance) = running_builder();
    let grant = cp
        .create_image_builder_streaming_url("b", None, at(2))
        .unwrap();
    let (session, _) = cp.open_session(&grant, at(2)).unwrap();
    let image = cp
        .create_image_from_builder("b", "made", Some("Made here".into()), None, at(3))
        .unwrap();
    assert_eq!(image.state, ImageState::Pending);
    let ImageRoot::Layers { on_host, layers } = image.root.clone() else {
        panic!("an image of layers");
    };
    assert!(on_host);
    assert_eq!(layers.len(), 1);
    assert!(layers[0].starts_with("snapshots/"));
    assert_eq!(state(&cp), ImageBuilderState::Snapshotting);
    assert_eq!(
        cp.session(&session.id).unwrap().end_reason,
        Some(EndReason::ImageBuilderSnapshotting)
    );
    // A fleet cannot use it yet, nor can the builder be deleted mid-way.
    assert!(cp.available_image("made").is_err());
    assert!(cp.delete_image_builder("b", at(3)).is_err());
    assert_eq!(
        terminated(&cp.take_effects()),
        std::slice::from_ref(&instance)
    );
    // Only once the instance is gone is the layer taken.
    let effects = cp.instance_exited(&instance, at(4)).unwrap();
    let writable = cp.image_builder("b").unwrap().writable_layer.clone();
    assert_eq!(
        effects,
        [Effect::SnapshotImageBuilder {
            builder: "b".into(),
            writable_layer: writable,
            layer: layers[0].clone(),
        }]
    );
    let app = porthole_control::Application {
        name: "hello".into(),
        display_name: "Hello".into(),
        launch_path: "/usr/bin/hello".into(),
        launch_parameters: None,
        working_directory: None,
        icon_url: None,
        enabled: true,
        icon_path: None,
    };
    cp.image_builder_snapshot_done("b", Ok(vec![app])).unwrap();
    let image = cp.available_image("made").unwrap();
    assert_eq!(image.applications[0].name, "hello");
    let builder = cp.image_builder("b").unwrap();
    assert_eq!(builder.state, ImageBuilderState::Stopped);
    // The builder goes on over what it made; its layers are kept from the store's sweep.
    assert_eq!(builder.root, image.root);
    let kept: Vec<&str> = cp.builder_layers().collect();
    assert!(kept.contains(&layers[0].as_str()));
    // An image of the same name is refused.
    cp.start_image_builder("b", at(5)).unwrap();
    let spec = launches(&cp.take_effects()).pop().unwrap();
    cp.instance_ready(&spec.instance_id, at(6)).unwrap();
    let err = cp
        .create_image_from_builder("b", "made", None, None, at(7))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ResourceAlreadyExists);
}

#[test]
fn a_failed_snapshot_fails_the_image_and_keeps_the_builder_as_it_was() {
    let (mut cp, instance) = running_builder();
    cp.create_image_from_builder("b", "made", None, None, at(3))
        .unwrap();
    cp.instance_exited(&instance, at(4)).unwrap();
    cp.image_builder_snapshot_done("b", Err("disk full".into()))
        .unwrap();
    assert_eq!(cp.image("made").unwrap().state, ImageState::Failed);
    let builder = cp.image_builder("b").unwrap();
    assert_eq!(builder.state, ImageBuilderState::Stopped);
    assert_eq!(
        builder.root,
        ImageRoot::Layers {
            on_host: true,
            layers: vec![]
        }
    );
}

#[test]
fn after_a_restart_builders_come_back_and_a_snapshot_in_progress_is_finished() {
    let (mut cp, instance) = running_builder();
    cp.create_image_builder(new_builder("c"), at(2)).unwrap();
    cp.create_image_from_builder("b", "made", None, None, at(3))
        .unwrap();
    cp.instance_exited(&instance, at(4)).unwrap();
    cp.take_effects();
    let documents: Vec<(String, serde_json::Value)> = cp
        .take_changes()
        .into_iter()
        .filter_map(|c| Some((c.kind.to_owned(), c.document?)))
        .collect();
    let mut restored = plane();
    restored.restore(documents, at(10)).unwrap();
    let effects = restored.reconcile(at(10));
    assert_eq!(
        launches(&effects).len(),
        1,
        "the running builder c relaunches"
    );
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::SnapshotImageBuilder { builder, .. } if builder == "b")));
}

#[test]
fn deleting_stops_the_builder_and_forgets_it_and_its_base_image_stays_until_then() {
    let (mut cp, instance) = running_builder();
    let err = cp.delete_image("porthole-default").unwrap_err();
    assert_eq!(err.kind, ErrorKind::ResourceInUse);
    let answer = cp.delete_image_builder("b", at(2)).unwrap();
    assert_eq!(answer.state, ImageBuilderState::Deleting);
    assert_eq!(
        terminated(&cp.take_effects()),
        std::slice::from_ref(&instance)
    );
    cp.instance_exited(&instance, at(3)).unwrap();
    assert!(cp.image_builder("b").is_err());
    assert_eq!(cp.builder_layers().count(), 0);
}
