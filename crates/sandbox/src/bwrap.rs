//! The bubblewrap command line for an instance (pure: paths in, arguments out).

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use crate::app_root::{self, AppRoot, APP_ROOT_ENV};
use crate::{ImageRoot, InstanceSpec, Network};

/// Inside the sandbox: the instance's runtime dir (agent socket), reachable from the host.
pub const RUNTIME_MOUNT: &str = "/run/porthole";
/// Inside the sandbox: the user's home (HOME), the spec's or an empty tmpfs.
pub const HOME_MOUNT: &str = "/home/user";
/// Inside the sandbox: an empty directory where [`crate::attach_folder`] mounts a folder
/// (where AppStream puts a user's persistent home folder).
pub const HOME_FOLDER_MOUNT: &str = "/home/user/MyFiles/HomeFolder";
/// Inside the sandbox: the instance's temporary files (gone with the instance), which the
/// server reaches at `<runtime dir>/`[`TEMPORARY_FILES_DIR`].
pub const TEMPORARY_FILES_MOUNT: &str = "/home/user/MyFiles/TemporaryFiles";
pub const TEMPORARY_FILES_DIR: &str = "TemporaryFiles";
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What bwrap does for [`Network::Private`] (net.rs).
pub(crate) struct PrivateNetwork {
    /// bwrap reports its child's pid here.
    pub info_fd: RawFd,
    /// bwrap holds the command until slirp4netns has configured the network.
    pub block_fd: RawFd,
    /// Naming slirp4netns's resolver, bound over `resolv_conf_target`.
    pub resolv_conf: PathBuf,
    pub resolv_conf_target: PathBuf,
}

/// `hide` holds the paths to cover with an empty tmpfs; they must exist on the host.
/// `private` is given for, and only for, [`Network::Private`].
pub(crate) fn args(
    spec: &InstanceSpec,
    hide: &[&Path],
    private: Option<&PrivateNetwork>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| {
        args.extend(items.iter().map(|item| item.as_ref().to_os_string()));
    };
    push(&[&"--unshare-all"]);
    if let Network::Host = spec.network {
        push(&[&"--share-net"]);
    }
    let (uid, gid) = (spec.uid.to_string(), spec.gid.to_string());
    push(&[
        &"--die-with-parent",
        &"--new-session",
        // The same ids inside as outside: what the host sees is what the app sees.
        &"--uid",
        &uid,
        &"--gid",
        &gid,
        &"--hostname",
        &"porthole",
    ]);
    // The instance (X server, agent) runs on the host's root whatever the image.
    push(&[&"--ro-bind", &"/", &"/"]);
    push(&[
        &"--dev",
        &"/dev",
        &"--proc",
        &"/proc",
        // Private /tmp: X sockets and lock files live there. The X socket
        // directory is made here because Xorg, not being root, won't create it.
        &"--tmpfs",
        &"/tmp",
        &"--perms",
        &"1777",
        &"--dir",
        &"/tmp/.X11-unix",
        &"--tmpfs",
        &"/run",
        &"--tmpfs",
        &"/root",
        // Other users' homes, before the instance's own home is mounted into it.
        &"--tmpfs",
        &"/home",
    ]);
    for path in hide {
        push(&[&"--tmpfs", path]);
    }
    push(&[&"--bind", &spec.runtime_dir, &RUNTIME_MOUNT]);
    if let Some(private) = private {
        // The host's may name a resolver on its loopback, which the sandbox cannot reach.
        // Not where the app root overlays the host's /etc: the kernel refuses an overlay
        // whose lower dir holds a mount it cannot see through (EINVAL); enter-root binds
        // the file over the app root's instead.
        if !overlays_host_etc(&spec.root) {
            push(&[
                &"--ro-bind",
                &private.resolv_conf,
                &private.resolv_conf_target,
            ]);
        }
        let (info, block) = (private.info_fd.to_string(), private.block_fd.to_string());
        push(&[&"--info-fd", &info, &"--block-fd", &block]);
    }
    for (host, inside) in &spec.read_only {
        push(&[&"--ro-bind", host, inside]);
    }
    match &spec.home_dir {
        Some(home) => push(&[&"--bind", home, &HOME_MOUNT]),
        None => push(&[&"--dir", &HOME_MOUNT]),
    }
    let temporary_files = spec.runtime_dir.join(TEMPORARY_FILES_DIR);
    push(&[&"--bind", &temporary_files, &TEMPORARY_FILES_MOUNT]);
    // Read-only until a folder is mounted on it: nothing saved there before can vanish
    // under the folder.
    push(&[&"--perms", &"0555", &"--dir", &HOME_FOLDER_MOUNT]);
    let mut env = environment(spec);
    if let ImageRoot::Layers {
        on_host,
        layers,
        builder_layer,
    } = &spec.root
    {
        args.extend(app_root::mount_point_args(
            layers.len(),
            builder_layer.is_some(),
            *on_host,
        ));
        let app_root = AppRoot {
            on_host: *on_host,
            layers: layers.len(),
            builder: builder_layer.is_some(),
            hide: hide.iter().map(|p| p.to_path_buf()).collect(),
            resolv_conf: private.is_some(),
        };
        env.push((APP_ROOT_ENV.to_owned(), app_root.encode()));
    }
    let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| {
        args.extend(items.iter().map(|item| item.as_ref().to_os_string()));
    };
    push(&[&"--clearenv"]);
    for (key, value) in env {
        push(&[&"--setenv", &key, &value]);
    }
    push(&[&"--chdir", &HOME_MOUNT, &"--"]);
    args.extend(spec.command.iter().map(OsString::from));
    args
}

