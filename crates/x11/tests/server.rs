use std::path::Path;

use porthole_x11::XServer;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt;

/// One test, so no other server of this binary can reuse a display number mid-check.
#[test]
fn servers_start_at_the_requested_size_on_distinct_displays_and_clean_up_on_drop() {
    let a = XServer::start(1280, 720).expect("start a");
    eprintln!("Xorg ready and resized in {:?}", a.startup_time());
    let b = XServer::start(640, 480).expect("start b");
    assert_ne!(a.display_name(), b.display_name());

    for (server, size) in [(&a, (1280, 720)), (&b, (640, 480))] {
        let (conn, screen) = x11rb::connect(Some(&server.display_name())).expect("connect");
        let root = conn.setup().roots[screen].root;
        let geom = conn.get_geometry(root).unwrap().reply().unwrap();
        assert_eq!((geom.width, geom.height), size);
    }

    for server in [a, b] {
        let n: u32 = server
            .display_name()
            .trim_start_matches(':')
            .parse()
            .expect("display number");
        let pid = server.pid();
        drop(server);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "Xorg still running"
        );
        // Another server on this machine may already reuse the number: then the lock
        // names that server's pid, not ours.
        match std::fs::read_to_string(format!("/tmp/.X{n}-lock")) {
            Ok(owner) => assert_ne!(
                owner.trim().parse::<u32>().ok(),
                Some(pid),
                "lock left behind"
            ),
            Err(_) => assert!(
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists(),
                "socket left behind"
            ),
        }
    }
}
