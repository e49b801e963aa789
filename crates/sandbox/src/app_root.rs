//! The root filesystem an image's applications run on, when the image is not the host's.
//!
//! The instance itself (X server, agent) always runs on the host's root: they need the
//! host's Xorg and the agent binary. Its applications run one level further in: the agent
//! starts each through `porthole enter-root`, which takes a user and mount namespace of its
//! own, stacks the image's layers with overlayfs under a writable layer (in memory, or an
//! image builder's directory on disk), binds the instance's /dev, /proc, /sys, /tmp (the X
//! socket) and /home into it, pivots into it and runs the app. No file is copied.
//!
//! Over the host (`on_host`), each of the host's system trees (/usr, /etc, /var, /opt) is
//! its own overlay: overlayfs refuses the sandbox's `/` as a lower layer, and these are
//! where packages install to. Over nothing, the layers are the whole root.

use std::convert::Infallible;
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use crate::bwrap::RUNTIME_MOUNT;

/// Inside the sandbox: where layer `i` is bound read-only (`layer-0` lowest).
pub(crate) const LAYERS_MOUNT: &str = "/run/porthole-image";
/// Inside the sandbox: an image builder's writable layer, bound read-write.
pub const BUILDER_LAYER_MOUNT: &str = "/run/porthole-image/builder";
/// Inside the sandbox: where the app's root is assembled before pivoting into it.
pub(crate) const NEW_ROOT: &str = "/run/porthole-image/root";
/// Inside the sandbox: the in-memory writable layer of a non-builder instance.
pub(crate) const SCRATCH: &str = "/run/porthole-image/scratch";
/// The environment variable carrying the [`AppRoot`] from the sandbox to `enter-root`.
pub const APP_ROOT_ENV: &str = "PORTHOLE_APP_ROOT";
/// The host's trees an image builder on the host can change.
pub(crate) const HOST_TREES: &[&str] = &["usr", "etc", "var", "opt"];
/// Inside an image builder's sandbox: the host's trees, id-mapped so that their root-owned
/// files are the builder's root's (see [`crate::attach_image`]).
pub(crate) const HOST_TREES_MOUNT: &str = "/run/porthole-image/host";
/// Inside an image builder's sandbox over the host: the mask hiding what others may not
/// read of the host's trees (host_mask.rs), one directory per tree, just above it.
pub(crate) const HOST_MASK_MOUNT: &str = "/run/porthole-image/host-mask";
/// The instance's own mounts every app root shares (the X socket is in /tmp).
const SHARED_MOUNTS: &[&str] = &["dev", "proc", "sys", "tmp", "home"];
/// In an image builder's app root: this executable as the image assistant's commands,
/// on the PATH of its apps.
pub const BUILDER_TOOLS: &str = "/run/porthole-bin";
const ROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const TOOL_NAMES: &[&str] = &["image-assistant", "AppStreamImageAssistant"];
/// The image assistant in an image builder's app root (one of [`TOOL_NAMES`]).
pub const IMAGE_ASSISTANT: &str = "/run/porthole-bin/image-assistant";
/// In an image builder's app root: apt's configuration (APT_CONFIG; apt still reads
/// /etc/apt's too).
const APT_CONFIG: &str = "/run/porthole-bin/apt.conf";
/// apt fetches as the user _apt, which a builder's root cannot become: its namespace maps
/// no uid but its own.
const APT_CONFIG_TEXT: &str = "APT::Sandbox::User \"root\";\n";
/// Where the writable layer keeps the root's changes and overlayfs's work dirs: a
/// builder's `root` is what "create image" turns into a layer.
const CHANGES_DIR: &str = "root";
const WORK_DIR: &str = "work";
/// Relative to the app root.
const RESOLV_CONF_IN_ROOT: &str = "etc/resolv.conf";

/// How the app root is assembled, as the sandbox passes it in [`APP_ROOT_ENV`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoot {
    /// Over the host's system trees, or over nothing.
    pub on_host: bool,
    /// How many layers are bound at [`LAYERS_MOUNT`].
    pub layers: usize,
    /// An image builder's: changes persist at [`BUILDER_LAYER_MOUNT`] and apps run as
    /// root of their user namespace (apt-get, dpkg), which is still the instance's uid
    /// outside.
    pub builder: bool,
    /// Paths covered with an empty tmpfs in the app root too (the server's data dir,
    /// should it lie in a host tree: overlayfs shows a tree without the sandbox's
    /// covering mounts).
    pub hide: Vec<PathBuf>,
    /// [`crate::Network::Private`]: the instance's resolv.conf (in its runtime dir) is
    /// bound over the app root's, which otherwise shows the file on disk.
    pub resolv_conf: bool,
}

