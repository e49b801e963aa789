//! Real bubblewrap sandboxes on the real kernel: needs root, bwrap, python3, Xorg + xterm.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Instant;

use common::{exited, field, ids, limit_file, python, read_line, sh, Case};
use porthole_sandbox::{Leftover, Network, UidPool, STOP_GRACE};
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn every_process_runs_as_the_unprivileged_uid_inside_and_out() {
    let mut case = Case::new(
        "uid",
        sh("echo \"$(id -u) $(id -g) $(id -G)\" > /home/user/id; \
            echo ready > /home/user/ready; exec sleep 1000"),
    );
    let ready = case.fifo("ready");
    let (uid, gid) = (case.spec.uid, case.spec.gid);
    let mut instance = case.launch();
    read_line(&ready).await;

    let pids = instance.pids();
    // outer bwrap, bwrap as pid 1 inside, the command
    assert!(pids.len() >= 3, "{pids:?}");
    for pid in pids {
        assert_eq!(ids(pid, "Uid:"), [uid; 4], "pid {pid}");
        assert_eq!(ids(pid, "Gid:"), [gid; 4], "pid {pid}");
        assert_eq!(ids(pid, "Groups:"), Vec::<u32>::new(), "pid {pid}");
    }
    let inside = fs::read_to_string(case.home().join("id")).unwrap();
    assert_eq!(inside.trim(), format!("{uid} {gid} {gid}"));
    instance.terminate().await;
}

