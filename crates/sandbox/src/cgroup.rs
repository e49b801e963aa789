//! Resource limits per instance: one `porthole/<id>` group on cgroup v2, or one group per
//! controller (memory, cpu, pids) on the v1 layout.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustix::process::{kill_process, Pid, Signal};

use crate::Limits;

/// Parent group of every instance's group, in each hierarchy.
const PARENT: &str = "porthole";
/// How long removal waits for killed processes to leave a group.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// CFS period for the cpu quota: 100 ms, the kernel default.
const CPU_PERIOD_US: u64 = 100_000;

/// Where limits can be set on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupSupport {
    /// A cgroup2 mount whose `cgroup.controllers` offers cpu, memory and pids.
    V2 {
        root: PathBuf,
    },
    /// v1 hierarchies (the hybrid layout of older hosts).
    V1 {
        memory: PathBuf,
        cpu: PathBuf,
        pids: PathBuf,
    },
    None,
}

/// Detected once per process: mounts do not change under a running server.
pub fn cgroup_support() -> &'static CgroupSupport {
    static SUPPORT: OnceLock<CgroupSupport> = OnceLock::new();
    SUPPORT.get_or_init(|| {
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let support = detect(&mounts, |root| {
            fs::read_to_string(root.join("cgroup.controllers")).ok()
        });
        tracing::info!(?support, "cgroup support");
        support
    })
}

/// v2 wins when its mount has the controllers; otherwise each v1 controller's mount.
fn detect(mounts: &str, controllers_of: impl Fn(&Path) -> Option<String>) -> CgroupSupport {
    let entries: Vec<(&str, &str, &str)> = mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, point, fstype, options) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            Some((point, fstype, options))
        })
        .collect();
    for (point, fstype, _) in &entries {
        if *fstype == "cgroup2" {
            let root = PathBuf::from(point);
            let offered = controllers_of(&root).unwrap_or_default();
            let offered: Vec<&str> = offered.split_whitespace().collect();
            if ["cpu", "memory", "pids"]
                .iter()
                .all(|c| offered.contains(c))
            {
                return CgroupSupport::V2 { root };
            }
        }
    }
    let v1 = |controller: &str| {
        entries.iter().find_map(|(point, fstype, options)| {
            (*fstype == "cgroup" && options.split(',').any(|o| o == controller))
                .then(|| PathBuf::from(point))
        })
    };
    match (v1("memory"), v1("cpu"), v1("pids")) {
        (Some(memory), Some(cpu), Some(pids)) => CgroupSupport::V1 { memory, cpu, pids },
        _ => CgroupSupport::None,
    }
}

/// One group directory and the limit files to write into it, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Group {
    pub dir: PathBuf,
    /// (file, value, required): optional files (swap accounting) may be absent.
    pub settings: Vec<(&'static str, String, bool)>,
}

/// The groups of instance `id`. A zero limit means "unlimited".
pub(crate) fn plan(support: &CgroupSupport, id: &str, limits: &Limits) -> Result<Vec<Group>> {
    let unlimited_or = |value: u64, none: &str| {
        if value == 0 {
            none.to_string()
        } else {
            value.to_string()
        }
    };
    let quota = u64::from(limits.cpu_millis) * CPU_PERIOD_US / 1000;
    let memory = limits.memory_bytes;
    let pids = u64::from(limits.pids);
    Ok(match support {
        CgroupSupport::V2 { root } => vec![Group {
            dir: root.join(PARENT).join(id),
            settings: vec![
                (
                    "cpu.max",
                    format!("{} {CPU_PERIOD_US}", unlimited_or(quota, "max")),
                    true,
                ),
                ("memory.max", unlimited_or(memory, "max"), true),
                // Without this the limit only moves pages to swap instead of OOM-killing.
                ("memory.swap.max", "0".to_string(), false),
                ("pids.max", unlimited_or(pids, "max"), true),
            ],
        }],
        CgroupSupport::V1 {
            memory: memory_root,
            cpu,
            pids: pids_root,
        } => vec![
            Group {
                dir: memory_root.join(PARENT).join(id),
                settings: vec![
                    ("memory.limit_in_bytes", unlimited_or(memory, "-1"), true),
                    // Memory + swap; must come after (and be >=) the memory limit.
                    (
                        "memory.memsw.limit_in_bytes",
                        unlimited_or(memory, "-1"),
                        false,
                    ),
                ],
            },
            Group {
                dir: cpu.join(PARENT).join(id),
                settings: vec![
                    ("cpu.cfs_period_us", CPU_PERIOD_US.to_string(), true),
                    ("cpu.cfs_quota_us", unlimited_or(quota, "-1"), true),
                ],
            },
            Group {
                dir: pids_root.join(PARENT).join(id),
                settings: vec![("pids.max", unlimited_or(pids, "max"), true)],
            },
        ],
        CgroupSupport::None => {
            bail!("no usable cgroups (neither v2 with cpu+memory+pids nor v1): limits cannot be enforced")
        }
    })
}

/// Create the groups and write their limits. A stale group of the same id (a server that
/// died) is emptied and replaced. On error, whatever was created is removed again.
pub(crate) fn create(support: &CgroupSupport, groups: &[Group]) -> Result<()> {
    if let CgroupSupport::V2 { root } = support {
        enable_v2_controllers(root)?;
    }
    for (i, group) in groups.iter().enumerate() {
        let made = make_group(group);
        if made.is_err() {
            remove(groups[..=i].iter().map(|g| g.dir.as_path()));
            return made;
        }
    }
    Ok(())
}

