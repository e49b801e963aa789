//! Network::Private: the sandbox's own network namespace NATed by slirp4netns. Needs root,
//! bwrap, slirp4netns and python3.

mod common;

use std::io::ErrorKind;

use common::{exited, field, ids, python, read_line, Case};
use porthole_sandbox::{Network, NAMESERVER};

/// The tap's address and default route, the host's loopback services tried through the
/// gateway and the sandbox's own loopback, the resolver configuration, and a DNS query
/// to slirp4netns's resolver.
const PROBE: &str = r#"
import fcntl, socket, struct, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
addr = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", b"tap0"))  # SIOCGIFADDR
print("tap0=" + socket.inet_ntoa(addr[20:24]))
routes = [l.split() for l in open("/proc/net/route").read().splitlines()[1:]]
print("default=" + ",".join(r[0] + ":" + r[2] for r in routes if r[1] == "00000000"))
def attempt(host):
    try:
        socket.create_connection((host, port), timeout=10).close()
        return "ok"
    except OSError as e:
        return type(e).__name__
print("gateway=" + attempt("10.0.2.2"))
print("loopback=" + attempt("127.0.0.1"))
print("nameservers=" + ",".join(l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver")))
q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
q.settimeout(10)
# id 0x5050, recursion desired, one question: porthole.invalid A IN
q.sendto(bytes.fromhex("505001000001000000000000") + b"\x08porthole\x07invalid\x00\x00\x01\x00\x01", (sys.argv[2], 53))
try:
    print("dns=" + ("answered" if q.recv(512)[:2] == b"\x50\x50" else "garbled"))
except OSError as e:
    print("dns=" + type(e).__name__)
"#;

/// The host's own answer to the probe's DNS query (from its first nameserver): whether
/// the sandbox's resolver can be expected to answer.
fn host_resolver_answers() -> bool {
    let Some(server) = std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("nameserver ").map(|s| s.trim().to_owned()))
    else {
        return false;
    };
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut query = hex_bytes("505001000001000000000000");
    query.extend_from_slice(b"\x08porthole\x07invalid\x00\x00\x01\x00\x01");
    if socket.send_to(&query, (server.as_str(), 53)).is_err() {
        return false;
    }
    let mut reply = [0u8; 512];
    matches!(socket.recv(&mut reply), Ok(n) if n >= 2 && reply[..2] == [0x50, 0x50])
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn a_private_network_is_natted_and_keeps_host_loopback_out_of_reach() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut case = Case::new("net-private", python(PROBE, &[&port, NAMESERVER]));
    case.spec.network = Network::Private;
    let uid = case.spec.uid;
    let mut slirp = None;
    let (status, out) = case
        .run(|instance| {
            let pid = instance.network_pid().expect("a slirp4netns");
            assert_eq!(
                ids(pid, "Uid:"),
                [uid; 4],
                "slirp4netns runs as the instance"
            );
            assert!(instance.pids().contains(&pid), "in the instance's cgroup");
            slirp = Some(pid);
        })
        .await;
    assert!(status.success(), "{out}");
    assert_eq!(field(&out, "tap0"), "10.0.2.100");
    // Gateway 10.0.2.2 in /proc/net/route's little-endian hex.
    assert_eq!(field(&out, "default"), "tap0:0202000A");
    assert_ne!(field(&out, "gateway"), "ok", "host loopback via 10.0.2.2");
    assert_eq!(field(&out, "loopback"), "ConnectionRefusedError");
    listener.set_nonblocking(true).unwrap();
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "nothing reached the host's listener"
    );
    assert_eq!(field(&out, "nameservers"), NAMESERVER);
    // Outbound NAT: slirp4netns forwards the query to the host's resolver. Without one
    // that answers the host itself, there is nothing to expect.
    if host_resolver_answers() {
        assert_eq!(field(&out, "dns"), "answered", "{out}");
    } else {
        eprintln!("the host's resolver does not answer: outbound DNS not checked");
    }
    exited(slirp.unwrap()).await;
}

#[tokio::test]
async fn slirp4netns_goes_with_the_instance() {
    let mut case = Case::new(
        "net-private-term",
        common::sh("echo ready > /home/user/ready; exec sleep 1000"),
    );
    case.spec.network = Network::Private;
    let ready = case.fifo("ready");
    let mut instance = case.launch();
    read_line(&ready).await;
    let slirp = instance.network_pid().unwrap();
    instance.terminate().await;
    exited(slirp).await;

    // Also when dropped (the server's task ended) rather than terminated.
    let mut case = Case::new(
        "net-private-drop",
        common::sh("echo ready > /home/user/ready; exec sleep 1000"),
    );
    case.spec.network = Network::Private;
    let ready = case.fifo("ready");
    let instance = case.launch();
    read_line(&ready).await;
    let slirp = instance.network_pid().unwrap();
    drop(instance);
    exited(slirp).await;
}