/// A runs an "agent" socket in its runtime dir and an abstract socket (like X's); B looks.
#[tokio::test]
async fn instances_cannot_see_or_reach_each_other() {
    let mut a = Case::new(
        "iso-a",
        sh("sleep 1000 & exec python3 -c '
import socket
s = socket.socket(socket.AF_UNIX); s.bind(\"/run/porthole/agent.sock\"); s.listen()
x = socket.socket(socket.AF_UNIX); x.bind(\"\\0porthole-test-x11\"); x.listen()
with open(\"/home/user/ready\", \"w\") as f: f.write(\"ready\\n\")
import time; time.sleep(1000)
'"),
    );
    let ready = a.fifo("ready");
    let mut instance_a = a.launch();
    read_line(&ready).await;
    let a_run = a.spec.runtime_dir.clone();
    let a_home = a.home();
    assert!(
        a_run.join("agent.sock").exists(),
        "A's socket is there on the host"
    );
    let meta = fs::metadata(&a_run).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o700, a.spec.uid));

    let mut b = Case::new(
        "iso-b",
        python(
            r#"
import os, socket, sys
a_run, a_home = sys.argv[1], sys.argv[2]
comms = sorted(open(f"/proc/{p}/comm").read().strip() for p in os.listdir("/proc") if p.isdigit())
print("procs=" + ",".join(comms))
def attempt(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return type(e).__name__
def connect(addr):
    socket.socket(socket.AF_UNIX).connect(addr)
print("list_a_run=" + attempt(lambda: os.listdir(a_run)))
print("list_a_home=" + attempt(lambda: os.listdir(a_home)))
print("own_run=" + ",".join(os.listdir("/run/porthole")))
print("connect_a_agent=" + attempt(lambda: connect(a_run + "/agent.sock")))
print("connect_own_run_agent=" + attempt(lambda: connect("/run/porthole/agent.sock")))
print("connect_a_abstract=" + attempt(lambda: connect("\0porthole-test-x11")))
"#,
            &[a_run.to_str().unwrap(), a_home.to_str().unwrap()],
        ),
    );
    assert_ne!(a.spec.uid, b.spec.uid);
    let (status, out) = b.run(|_| {}).await;
    assert!(status.success(), "{out}");
    assert_eq!(
        field(&out, "procs"),
        "bwrap,python3",
        "only B's own processes"
    );
    assert_eq!(field(&out, "list_a_run"), "PermissionError");
    assert_eq!(field(&out, "list_a_home"), "PermissionError");
    assert_eq!(field(&out, "own_run"), "TemporaryFiles");
    assert_eq!(field(&out, "connect_a_agent"), "PermissionError");
    assert_eq!(field(&out, "connect_own_run_agent"), "FileNotFoundError");
    assert_eq!(field(&out, "connect_a_abstract"), "ConnectionRefusedError");
    instance_a.terminate().await;
}

const NET_PROBE: &str = r#"
import socket, sys
ifaces = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
print("ifaces=" + ",".join(sorted(ifaces)))
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(b"hello")
    s.close()
    print("connect=ok")
except OSError as e:
    print("connect=" + type(e).__name__)
"#;

#[tokio::test]
async fn no_network_means_only_loopback_and_no_host_services() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut case = Case::new("net-none", python(NET_PROBE, &[&port]));
    let (status, out) = case.run(|_| {}).await;
    assert!(status.success(), "{out}");
    assert_eq!(field(&out, "ifaces"), "lo");
    assert_eq!(field(&out, "connect"), "ConnectionRefusedError");
}

#[tokio::test]
async fn host_network_reaches_host_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut case = Case::new("net-host", python(NET_PROBE, &[&port]));
    case.spec.network = Network::Host;
    let (status, out) = case.run(|_| {}).await;
    assert!(status.success(), "{out}");
    assert_eq!(field(&out, "connect"), "ok");
    assert!(field(&out, "ifaces").split(',').count() > 1, "{out}");
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello");
}

#[tokio::test]
async fn memory_limit_oom_kills_the_allocator() {
    let mut case = Case::new(
        "oom",
        python(
            r#"
chunks = []
for mb in range(1, 1025):
    chunks.append(b"x" * (1 << 20))  # written, so really resident
    print("mb=%d" % mb, flush=True)
print("survived", flush=True)
"#,
            &[],
        ),
    );
    case.spec.limits.memory_bytes = 64 << 20;
    let mut limit = String::new();
    let mut oom_events = String::new();
    let (status, out) = case
        .run(|instance| {
            limit = limit_file(instance, "memory.max", "memory.limit_in_bytes");
            oom_events = limit_file(instance, "memory.events", "memory.oom_control");
        })
        .await;
    assert_eq!(limit, (64u64 << 20).to_string());
    assert!(!out.contains("survived"), "{out}");
    // bwrap reports a child killed by signal N as 128 + N.
    assert_eq!(status.code(), Some(128 + 9), "{out}");
    let reached: u32 = out
        .lines()
        .filter_map(|l| l.strip_prefix("mb="))
        .next_back()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reached < 64, "allocated {reached} MB under a 64 MB limit");
    assert!(oom_events.contains("oom_kill 1"), "{oom_events}");
}

#[tokio::test]
async fn cpu_quota_and_pids_limit() {
    let mut case = Case::new(
        "pids",
        python(
            r#"
import os, signal
forked, error = 0, "none"
for _ in range(64):
    try:
        if os.fork() == 0:
            signal.pause()
        forked += 1
    except OSError as e:
        error = type(e).__name__
        break
print("forked=%d" % forked)
print("error=" + error)
"#,
            &[],
        ),
    );
    case.spec.limits.pids = 16;
    case.spec.limits.cpu_millis = 500;
    let mut pids_max = String::new();
    let mut quota = String::new();
    let (status, out) = case
        .run(|instance| {
            pids_max = limit_file(instance, "pids.max", "pids.max");
            quota = limit_file(instance, "cpu.max", "cpu.cfs_quota_us");
        })
        .await;
    assert!(status.success(), "{out}");
    assert_eq!(pids_max, "16");
    assert!(quota == "50000" || quota == "50000 100000", "{quota}");
    assert_eq!(
        field(&out, "error"),
        "BlockingIOError",
        "fork fails with EAGAIN"
    );
    let forked: u32 = field(&out, "forked").parse().unwrap();
    // Outer bwrap, bwrap as pid 1 and python count too.
    assert!((1..16).contains(&forked), "forked {forked}");
}

