//! Folders attached to running sandboxes (id-mapped, mounted inside their own mount
//! namespace): needs root, bwrap and a filesystem with id-mapped mounts (ext4, xfs, btrfs,
//! tmpfs).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{read_line, sh, Case};
use porthole_sandbox::{attach_folder, detach_folder, own_for_folder, FOLDER_OWNER};

/// Reports on the `ready` FIFO at each step: started, then the owner it sees of the
/// folder's `hello` once it appears, then "detached" once the folder is gone again.
const WATCHER: &str = "F=/home/user/MyFiles/HomeFolder; \
    if touch $F/early 2>/dev/null; then echo writable > /home/user/ready; else echo started > /home/user/ready; fi; \
    while [ ! -e $F/hello ]; do sleep 0.02; done; \
    echo \"$NAME-wrote\" >> $F/log && echo \"owner=$(stat -c %u $F/hello) log=$(stat -c %u $F/log)\" > /home/user/ready; \
    while [ -e $F/hello ]; do sleep 0.02; done; \
    echo detached > /home/user/ready; exec sleep 1000";

fn watcher(name: &str) -> Case {
    let mut case = Case::new(name, sh(WATCHER));
    case.spec.env = vec![("NAME".into(), name.into())];
    case
}

/// Mounts whose source is `folder`, in the mount table of `pid` ("self": the host's).
fn mounts_of(folder: &Path, pid: &str) -> usize {
    let table = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let folder = folder.to_str().unwrap();
    table
        .lines()
        .filter(|l| l.split(' ').nth(3) == Some(folder))
        .count()
}

fn user_folder(dir: &Path) -> std::path::PathBuf {
    let folder = dir.join("folder");
    fs::create_dir_all(&folder).unwrap();
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(folder.join("hello"), "left last time\n").unwrap();
    for path in [folder.clone(), folder.join("hello")] {
        own_for_folder(&path).unwrap();
    }
    folder
}

#[tokio::test]
async fn a_folder_attached_to_running_sandboxes_is_each_ones_own_and_stays_on_disk() {
    let mut a = watcher("folder-a");
    let mut b = watcher("folder-b");
    let (ready_a, ready_b) = (a.fifo("ready"), b.fifo("ready"));
    let folder = user_folder(&a.dir);
    let mut instance_a = a.launch();
    let mut instance_b = b.launch();
    // Before anything is attached the folder's place is an empty directory it cannot write.
    assert_eq!(read_line(&ready_a).await, "started");
    assert_eq!(read_line(&ready_b).await, "started");

    attach_folder(instance_a.pid(), &folder, a.spec.uid, a.spec.gid, false).unwrap();
    assert_eq!(
        read_line(&ready_a).await,
        format!("owner={0} log={0}", a.spec.uid),
        "A sees the folder's files as its own"
    );
    // The same folder in a second running instance, under another uid, at the same time.
    attach_folder(instance_b.pid(), &folder, b.spec.uid, b.spec.gid, false).unwrap();
    assert_eq!(
        read_line(&ready_b).await,
        format!("owner={0} log={0}", b.spec.uid),
        "B sees them (A's log included) as its own"
    );
    let log = folder.join("log");
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "folder-a-wrote\nfolder-b-wrote\n"
    );
    let on_disk = fs::metadata(&log).unwrap();
    assert_eq!((on_disk.uid(), on_disk.gid()), (FOLDER_OWNER, FOLDER_OWNER));
    assert_eq!(on_disk.mode() & 0o6000, 0, "no set-id bits");

    // Mounted in the sandboxes only: nothing of it on the host.
    assert_eq!(mounts_of(&folder, "self"), 0);
    // Detached from A only: A's view empties, the files stay.
    detach_folder(instance_a.pid()).unwrap();
    fs::write(folder.join("hello-again"), "").unwrap();
    fs::remove_file(folder.join("hello")).unwrap();
    assert_eq!(read_line(&ready_a).await, "detached");
    assert_eq!(read_line(&ready_b).await, "detached");

    instance_a.terminate().await;
    instance_b.terminate().await;
    assert!(log.exists(), "the folder's files survive the instances");
    assert!(!folder.join("early").exists());
}