impl AppRoot {
    /// One `key=value` per line.
    pub fn encode(&self) -> String {
        let mut text = format!(
            "on_host={}\nlayers={}\nbuilder={}\nresolv_conf={}\n",
            u8::from(self.on_host),
            self.layers,
            u8::from(self.builder),
            u8::from(self.resolv_conf)
        );
        for path in &self.hide {
            text.push_str(&format!("hide={}\n", path.display()));
        }
        text
    }

    pub fn decode(text: &str) -> Result<Self> {
        let mut root = Self {
            on_host: false,
            layers: 0,
            builder: false,
            hide: Vec::new(),
            resolv_conf: false,
        };
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (key, value) = line
                .split_once('=')
                .with_context(|| format!("app root line {line:?} has no '='"))?;
            let flag = || match value {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => bail!("app root {key}={value:?} is not 0 or 1"),
            };
            match key {
                "on_host" => root.on_host = flag()?,
                "builder" => root.builder = flag()?,
                "resolv_conf" => root.resolv_conf = flag()?,
                "layers" => root.layers = value.parse().context("app root layers")?,
                "hide" => root.hide.push(PathBuf::from(value)),
                _ => bail!("unknown app root key {key:?}"),
            }
        }
        Ok(root)
    }

    pub fn layer_mount(i: usize) -> PathBuf {
        Path::new(LAYERS_MOUNT).join(format!("layer-{i}"))
    }

    /// The overlay mounts making the app root: (mount point, lower dirs top first,
    /// writable dir, work dir). `exists` says whether a path exists inside the sandbox.
    fn overlays(&self, changes: &Path, exists: impl Fn(&Path) -> bool) -> Vec<Overlay> {
        let layers_top_first: Vec<PathBuf> =
            (0..self.layers).rev().map(Self::layer_mount).collect();
        if !self.on_host {
            return vec![Overlay {
                target: PathBuf::from(NEW_ROOT),
                lower: layers_top_first,
                upper: changes.join(CHANGES_DIR),
                work: changes.join(WORK_DIR),
            }];
        }
        HOST_TREES
            .iter()
            .filter(|tree| exists(&Path::new("/").join(tree)))
            .map(|tree| {
                let mut lower: Vec<PathBuf> = layers_top_first
                    .iter()
                    .map(|layer| layer.join(tree))
                    .filter(|dir| exists(dir))
                    .collect();
                if self.builder {
                    let mask = Path::new(HOST_MASK_MOUNT).join(tree);
                    if exists(&mask) {
                        lower.push(mask);
                    }
                    lower.push(Path::new(HOST_TREES_MOUNT).join(tree));
                } else {
                    lower.push(Path::new("/").join(tree));
                }
                Overlay {
                    target: Path::new(NEW_ROOT).join(tree),
                    lower,
                    upper: changes.join(CHANGES_DIR).join(tree),
                    work: changes.join(WORK_DIR).join(tree),
                }
            })
            .collect()
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Overlay {
    target: PathBuf,
    lower: Vec<PathBuf>,
    upper: PathBuf,
    work: PathBuf,
}

impl Overlay {
    /// userxattr: the only kind of overlay a user namespace may mount.
    fn options(&self) -> String {
        let lower: Vec<String> = self.lower.iter().map(|p| p.display().to_string()).collect();
        format!(
            "userxattr,lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            self.upper.display(),
            self.work.display()
        )
    }
}

/// Terminal emulators that cannot run as an image builder's root (see [`app_command`]).
const TERMINALS: &[&str] = &["xterm", "uxterm"];
/// The shell a builder's terminal runs when not told which.
// Not a login shell: /etc/profile would replace the PATH that has the image assistant.
const BUILDER_SHELL: &[&str] = &["/bin/bash"];
const BUILDER_TERMINAL_TITLE: &str = "Image builder (root)";

/// The command that starts `command` on the app root described by `spec` (the sandbox's
/// [`APP_ROOT_ENV`]). In an image builder a terminal emulator is the exception: xterm as
/// root of a namespace that may not set groups exits at once (its initgroups fails), so
/// it stays on the instance's root as the instance's user and only the program it runs
/// (`-e`, else a login shell) enters the image, as root there.
pub fn app_command(
    exe: &Path,
    command: &[String],
    working_directory: Option<&str>,
    spec: &str,
) -> Vec<String> {
    let builder = AppRoot::decode(spec).is_ok_and(|root| root.builder);
    let terminal = command.first().is_some_and(|program| {
        let name = Path::new(program).file_name().unwrap_or_default();
        TERMINALS.iter().any(|t| name == *t)
    });
    if !(builder && terminal) {
        return wrap_command(exe, command, working_directory);
    }
    let split = command.iter().position(|arg| arg == "-e");
    let (own, inner) = match split {
        Some(i) => (&command[..i], command[i + 1..].to_vec()),
        None => (command, Vec::new()),
    };
    let inner = if inner.is_empty() {
        BUILDER_SHELL.iter().map(|s| (*s).to_owned()).collect()
    } else {
        inner
    };
    let mut wrapped = own.to_vec();
    if !own.iter().any(|arg| arg == "-T" || arg == "-title") {
        // Else xterm names the window after its -e program: this executable.
        wrapped.extend(["-T".to_owned(), BUILDER_TERMINAL_TITLE.to_owned()]);
    }
    wrapped.push("-e".to_owned());
    wrapped.extend(wrap_command(exe, &inner, working_directory));
    wrapped
}

/// The command that runs `command` on the app root: this executable's `enter-root`. The
/// working directory travels as `--cwd`: it names a directory of the image, which only
/// exists once enter-root has pivoted into it.
fn wrap_command(exe: &Path, command: &[String], working_directory: Option<&str>) -> Vec<String> {
    let mut wrapped = vec![exe.display().to_string(), "enter-root".to_owned()];
    if let Some(dir) = working_directory {
        wrapped.extend(["--cwd".to_owned(), dir.to_owned()]);
    }
    wrapped.push("--".to_owned());
    wrapped.extend(command.iter().cloned());
    wrapped
}

/// Where an app starts: `requested` (relative to HOME), else HOME, else `/`. A requested
/// directory that is missing does not fail the launch (AppStream says nothing either way,
/// and an app in HOME beats no app): it is logged and HOME is used.
pub fn working_directory(requested: Option<&Path>) -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    working_directory_in(requested, home.as_deref())
}