fn overlays_host_etc(root: &ImageRoot) -> bool {
    matches!(root, ImageRoot::Layers { on_host: true, .. })
}

/// HOME, USER, PATH and LANG, then the spec's variables (which override them).
pub(crate) fn environment(spec: &InstanceSpec) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("HOME", HOME_MOUNT),
        ("USER", "user"),
        ("PATH", PATH),
        ("LANG", "C.UTF-8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (key, value) in &spec.env {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), value.clone()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn spec() -> InstanceSpec {
        InstanceSpec {
            id: "i-1".into(),
            uid: 200_001,
            gid: 200_001,
            root: ImageRoot::Host,
            runtime_dir: "/srv/run/i-1".into(),
            home_dir: Some("/srv/home/i-1".into()),
            hide: vec![],
            read_only: vec![],
            limits: Limits {
                cpu_millis: 1000,
                memory_bytes: 1 << 30,
                pids: 100,
            },
            network: Network::None,
            env: vec![
                ("LANG".into(), "de_DE.UTF-8".into()),
                ("A".into(), "1".into()),
            ],
            command: vec!["porthole".into(), "agent".into()],
            log_file: None,
        }
    }

    fn joined(args: &[OsString]) -> String {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn full_command_line() {
        let args = joined(&args(&spec(), &[Path::new("/var/lib/porthole")], None));
        assert_eq!(
            args,
            "--unshare-all --die-with-parent --new-session --uid 200001 --gid 200001 \
             --hostname porthole --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp \
             --perms 1777 --dir /tmp/.X11-unix --tmpfs /run --tmpfs /root --tmpfs /home --tmpfs /var/lib/porthole \
             --bind /srv/run/i-1 /run/porthole --bind /srv/home/i-1 /home/user \
             --bind /srv/run/i-1/TemporaryFiles /home/user/MyFiles/TemporaryFiles \
             --perms 0555 --dir /home/user/MyFiles/HomeFolder --clearenv \
             --setenv HOME /home/user --setenv USER user \
             --setenv PATH /usr/local/bin:/usr/bin:/bin --setenv LANG de_DE.UTF-8 \
             --setenv A 1 --chdir /home/user -- porthole agent"
        );
    }

    #[test]
    fn host_network_shares_the_net_namespace_only() {
        let mut spec = spec();
        spec.network = Network::Host;
        let args = joined(&args(&spec, &[], None));
        assert!(args.starts_with("--unshare-all --share-net --die-with-parent"));
    }

    #[test]
    fn a_private_network_has_its_own_namespace_resolver_and_is_held_for_slirp() {
        let mut spec = spec();
        spec.network = Network::Private;
        let private = PrivateNetwork {
            info_fd: 5,
            block_fd: 6,
            resolv_conf: "/srv/run/i-1/resolv.conf".into(),
            resolv_conf_target: "/etc/resolv.conf".into(),
        };
        let args = joined(&args(&spec, &[], Some(&private)));
        assert!(
            args.starts_with("--unshare-all --die-with-parent"),
            "{args}"
        );
        assert!(
            args.contains(
                "--bind /srv/run/i-1 /run/porthole --ro-bind /srv/run/i-1/resolv.conf \
                 /etc/resolv.conf --info-fd 5 --block-fd 6 "
            ),
            "{args}"
        );

        // Over the host's /etc, only the app root gets it.
        spec.root = ImageRoot::Layers {
            on_host: true,
            layers: vec![],
            builder_layer: None,
        };
        let over_host = joined(&super::args(&spec, &[], Some(&private)));
        assert!(
            !over_host.contains("--ro-bind /srv/run/i-1/resolv.conf"),
            "{over_host}"
        );
        assert!(
            over_host.contains("--bind /srv/run/i-1 /run/porthole --info-fd 5 --block-fd 6 "),
            "{over_host}"
        );
        assert!(
            over_host.contains("resolv_conf=1"),
            "the app root binds it: {over_host}"
        );
    }

    #[test]
    fn without_home_the_home_is_an_empty_directory_on_the_private_home_tmpfs() {
        let mut spec = spec();
        spec.home_dir = None;
        let args = joined(&args(&spec, &[], None));
        assert!(args.contains("--tmpfs /home --bind /srv/run/i-1 /run/porthole --dir /home/user "));
        assert!(args.contains("--setenv HOME /home/user"));
        assert!(args.contains("--chdir /home/user --"));
    }
}
