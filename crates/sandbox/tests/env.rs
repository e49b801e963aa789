//! Its own test binary: it sets a variable in the process environment, which is only sound
//! with no other test threads around.

mod common;

use std::collections::BTreeMap;

use common::{read_line, sh, Case};

#[tokio::test]
async fn nothing_of_the_servers_environment_leaks_in() {
    std::env::set_var("PORTHOLE_TEST_SECRET", "hunter2");
    let mut case = Case::new(
        "env",
        sh(
            "tr '\\0' '\\n' < /proc/self/environ; echo ---; tr '\\0' '\\n' < /proc/1/environ; \
            echo ready > /home/user/ready; exec sleep 1000",
        ),
    );
    case.spec.env = vec![("VISIBLE".into(), "yes".into())];
    let ready = case.fifo("ready");
    let mut instance = case.launch();
    read_line(&ready).await;
    let outer_environ = std::fs::read(format!("/proc/{}/environ", instance.pid())).unwrap();
    instance.terminate().await;
    let out = case.log();
    assert!(!out.contains("hunter2"), "{out}");
    assert!(outer_environ.is_empty(), "bwrap itself gets no environment");

    let (own, init) = out.split_once("---\n").unwrap();
    let own: BTreeMap<&str, &str> = own.lines().filter_map(|l| l.split_once('=')).collect();
    let expected = [
        ("HOME", "/home/user"),
        ("LANG", "C.UTF-8"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("USER", "user"),
        ("VISIBLE", "yes"),
    ];
    for (key, value) in expected {
        assert_eq!(own.get(key), Some(&value), "{key} in {own:?}");
    }
    // The shell adds PWD; nothing else may appear.
    let extra: Vec<_> = own
        .keys()
        .filter(|k| **k != "PWD" && !expected.iter().any(|(e, _)| e == *k))
        .collect();
    assert!(extra.is_empty(), "unexpected variables {extra:?}");
    assert!(!init.contains("SECRET"), "{init}");
}