fn working_directory_in(requested: Option<&Path>, home: Option<&Path>) -> PathBuf {
    let home = home.filter(|home| home.is_dir()).unwrap_or(Path::new("/"));
    match requested {
        Some(dir) if home.join(dir).is_dir() => home.join(dir),
        Some(dir) => {
            tracing::warn!(
                "the app's working directory {} is not a directory; starting it in {}",
                dir.display(),
                home.display()
            );
            home.to_owned()
        }
        None => home.to_owned(),
    }
}

/// `porthole enter-root`: assembles the app root described by [`APP_ROOT_ENV`], moves
/// into it and runs `command` there (never returns on success). Must be called while the
/// process has a single thread (a user namespace can only be entered then).
pub fn enter(command: &[String], requested_directory: Option<&Path>) -> Result<Infallible> {
    let spec = std::env::var(APP_ROOT_ENV).with_context(|| format!("{APP_ROOT_ENV} is not set"))?;
    let root = AppRoot::decode(&spec)?;
    let (program, args) = command.split_first().context("no command to run")?;
    let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
    // SAFETY: the process is single-threaded here (enter-root runs before anything starts
    // a thread), and FILES is not unshared.
    unsafe {
        rustix::thread::unshare_unsafe(
            rustix::thread::UnshareFlags::NEWUSER | rustix::thread::UnshareFlags::NEWNS,
        )
    }
    .context("entering a user and mount namespace for the app")?;
    let inside = |id: u32| if root.builder { 0 } else { id };
    fs::write("/proc/self/setgroups", "deny").context("denying setgroups")?;
    fs::write(
        "/proc/self/uid_map",
        format!("{} {} 1", inside(uid.as_raw()), uid.as_raw()),
    )
    .context("writing the uid map")?;
    fs::write(
        "/proc/self/gid_map",
        format!("{} {} 1", inside(gid.as_raw()), gid.as_raw()),
    )
    .context("writing the gid map")?;
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .context("making the app's mounts private")?;
    assemble(&root).context("assembling the image's root")?;
    pivot_into(Path::new(NEW_ROOT))?;
    let cwd = working_directory(requested_directory);
    let mut command = std::process::Command::new(program);
    if root.builder {
        // Root's PATH: dpkg refuses to run without ldconfig and start-stop-daemon on it.
        command
            .env("PATH", format!("{ROOT_PATH}:{BUILDER_TOOLS}"))
            .env("APT_CONFIG", APT_CONFIG);
    }
    let err = command
        .args(args)
        .env_remove(APP_ROOT_ENV)
        .current_dir(cwd)
        .exec();
    Err(err).with_context(|| format!("starting {program} in the image"))
}