#[tokio::test]
async fn ending_an_instance_with_its_folder_attached_deletes_nothing() {
    let mut case = watcher("folder-end");
    let ready = case.fifo("ready");
    let folder = user_folder(&case.dir);
    let mut instance = case.launch();
    assert_eq!(read_line(&ready).await, "started");
    attach_folder(instance.pid(), &folder, case.spec.uid, case.spec.gid, false).unwrap();
    read_line(&ready).await;
    instance.kill().await;
    assert_eq!(
        fs::read_to_string(folder.join("hello")).unwrap(),
        "left last time\n"
    );
    assert!(folder.join("log").exists());
}

#[tokio::test]
async fn a_folder_attached_again_read_only_refuses_writes_but_reads() {
    let mut case = Case::new(
        "folder-ro",
        sh(
            "F=/home/user/MyFiles/HomeFolder; echo started > /home/user/ready; \
            while [ ! -e $F/hello ]; do sleep 0.02; done; \
            while touch $F/probe 2>/dev/null; do sleep 0.02; done; \
            echo \"read-only $(cat $F/hello)\" > /home/user/ready; exec sleep 1000",
        ),
    );
    let ready = case.fifo("ready");
    let folder = user_folder(&case.dir);
    let mut instance = case.launch();
    assert_eq!(read_line(&ready).await, "started");
    let (uid, gid) = (case.spec.uid, case.spec.gid);
    attach_folder(instance.pid(), &folder, uid, gid, false).unwrap();
    // Writable first: the instance's probe lands on disk.
    common::wait_until(|| folder.join("probe").exists()).await;
    attach_folder(instance.pid(), &folder, uid, gid, true).unwrap();
    assert_eq!(read_line(&ready).await, "read-only left last time");
    instance.terminate().await;
}

#[tokio::test]
async fn a_sandbox_starts_while_another_has_a_folder_attached() {
    let mut holder = watcher("folder-holder");
    let ready = holder.fifo("ready");
    let folder = user_folder(&holder.dir);
    let mut instance = holder.launch();
    assert_eq!(read_line(&ready).await, "started");
    attach_folder(
        instance.pid(),
        &folder,
        holder.spec.uid,
        holder.spec.gid,
        false,
    )
    .unwrap();
    read_line(&ready).await;
    // The newcomer's read-only bind of the host's / holds nothing of the holder's folder.
    let mut newcomer = Case::new(
        "folder-newcomer",
        sh("echo ready > /home/user/ready; exec sleep 1000"),
    );
    let newcomer_ready = newcomer.fifo("ready");
    let mut other = newcomer.launch();
    assert_eq!(
        read_line(&newcomer_ready).await,
        "ready",
        "log:\n{}",
        newcomer.log()
    );
    let newcomer_pid = other.pids().last().copied().unwrap().to_string();
    assert_eq!(
        mounts_of(&folder, &newcomer_pid),
        0,
        "not in the newcomer's mounts"
    );
    let holder_pid = instance.pids().last().copied().unwrap().to_string();
    assert_eq!(mounts_of(&folder, &holder_pid), 1, "in the holder's");
    other.terminate().await;
    instance.terminate().await;
}

/// bwrap re-mounts read-only every mount below / as it starts: a folder attached to or
/// detached from another instance meanwhile must not make it fail.
#[tokio::test]
async fn sandboxes_start_while_other_folders_come_and_go() {
    let mut holder = watcher("folder-churn");
    let ready = holder.fifo("ready");
    let folder = user_folder(&holder.dir);
    let mut instance = holder.launch();
    assert_eq!(read_line(&ready).await, "started");
    let (uid, gid, pid) = (holder.spec.uid, holder.spec.gid, instance.pid());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                attach_folder(pid, &folder, uid, gid, false).unwrap();
                detach_folder(pid).unwrap();
            }
        })
    };
    for i in 0..15 {
        let mut case = Case::new(
            &format!("folder-churn-{i}"),
            sh("echo ready > /home/user/ready; exec sleep 1000"),
        );
        let case_ready = case.fifo("ready");
        let mut other = case.launch();
        let line =
            tokio::time::timeout(std::time::Duration::from_secs(10), read_line(&case_ready)).await;
        assert!(
            line.is_ok(),
            "sandbox {i} did not start; log:\n{}",
            case.log()
        );
        other.terminate().await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
    instance.terminate().await;
}