fn assert_cleaned_up(cgroups: &[std::path::PathBuf], runtime_dir: &std::path::Path) {
    for dir in cgroups {
        assert!(!dir.exists(), "{} still there", dir.display());
    }
    assert!(
        !runtime_dir.exists(),
        "{} still there",
        runtime_dir.display()
    );
}

#[tokio::test]
async fn terminate_is_graceful_first() {
    let mut case = Case::new(
        "term",
        sh("trap 'echo got-term > /home/user/term; exit 0' TERM; \
            echo ready > /home/user/ready; while :; do sleep 1; done"),
    );
    let ready = case.fifo("ready");
    let mut instance = case.launch();
    read_line(&ready).await;
    let began = Instant::now();
    instance.terminate().await;
    assert!(began.elapsed() < STOP_GRACE, "no SIGKILL needed");
    assert_eq!(instance.wait().await.unwrap().code(), Some(0));
    assert_eq!(
        fs::read_to_string(case.home().join("term")).unwrap(),
        "got-term\n"
    );
}

#[tokio::test]
async fn terminate_kills_what_ignores_sigterm_and_cleans_up() {
    let mut case = Case::new(
        "kill",
        // Ignored signals stay ignored across fork and exec: the sleeps ignore TERM too.
        sh("trap '' TERM; sleep 1000 & sleep 1000 & echo ready > /home/user/ready; wait"),
    );
    let ready = case.fifo("ready");
    let mut instance = case.launch();
    read_line(&ready).await;
    let pids = instance.pids();
    assert!(pids.len() >= 5, "bwrap x2, sh, sleep x2: {pids:?}");
    let cgroups = instance.cgroups().to_vec();
    instance.terminate().await;
    for pid in pids {
        exited(pid).await;
    }
    assert_cleaned_up(&cgroups, &case.spec.runtime_dir);
    instance.terminate().await; // idempotent
    assert!(case.home().exists(), "the home is kept");
}

#[tokio::test]
async fn kill_does_not_wait_for_sigterm() {
    let mut case = Case::new(
        "kill-now",
        sh("trap '' TERM; sleep 1000 & echo ready > /home/user/ready; wait"),
    );
    let ready = case.fifo("ready");
    let mut instance = case.launch();
    read_line(&ready).await;
    let (pids, cgroups) = (instance.pids(), instance.cgroups().to_vec());
    let began = Instant::now();
    instance.kill().await;
    assert!(began.elapsed() < STOP_GRACE, "no grace period");
    for pid in pids {
        exited(pid).await;
    }
    assert_cleaned_up(&cgroups, &case.spec.runtime_dir);
    instance.kill().await; // idempotent
}

#[tokio::test]
async fn dropping_an_instance_kills_it_and_cleans_up() {
    let mut case = Case::new(
        "drop",
        sh("sleep 1000 & echo ready > /home/user/ready; wait"),
    );
    let ready = case.fifo("ready");
    let instance = case.launch();
    read_line(&ready).await;
    let pids = instance.pids();
    let cgroups = instance.cgroups().to_vec();
    drop(instance);
    for pid in pids {
        exited(pid).await;
    }
    assert_cleaned_up(&cgroups, &case.spec.runtime_dir);
}

const HELPER_ENV: &str = "PORTHOLE_SANDBOX_DIE_WITH_PARENT_HELPER";