fn assemble(root: &AppRoot) -> Result<()> {
    let changes = if root.builder {
        PathBuf::from(BUILDER_LAYER_MOUNT)
    } else {
        tmpfs(Path::new(SCRATCH))?;
        PathBuf::from(SCRATCH)
    };
    if root.on_host {
        tmpfs(Path::new(NEW_ROOT))?;
        mirror_top_level(Path::new(NEW_ROOT))?;
    }
    for overlay in root.overlays(&changes, Path::exists) {
        for dir in [&overlay.upper, &overlay.work, &overlay.target] {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        rustix::mount::mount(
            "overlay",
            &overlay.target,
            "overlay",
            MountFlags::empty(),
            Some(std::ffi::CString::new(overlay.options())?.as_c_str()),
        )
        .with_context(|| format!("mounting the overlay {}", overlay.options()))?;
    }
    let new_root = Path::new(NEW_ROOT);
    if root.resolv_conf {
        bind_resolv_conf(new_root).context("binding the sandbox's resolv.conf into the image")?;
    }
    for hidden in &root.hide {
        let inside = new_root.join(hidden.strip_prefix("/").unwrap_or(hidden));
        if inside.is_dir() {
            tmpfs(&inside)?;
        }
    }
    for shared in SHARED_MOUNTS {
        let target = new_root.join(shared);
        fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
        rustix::mount::mount_bind_recursive(Path::new("/").join(shared), &target)
            .with_context(|| format!("binding /{shared} into the image"))?;
    }
    runtime_into(new_root, root.builder)
}

/// The instance's /run in the app root: a tmpfs (as on any system) with the instance's
/// runtime directory and, in a builder, the image assistant. Nothing is written into the
/// image's layers for it.
fn runtime_into(new_root: &Path, builder: bool) -> Result<()> {
    let run = new_root.join("run");
    if !run.is_dir() {
        return Ok(());
    }
    tmpfs(&run)?;
    let runtime = run.join(RUNTIME_MOUNT.trim_start_matches("/run/"));
    fs::create_dir(&runtime)?;
    rustix::mount::mount_bind(RUNTIME_MOUNT, &runtime)
        .context("binding the instance's runtime directory into the image")?;
    if builder {
        let tools = new_root.join(BUILDER_TOOLS.trim_start_matches('/'));
        fs::create_dir_all(&tools)?;
        let exe = tools.join("porthole");
        fs::File::create(&exe)?;
        // Not by current_exe() (see crate::AGENT_EXE).
        rustix::mount::mount_bind(crate::AGENT_EXE, &exe)
            .context("binding the image assistant into the image")?;
        for name in TOOL_NAMES {
            std::os::unix::fs::symlink("porthole", tools.join(name))?;
        }
        let apt_config = new_root.join(APT_CONFIG.trim_start_matches('/'));
        fs::write(&apt_config, APT_CONFIG_TEXT)
            .with_context(|| format!("writing {}", apt_config.display()))?;
    }
    Ok(())
}

/// Binds the instance's resolv.conf over the app root's, by descriptor and only onto a
/// regular file: a symlink could lead anywhere from the app root (which is not `/` yet),
/// and creating a missing file would write it into the writable layer (a builder's image).
/// A bind over a file leaves the layer untouched. Without a file there, the image keeps
/// its own resolver configuration (none). The source lies in the runtime dir, which the
/// instance's uid may change: that only changes what its own apps are told.
fn bind_resolv_conf(new_root: &Path) -> Result<()> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
    let root = rustix::fs::open(
        new_root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {}", new_root.display()))?;
    let target = match rustix::fs::openat2(
        &root,
        RESOLV_CONF_IN_ROOT,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::LOOP) => return Ok(()),
        Err(e) => return Err(e).context("opening the image's etc/resolv.conf"),
    };
    if rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(&target)?.st_mode)
        != rustix::fs::FileType::RegularFile
    {
        return Ok(());
    }
    let source = Path::new(crate::RUNTIME_MOUNT).join(crate::net::RESOLV_CONF);
    let tree = open_tree(
        rustix::fs::CWD,
        &source,
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_SYMLINK_NOFOLLOW,
    )
    .with_context(|| format!("cloning {}", source.display()))?;
    move_mount(
        &tree,
        "",
        &target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .context("mounting it on the image's etc/resolv.conf")
}

