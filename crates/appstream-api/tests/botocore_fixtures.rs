//! Byte-level agreement with botocore, the reference client.
//!
//! - `fixtures/create_fleet.request.cbor` was made by botocore 1.44.8's own
//!   rpcv2Cbor serializer (`python3 tests/botocore_roundtrip.py --write`);
//!   the test below decodes it with our decoder.
//! - `fixtures/*.response.*` and `*.error.*` are what our encoder produces;
//!   the test below checks we still produce exactly those bytes, and
//!   `tests/botocore_roundtrip.py` checks botocore's parsers read them right.
//!   After a deliberate encoder change: `PORTHOLE_WRITE_FIXTURES=1 cargo test
//!   -p porthole-appstream-api --test botocore_fixtures`, then re-run the script.

use std::path::PathBuf;

use porthole_appstream_api::{decode_input, encode_error, encode_output, Protocol, Service};

const AS: Service = Service::AppStream;
use serde_json::{json, Value};

fn fixture_path(name: &str) -> PathBuf {
    // Read at run time: a test binary built from another checkout into a shared
    // target directory must still read this checkout's files.
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test or nextest"))
        .join("tests/fixtures")
        .join(name)
}

/// Asserts `bytes` equal the fixture, or rewrites it when asked to.
fn matches_fixture(name: &str, bytes: &[u8]) {
    let path = fixture_path(name);
    if std::env::var_os("PORTHOLE_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        bytes, expected,
        "{name} differs from what the encoder makes now"
    );
}

#[test]
fn botocore_serialized_create_fleet_decodes_to_its_parameters() {
    let body = std::fs::read(fixture_path("create_fleet.request.cbor")).unwrap();
    let input = decode_input(AS, Protocol::RpcV2Cbor, "CreateFleet", &body).unwrap();
    // The parameters tests/botocore_roundtrip.py passes to botocore.
    assert_eq!(
        input,
        json!({
            "Name": "demo-fleet",
            "ImageName": "porthole-default",
            "InstanceType": "stream.standard.medium",
            "FleetType": "ON_DEMAND",
            "ComputeCapacity": {"DesiredInstances": 3},
            "MaxUserDurationInSeconds": 432000,
            "DisconnectTimeoutInSeconds": 60,
            "IdleDisconnectTimeoutInSeconds": 0,
            "EnableDefaultInternetAccess": false,
            "Tags": {"team": "qa", "cost-center": "4711"},
            "Description": "Fleet für Tests",
            "StreamView": "APP"
        })
    );
}

/// An output with a sub-second timestamp, integers, booleans, nested
/// structures and a list: every kind botocore has to turn back into Python.
fn describe_fleets_output() -> Value {
    json!({
        "Fleets": [{
            "Arn": "arn:aws:appstream:us-east-1:123456789012:fleet/demo",
            "Name": "demo",
            "InstanceType": "stream.standard.small",
            "FleetType": "ALWAYS_ON",
            "ComputeCapacityStatus": {"Desired": 2, "Running": 2, "InUse": 1, "Available": 1},
            "State": "RUNNING",
            "CreatedTime": 1_700_000_000.5,
            "MaxUserDurationInSeconds": 57600,
            "DisconnectTimeoutInSeconds": 900,
            "EnableDefaultInternetAccess": false,
            "FleetErrors": []
        }],
        "NextToken": "page-2"
    })
}

#[test]
fn describe_fleets_responses_match_their_fixtures() {
    let output = describe_fleets_output();
    matches_fixture(
        "describe_fleets.response.cbor",
        &encode_output(AS, Protocol::RpcV2Cbor, "DescribeFleets", &output).unwrap(),
    );
    matches_fixture(
        "describe_fleets.response.json",
        &encode_output(AS, Protocol::AwsJson11, "DescribeFleets", &output).unwrap(),
    );
}

#[test]
fn error_responses_match_their_fixtures() {
    let err = AS.error("ResourceNotFoundException", "Fleet demo does not exist");
    for (protocol, name) in [
        (Protocol::RpcV2Cbor, "not_found.error.cbor"),
        (Protocol::AwsJson11, "not_found.error.json"),
    ] {
        let (status, _, body) = encode_error(protocol, &err);
        assert_eq!(status, 404);
        matches_fixture(name, &body);
    }
}