/// Not a test on its own: the "server" process that `killing_the_server_kills_its_sandboxes`
/// starts and SIGKILLs. Does nothing unless that test set the variable.
#[tokio::test]
async fn die_with_parent_helper() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    // Another process: its own pool, from a range the parent's pool never hands out.
    let pool = UidPool::new(209_000..209_100);
    let mut case = Case::with_pool(
        "orphan",
        sh("sleep 1000 & echo ready > /home/user/ready; wait"),
        &pool,
    );
    // With a slirp4netns too: it must not outlive the server either.
    case.spec.network = Network::Private;
    let ready = case.fifo("ready");
    let instance = case.launch();
    read_line(&ready).await;
    let pids: Vec<String> = instance.pids().iter().map(u32::to_string).collect();
    let cgroups: Vec<String> = instance
        .cgroups()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    // A line of its own: the test harness prints "test ... " without a newline first.
    println!("\npids={}", pids.join(","));
    println!("cgroups={}", cgroups.join(","));
    println!("id={}", case.spec.id);
    println!("runtime={}", case.spec.runtime_dir.display());
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn killing_the_server_kills_its_sandboxes() {
    let mut helper = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "die_with_parent_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(helper.stdout.take().unwrap());
    let mut out = String::new();
    while !out.contains("runtime=") {
        let mut line = String::new();
        let n = tokio::time::timeout(
            common::TIMEOUT,
            tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line),
        )
        .await
        .expect("helper never reported its sandbox")
        .unwrap();
        assert!(n > 0, "helper exited early: {out}");
        out.push_str(&line);
    }
    let pids: Vec<u32> = field(&out, "pids")
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.len() >= 5, "bwrap x2, sh, sleep, slirp4netns: {out}");

    helper.start_kill().unwrap();
    helper.wait().await.unwrap();
    for pid in pids {
        exited(pid).await;
    }
    // Nobody cleaned up after the dead server: the next one removes what is left.
    let runtime = std::path::Path::new(field(&out, "runtime"));
    let cgroups: Vec<std::path::PathBuf> =
        field(&out, "cgroups").split(',').map(Into::into).collect();
    assert!(runtime.exists() && cgroups.iter().all(|c| c.exists()));
    assert_eq!(
        porthole_sandbox::remove_leftover(field(&out, "id"), runtime).unwrap(),
        Leftover::Removed
    );
    assert_cleaned_up(&cgroups, runtime);
    fs::remove_dir_all(runtime.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn a_supervised_instance_is_no_leftover() {
    let mut case = Case::new("alive", sh("echo ready > /home/user/ready; sleep 1000"));
    let ready = case.fifo("ready");
    let mut instance = case.launch();
    read_line(&ready).await;
    let leftover = porthole_sandbox::remove_leftover(&case.spec.id, &case.spec.runtime_dir);
    assert_eq!(leftover.unwrap(), Leftover::Supervised);
    assert!(case.spec.runtime_dir.exists());
    assert!(instance.cgroups().iter().all(|c| c.exists()));
    assert!(instance.pids().len() >= 3, "still running");
    instance.terminate().await;
}

use porthole_x11::server::XORG_CONF;

/// Xorg started the way crates/x11/src/server.rs starts it (relative -config, -displayfd),
/// then xterm and xdpyinfo against it, all inside one sandbox as the unprivileged uid.
#[tokio::test]
async fn xorg_and_xterm_run_inside_the_sandbox() {
    let mut case = Case::new(
        "xorg",
        sh(r#"set -e
mkfifo /tmp/display /tmp/xterm
/usr/lib/xorg/Xorg -noreset -nolisten tcp -config xorg.conf -logfile /tmp/Xorg.log \
    -displayfd 3 3>/tmp/display >/dev/null 2>&1 &
xorg=$!
read display < /tmp/display
export DISPLAY=":$display"
echo "display=$display"
echo "xorg_uid=$(awk '/^Uid:/ {print $2}' /proc/$xorg/status)"
xterm -e sh -c 'echo up > /tmp/xterm; exec sleep 1000' &
read up < /tmp/xterm
echo "xterm=$up"
xdpyinfo | grep -E '^(vendor string|  dimensions):' | sed 's/^ *//; s/: */=/'
"#),
    );
    fs::create_dir_all(case.home()).unwrap();
    fs::write(case.home().join("xorg.conf"), XORG_CONF).unwrap();
    let (status, out) = case.run(|_| {}).await;
    assert!(status.success(), "{out}");
    assert_eq!(field(&out, "xorg_uid"), case.spec.uid.to_string());
    assert_eq!(field(&out, "xterm"), "up");
    assert_eq!(field(&out, "vendor string"), "The X.Org Foundation");
    assert!(field(&out, "dimensions").contains(" pixels"), "{out}");
}