/// The host's top-level symlinks (merged /usr: bin -> usr/bin) and mount points.
fn mirror_top_level(new_root: &Path) -> Result<()> {
    for entry in fs::read_dir("/").context("reading /")? {
        let entry = entry?;
        let target = new_root.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &target)?;
        } else if kind.is_dir() {
            fs::create_dir(&target)?;
        }
    }
    Ok(())
}

fn tmpfs(target: &Path) -> Result<()> {
    fs::create_dir_all(target).with_context(|| format!("creating {}", target.display()))?;
    rustix::mount::mount(
        "tmpfs",
        target,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        Some(c"mode=0755"),
    )
    .with_context(|| format!("mounting a tmpfs on {}", target.display()))
}

/// pivot_root(".", ".") then detaching the old root: nothing of the instance's own root
/// stays reachable from the app.
fn pivot_into(new_root: &Path) -> Result<()> {
    std::env::set_current_dir(new_root)?;
    rustix::process::pivot_root(".", ".").context("pivoting into the image's root")?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).context("detaching the instance's root")?;
    std::env::set_current_dir("/")?;
    Ok(())
}

/// bwrap arguments making the empty directories the server attaches the layers (and a
/// builder's writable layer) to once the sandbox runs ([`crate::attach_image`]): bwrap
/// itself binds as the instance's uid, which cannot reach the image store.
pub(crate) fn mount_point_args(layers: usize, builder: bool, on_host: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    for i in 0..layers {
        args.extend(["--dir".into(), AppRoot::layer_mount(i).into()]);
    }
    if builder {
        args.extend(["--dir".into(), BUILDER_LAYER_MOUNT.into()]);
        if on_host {
            args.extend(["--dir".into(), HOST_MASK_MOUNT.into()]);
            for tree in HOST_TREES {
                let inside = Path::new(HOST_TREES_MOUNT).join(tree);
                args.extend(["--dir".into(), inside.into()]);
            }
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(on_host: bool) -> AppRoot {
        AppRoot {
            on_host,
            layers: 2,
            builder: false,
            hide: vec!["/var/lib/porthole".into()],
            resolv_conf: false,
        }
    }

    #[test]
    fn the_app_root_survives_its_environment_variable() {
        let mut spec = root(true);
        spec.builder = true;
        assert_eq!(AppRoot::decode(&spec.encode()).unwrap(), spec);
        spec.resolv_conf = true;
        assert!(spec.encode().contains("resolv_conf=1\n"));
        assert_eq!(AppRoot::decode(&spec.encode()).unwrap(), spec);
        assert!(AppRoot::decode("layers=x").is_err());
        assert!(AppRoot::decode("builder=2").is_err());
        assert!(AppRoot::decode("other=1").is_err());
    }

    #[test]
    fn over_nothing_the_layers_are_the_whole_root_top_first() {
        let overlays = root(false).overlays(Path::new("/c"), |_| true);
        assert_eq!(overlays.len(), 1);
        assert_eq!(
            overlays[0].options(),
            "userxattr,lowerdir=/run/porthole-image/layer-1:/run/porthole-image/layer-0,\
             upperdir=/c/root,workdir=/c/work"
        );
        assert_eq!(overlays[0].target, Path::new(NEW_ROOT));
    }

    #[test]
    fn over_the_host_each_system_tree_stacks_the_layers_that_have_it() {
        let has =
            |p: &Path| p != Path::new("/opt") && p != Path::new("/run/porthole-image/layer-1/etc");
        let overlays = root(true).overlays(Path::new("/c"), has);
        let targets: Vec<_> = overlays
            .iter()
            .map(|o| o.target.display().to_string())
            .collect();
        assert_eq!(
            targets,
            [
                "/run/porthole-image/root/usr",
                "/run/porthole-image/root/etc",
                "/run/porthole-image/root/var"
            ]
        );
        assert_eq!(
            overlays[1].options(),
            "userxattr,lowerdir=/run/porthole-image/layer-0/etc:/etc,upperdir=/c/root/etc,workdir=/c/work/etc"
        );
        assert!(overlays[0].options().starts_with(
            "userxattr,lowerdir=/run/porthole-image/layer-1/usr:/run/porthole-image/layer-0/usr:/usr,"
        ));
    }

    #[test]
    fn a_builder_over_the_host_stacks_the_mask_just_above_each_host_tree() {
        let builder = AppRoot {
            builder: true,
            ..root(true)
        };
        let no_opt_mask = |p: &Path| p != Path::new("/run/porthole-image/host-mask/opt");
        let overlays = builder.overlays(Path::new("/c"), no_opt_mask);
        let lower = |target: &str| {
            let overlay = overlays
                .iter()
                .find(|o| o.target == Path::new(NEW_ROOT).join(target))
                .unwrap();
            overlay
                .lower
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            lower("etc"),
            [
                "/run/porthole-image/layer-1/etc",
                "/run/porthole-image/layer-0/etc",
                "/run/porthole-image/host-mask/etc",
                "/run/porthole-image/host/etc"
            ]
        );
        assert_eq!(lower("opt").last().unwrap(), "/run/porthole-image/host/opt");
        assert_eq!(lower("opt").len(), 3);
    }

    #[test]
    fn each_layer_gets_a_mount_point() {
        let args: Vec<String> = mount_point_args(2, true, false)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args.join(" "),
            "--dir /run/porthole-image/layer-0 --dir /run/porthole-image/layer-1 \
             --dir /run/porthole-image/builder"
        );
    }

    #[test]
    fn an_app_starts_in_its_directory_or_else_home() {
        let home = tempfile::tempdir().unwrap();
        let work = home.path().join("work");
        fs::create_dir(&work).unwrap();
        let at = |dir: &str| working_directory_in(Some(Path::new(dir)), Some(home.path()));
        assert_eq!(at(&work.display().to_string()), work);
        assert_eq!(at("work"), work);
        assert_eq!(at("/no/such/dir"), home.path());
        assert_eq!(working_directory_in(None, Some(home.path())), home.path());
        assert_eq!(
            working_directory_in(Some(Path::new("/no/such/dir")), Some(Path::new("/no/home"))),
            Path::new("/")
        );
    }

    #[test]
    fn a_builders_terminal_stays_on_the_instance_root_and_its_shell_enters_the_image() {
        let exe = Path::new("/run/porthole-agent");
        let builder = AppRoot {
            builder: true,
            ..root(true)
        }
        .encode();
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            app_command(
                exe,
                &strings(&["/usr/bin/xterm", "-T", "t"]),
                None,
                &builder
            ),
            [
                "/usr/bin/xterm",
                "-T",
                "t",
                "-e",
                "/run/porthole-agent",
                "enter-root",
                "--",
                "/bin/bash"
            ]
        );
        assert_eq!(
            app_command(
                exe,
                &strings(&["xterm", "-e", "top", "-d1"]),
                None,
                &builder
            ),
            [
                "xterm",
                "-T",
                "Image builder (root)",
                "-e",
                "/run/porthole-agent",
                "enter-root",
                "--",
                "top",
                "-d1"
            ]
        );
        // Other apps in a builder, and terminals of fleets, enter the image whole.
        assert_eq!(
            app_command(exe, &strings(&["/usr/bin/gedit"]), None, &builder)[1],
            "enter-root"
        );
        assert_eq!(
            app_command(exe, &strings(&["xterm"]), None, &root(true).encode())[1],
            "enter-root"
        );
    }

    #[test]
    fn the_image_assistant_path_is_one_of_the_builder_tools() {
        let tool = Path::new(IMAGE_ASSISTANT);
        assert_eq!(tool.parent(), Some(Path::new(BUILDER_TOOLS)));
        assert!(TOOL_NAMES
            .iter()
            .any(|name| tool.file_name() == Some(name.as_ref())));
    }

    #[test]
    fn apps_start_through_enter_root() {
        assert_eq!(
            wrap_command(
                Path::new("/run/porthole-agent"),
                &["xterm".into(), "-e".into()],
                None
            ),
            ["/run/porthole-agent", "enter-root", "--", "xterm", "-e"]
        );
        assert_eq!(
            wrap_command(
                Path::new("/run/porthole-agent"),
                &["xterm".into()],
                Some("/srv/app")
            ),
            [
                "/run/porthole-agent",
                "enter-root",
                "--cwd",
                "/srv/app",
                "--",
                "xterm"
            ]
        );
    }
}
