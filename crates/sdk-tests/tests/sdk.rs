//! The official AWS SDK for Rust (aws-sdk-appstream, which speaks rpcv2Cbor)
//! against a real `porthole serve` with its own data directory on a free port.
//!
//! The server binary: $PORTHOLE_BIN, else `porthole` next to this test's own
//! directory (target/debug/deps/.. = target/debug), which is where
//! `cargo build` puts it for any CARGO_TARGET_DIR.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_appstream::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_appstream::operation::describe_fleets::DescribeFleetsError;
use aws_sdk_appstream::types::{ComputeCapacity, FleetState, FleetType};
use aws_sdk_appstream::Client;

const START_TIMEOUT: Duration = Duration::from_secs(60);
const FLEET_TIMEOUT: Duration = Duration::from_secs(90);

fn porthole_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("PORTHOLE_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let debug_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps");
    debug_dir.join("porthole")
}

/// A running `porthole serve`; dropped: SIGTERM, and it must exit cleanly.
struct Server {
    child: Child,
    url: String,
    data_dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let bin = porthole_bin();
        assert!(
            bin.exists(),
            "{} is missing: cargo build -p porthole",
            bin.display()
        );
        let mut child = Command::new(&bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path().join("data"))
            .env_remove("PORTHOLE_ACCESS_KEY_ID")
            .env_remove("PORTHOLE_SECRET_ACCESS_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", bin.display()));
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut url = None;
        // The "open" line comes once the default fleet runs: the server is fully up.
        loop {
            let line = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the server printed its serving and welcome lines in time");
            if let Some(rest) = line.strip_prefix("porthole: serving at ") {
                url = rest.split('/').take(3).collect::<Vec<_>>().join("/").into();
            }
            if line.starts_with("porthole: open ") {
                break;
            }
        }
        Server {
            child,
            url: url.expect("a serving-at line before the welcome line"),
            data_dir,
        }
    }

    fn client(&self) -> Client {
        let credentials =
            std::fs::read_to_string(self.data_dir.path().join("data/credentials")).unwrap();
        let value = |key: &str| {
            credentials
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once('=')?;
                    (name.trim() == key).then(|| value.trim().to_owned())
                })
                .unwrap_or_else(|| panic!("{key} in the credentials file"))
        };
        let config = aws_sdk_appstream::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new(
                value("aws_access_key_id"),
                value("aws_secret_access_key"),
                None,
                None,
                "porthole-data-dir",
            ))
            // Plain HTTP to 127.0.0.1: no TLS stack needed.
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        Client::from_conf(config)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    break None;
                }
            }
        };
        if !std::thread::panicking() {
            assert!(
                status.is_some_and(|s| s.success()),
                "the server did not exit cleanly on SIGTERM: {status:?}"
            );
        }
    }
}

async fn wait_for_state(client: &Client, fleet: &str, state: FleetState) {
    let deadline = Instant::now() + FLEET_TIMEOUT;
    loop {
        let fleets = client.describe_fleets().names(fleet).send().await.unwrap();
        let current = fleets.fleets()[0].state().cloned();
        if current.as_ref() == Some(&state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fleet {fleet} not {state:?} in time (now {current:?})"
        );
        // The API has no change notifications; clients poll (as AWS's waiters do).
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_runs_a_fleet_over_cbor() {
    let server = Server::start();
    let client = server.client();

    let created = client
        .create_fleet()
        .name("sdk-fleet")
        .image_name("porthole-default")
        .instance_type("stream.standard.small")
        .fleet_type(FleetType::AlwaysOn)
        .compute_capacity(ComputeCapacity::builder().desired_instances(1).build())
        .send()
        .await
        .expect("CreateFleet");
    assert_eq!(created.fleet().unwrap().name(), Some("sdk-fleet"));

    let described = client
        .describe_fleets()
        .names("sdk-fleet")
        .send()
        .await
        .expect("DescribeFleets");
    let fleet = &described.fleets()[0];
    assert_eq!(fleet.state(), Some(&FleetState::Stopped));
    // CBOR carries timestamps as tag-1 epoch seconds: they must decode as DateTime.
    let created_time = fleet.created_time().expect("CreatedTime");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - created_time.secs()).abs() < 120,
        "CreatedTime {created_time} is not about now ({now})"
    );
    assert_eq!(
        fleet.arn(),
        Some("arn:aws:appstream:us-east-1:000000000000:fleet/sdk-fleet")
    );

    client
        .create_stack()
        .name("sdk-stack")
        .send()
        .await
        .expect("CreateStack");
    client
        .associate_fleet()
        .fleet_name("sdk-fleet")
        .stack_name("sdk-stack")
        .send()
        .await
        .expect("AssociateFleet");
    client
        .start_fleet()
        .name("sdk-fleet")
        .send()
        .await
        .expect("StartFleet");
    wait_for_state(&client, "sdk-fleet", FleetState::Running).await;

    let url = client
        .create_streaming_url()
        .stack_name("sdk-stack")
        .fleet_name("sdk-fleet")
        .user_id("rustacean")
        .validity(300)
        .send()
        .await
        .expect("CreateStreamingURL");
    assert!(
        url.streaming_url()
            .unwrap()
            .starts_with(&format!("{}/session/", server.url)),
        "{url:?}"
    );
    let expires = url.expires().expect("Expires").secs();
    assert!(
        (now + 200..now + 420).contains(&expires),
        "Expires {expires}, now {now}"
    );

    let err = client
        .describe_fleets()
        .names("no-such-fleet")
        .send()
        .await
        .expect_err("an unknown fleet is an error");
    assert!(
        matches!(
            err.into_service_error(),
            DescribeFleetsError::ResourceNotFoundException(_)
        ),
        "not the SDK's typed ResourceNotFoundException"
    );

    client
        .stop_fleet()
        .name("sdk-fleet")
        .send()
        .await
        .expect("StopFleet");
    wait_for_state(&client, "sdk-fleet", FleetState::Stopped).await;
}