fn make_group(group: &Group) -> Result<()> {
    if group.dir.exists() {
        tracing::warn!(dir = %group.dir.display(), "replacing a stale cgroup");
        remove([group.dir.as_path()]);
    }
    fs::create_dir_all(&group.dir)
        .with_context(|| format!("creating cgroup {}", group.dir.display()))?;
    for (file, value, required) in &group.settings {
        let path = group.dir.join(file);
        if !required && !path.exists() {
            continue;
        }
        fs::write(&path, value)
            .with_context(|| format!("writing {value:?} to {}", path.display()))?;
    }
    Ok(())
}

/// v2 only lets a group use a controller its parent enabled for its children.
fn enable_v2_controllers(root: &Path) -> Result<()> {
    let parent = root.join(PARENT);
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    for dir in [root, parent.as_path()] {
        let control = dir.join("cgroup.subtree_control");
        fs::write(&control, "+cpu +memory +pids")
            .with_context(|| format!("enabling cpu, memory, pids in {}", control.display()))?;
    }
    Ok(())
}

/// The host pids in a group.
pub(crate) fn procs(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

pub(crate) fn signal_all(dir: &Path, signal: Signal, except: Option<u32>) {
    for pid in procs(dir) {
        if Some(pid) == except {
            continue;
        }
        if let Some(pid) = Pid::from_raw(pid as i32) {
            let _ = kill_process(pid, signal);
        }
    }
}

/// SIGKILL everything left in the groups and remove them, waiting briefly for killed
/// processes to drain (a group with members cannot be removed). Best effort: logs failures.
pub(crate) fn remove<'a>(dirs: impl IntoIterator<Item = &'a Path>) {
    for dir in dirs {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        loop {
            signal_all(dir, Signal::KILL, None);
            match fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) if Instant::now() >= deadline => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot remove cgroup");
                    break;
                }
                // The kernel gives no event for "group is empty" on v1: poll briefly.
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
";

    #[test]
    fn hybrid_layout_without_v2_controllers_uses_v1() {
        assert_eq!(
            detect(HYBRID, |_| Some(String::new())),
            CgroupSupport::V1 {
                memory: "/sys/fs/cgroup/memory".into(),
                cpu: "/sys/fs/cgroup/cpu".into(),
                pids: "/sys/fs/cgroup/pids".into(),
            }
        );
    }

    #[test]
    fn combined_cpu_cpuacct_mount_is_found_by_option_not_name() {
        let mounts = HYBRID.replace(
            "/sys/fs/cgroup/cpu cgroup rw,relatime,cpu",
            "/sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct",
        );
        let CgroupSupport::V1 { cpu, .. } = detect(&mounts, |_| None) else {
            panic!("expected v1");
        };
        assert_eq!(cpu, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
    }

    #[test]
    fn v2_with_controllers_wins() {
        let mounts = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
        assert_eq!(
            detect(mounts, |_| Some(
                "cpuset cpu io memory hugetlb pids rdma\n".into()
            )),
            CgroupSupport::V2 {
                root: "/sys/fs/cgroup".into()
            }
        );
        assert_eq!(
            detect(mounts, |_| Some("cpu io pids".into())),
            CgroupSupport::None
        );
    }

    fn limits() -> Limits {
        Limits {
            cpu_millis: 1500,
            memory_bytes: 512 << 20,
            pids: 256,
        }
    }

    #[test]
    fn v2_plan_is_one_group_with_quota_over_the_period() {
        let support = CgroupSupport::V2 { root: "/cg".into() };
        let groups = plan(&support, "i-1", &limits()).unwrap();
        assert_eq!(
            groups,
            vec![Group {
                dir: "/cg/porthole/i-1".into(),
                settings: vec![
                    ("cpu.max", "150000 100000".into(), true),
                    ("memory.max", "536870912".into(), true),
                    ("memory.swap.max", "0".into(), false),
                    ("pids.max", "256".into(), true),
                ],
            }]
        );
    }

    #[test]
    fn v1_plan_has_a_group_per_controller_and_zero_means_unlimited() {
        let support = CgroupSupport::V1 {
            memory: "/m".into(),
            cpu: "/c".into(),
            pids: "/p".into(),
        };
        let unlimited = Limits {
            cpu_millis: 0,
            memory_bytes: 0,
            pids: 0,
        };
        let groups = plan(&support, "x", &unlimited).unwrap();
        let dirs: Vec<_> = groups.iter().map(|g| g.dir.clone()).collect();
        assert_eq!(
            dirs,
            ["/m/porthole/x", "/c/porthole/x", "/p/porthole/x"].map(PathBuf::from)
        );
        assert_eq!(
            groups[0].settings[0],
            ("memory.limit_in_bytes", "-1".into(), true)
        );
        assert_eq!(
            groups[1].settings[1],
            ("cpu.cfs_quota_us", "-1".into(), true)
        );
        assert_eq!(groups[2].settings[0], ("pids.max", "max".into(), true));

        let limited = plan(&support, "x", &limits()).unwrap();
        assert_eq!(
            limited[1].settings[1],
            ("cpu.cfs_quota_us", "150000".into(), true)
        );
    }

    #[test]
    fn no_cgroups_is_an_error_not_silently_unlimited() {
        assert!(plan(&CgroupSupport::None, "x", &limits()).is_err());
    }
}
