//! The wire layer against real AppStream and Application Auto Scaling
//! operations from the embedded models.

use porthole_appstream_api::{
    decode_input, encode_error, encode_output, route, ApiError, Paginator, Protocol, Route, Service,
};

const AS: Service = Service::AppStream;
const AAS: Service = Service::ApplicationAutoScaling;

fn routed(service: Service, protocol: Protocol, operation: &str) -> Route {
    Route {
        service,
        protocol,
        operation: operation.to_string(),
    }
}
use serde_json::{json, Value};

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn json_input(operation: &str, input: Value) -> Result<Value, ApiError> {
    decode_input(
        AS,
        Protocol::AwsJson11,
        operation,
        input.to_string().as_bytes(),
    )
}

/// The ValidationException message for `input`, asserting that it is one.
fn validation_message(operation: &str, input: Value) -> String {
    let err = json_input(operation, input).expect_err("input should be rejected");
    assert_eq!(err.code, "ValidationException", "{err}");
    assert_eq!(err.status, 400);
    err.message
}

fn valid_create_fleet() -> Value {
    json!({
        "Name": "demo-fleet",
        "ImageName": "porthole-default",
        "InstanceType": "stream.standard.medium",
        "FleetType": "ALWAYS_ON",
        "ComputeCapacity": {"DesiredInstances": 2},
        "MaxUserDurationInSeconds": 3600,
        "DisconnectTimeoutInSeconds": 900,
        "IdleDisconnectTimeoutInSeconds": 0,
        "Tags": {"team": "qa"},
        "SomethingNewerThanOurModel": true
    })
}

#[test]
fn routes_aws_json_by_target_header() {
    let h = headers(&[
        ("content-type", "application/x-amz-json-1.1"),
        ("X-Amz-Target", "PhotonAdminProxyService.DescribeFleets"),
    ]);
    assert_eq!(
        route("POST", "/", &h).unwrap(),
        routed(AS, Protocol::AwsJson11, "DescribeFleets")
    );
}

#[test]
fn routes_rpcv2_cbor_by_path_and_protocol_header() {
    let h = headers(&[("Smithy-Protocol", "rpc-v2-cbor")]);
    assert_eq!(
        route(
            "POST",
            "/service/PhotonAdminProxyService/operation/CreateFleet",
            &h
        )
        .unwrap(),
        routed(AS, Protocol::RpcV2Cbor, "CreateFleet")
    );
    let err = route(
        "POST",
        "/service/PhotonAdminProxyService/operation/CreateFleet",
        &[],
    )
    .unwrap_err();
    assert!(err.message.contains("smithy-protocol"), "{err}");
}

#[test]
fn unknown_operations_and_non_api_requests_are_refused() {
    let target = |t: &str| headers(&[("X-Amz-Target", t)]);
    let err = route("POST", "/", &target("PhotonAdminProxyService.LaunchRocket")).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status),
        ("UnknownOperationException", 400)
    );
    assert!(err.message.contains("LaunchRocket"));
    let err = route("POST", "/", &target("DynamoDB_20120810.ListTables")).unwrap_err();
    assert_eq!(err.code, "UnknownOperationException");
    assert_eq!(
        route(
            "GET",
            "/",
            &target("PhotonAdminProxyService.DescribeFleets")
        )
        .unwrap_err()
        .code,
        "UnknownOperationException"
    );
    assert_eq!(
        route("POST", "/", &[]).unwrap_err().code,
        "UnknownOperationException"
    );
    assert!(AS.operation_exists("CreateImageBuilder"));
    assert!(!AS.operation_exists("LaunchRocket"));
}

#[test]
fn valid_inputs_pass_and_come_back_with_only_modelled_members() {
    let fleet = json_input("CreateFleet", valid_create_fleet()).unwrap();
    assert_eq!(fleet["Name"], "demo-fleet");
    assert_eq!(fleet["ComputeCapacity"]["DesiredInstances"], 2);
    assert!(fleet.get("SomethingNewerThanOurModel").is_none());

    for (operation, input) in [
        ("DescribeFleets", json!({})),
        (
            "DescribeFleets",
            json!({"Names": ["a", "b"], "NextToken": null}),
        ),
        (
            "CreateStreamingURL",
            json!({"StackName": "s", "FleetName": "f", "UserId": "alice@example.com", "Validity": 604800, "SessionContext": "x=1"}),
        ),
        (
            "DescribeSessions",
            json!({"StackName": "s", "FleetName": "f", "Limit": 50}),
        ),
        (
            "TagResource",
            json!({"ResourceArn": "arn:aws:appstream:us-east-1:123456789012:fleet/demo", "Tags": {"Team": "équipe 1"}}),
        ),
        (
            "UpdateStack",
            json!({"Name": "s", "UserSettings": [{"Action": "CLIPBOARD_COPY_FROM_LOCAL_DEVICE", "Permission": "ENABLED"}], "EmbedHostDomains": ["example.com"]}),
        ),
    ] {
        json_input(operation, input.clone())
            .unwrap_or_else(|e| panic!("{operation} {input} rejected: {e}"));
    }
    assert_eq!(
        decode_input(AS, Protocol::AwsJson11, "DescribeFleets", b"").unwrap(),
        json!({})
    );
}

#[test]
fn name_pattern_violation_names_the_member_and_pattern() {
    let mut input = valid_create_fleet();
    input["Name"] = json!("bad name!");
    assert_eq!(
        validation_message("CreateFleet", input),
        "1 validation error detected: Value 'bad name!' at 'name' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$"
    );
}

#[test]
fn validity_outside_one_to_604800_is_rejected_at_both_ends() {
    let url = |validity: i64| json!({"StackName": "s", "FleetName": "f", "UserId": "bob", "Validity": validity});
    assert_eq!(
        validation_message("CreateStreamingURL", url(0)),
        "1 validation error detected: Value '0' at 'validity' failed to satisfy constraint: \
         Member must have value greater than or equal to 1"
    );
    assert_eq!(
        validation_message("CreateStreamingURL", url(604_801)),
        "1 validation error detected: Value '604801' at 'validity' failed to satisfy constraint: \
         Member must have value less than or equal to 604800"
    );
    json_input("CreateStreamingURL", url(1)).unwrap();
}

#[test]
fn describe_sessions_limit_is_at_most_50() {
    let message = validation_message(
        "DescribeSessions",
        json!({"StackName": "s", "FleetName": "f", "Limit": 51}),
    );
    assert!(
        message.ends_with("Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50"),
        "{message}"
    );
}

#[test]
fn string_length_and_unanchored_pattern_use_whole_value_semantics() {
    let url = |user: &str| json!({"StackName": "s", "FleetName": "f", "UserId": user});
    assert_eq!(
        validation_message("CreateStreamingURL", url("a")),
        "1 validation error detected: Value 'a' at 'userId' failed to satisfy constraint: \
         Member must have length greater than or equal to 2"
    );
    // The model's pattern `[\w+=,.@-]*` is unanchored; AWS matches the whole value.
    let message = validation_message("CreateStreamingURL", url("bob smith"));
    assert!(
        message.contains(r"Member must satisfy regular expression pattern: [\w+=,.@-]*"),
        "{message}"
    );
}

#[test]
fn missing_required_members_are_all_listed() {
    assert_eq!(
        validation_message(
            "CreateStreamingURL",
            json!({"StackName": "s", "UserId": null})
        ),
        "2 validation errors detected: \
         Value null at 'fleetName' failed to satisfy constraint: Member must not be null; \
         Value null at 'userId' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn enum_violation_lists_the_allowed_values() {
    let mut input = valid_create_fleet();
    input["FleetType"] = json!("SOMETIMES");
    assert_eq!(
        validation_message("CreateFleet", input),
        "1 validation error detected: Value 'SOMETIMES' at 'fleetType' failed to satisfy constraint: \
         Member must satisfy enum value set: [ALWAYS_ON, ON_DEMAND, ELASTIC]"
    );
}

#[test]
fn nested_and_collection_constraints_have_coral_paths() {
    let message = validation_message(
        "UpdateStack",
        json!({"Name": "s", "UserSettings": [{"Action": "FLY", "Permission": "ENABLED"}]}),
    );
    assert!(
        message.contains("Value 'FLY' at 'userSettings.1.member.action' failed to satisfy constraint: Member must satisfy enum value set: ["),
        "{message}"
    );
    let message = validation_message(
        "TagResource",
        json!({"ResourceArn": "arn:aws:appstream:us-east-1:123456789012:fleet/demo", "Tags": {"aws:owner": "x"}}),
    );
    assert!(
        message.contains("at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "),
        "{message}"
    );
    let message = validation_message(
        "TagResource",
        json!({"ResourceArn": "arn:aws:appstream:us-east-1:123456789012:fleet/demo", "Tags": {}}),
    );
    assert!(message.ends_with("Value '{}' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1"), "{message}");
    let message = validation_message(
        "UntagResource",
        json!({"ResourceArn": "arn:aws:appstream:us-east-1:1:fleet/x", "TagKeys": [""]}),
    );
    assert!(
        message.contains("Value '[]' at 'tagKeys' failed to satisfy constraint: Member must satisfy constraint: [Member must have length greater than or equal to 1"),
        "{message}"
    );
}

#[test]
fn fleet_timeouts_from_the_documentation_are_enforced() {
    let mut input = valid_create_fleet();
    input["MaxUserDurationInSeconds"] = json!(599);
    input["DisconnectTimeoutInSeconds"] = json!(36_001);
    let message = validation_message("CreateFleet", input);
    assert!(
        message.starts_with("2 validation errors detected: "),
        "{message}"
    );
    assert!(message.contains("at 'maxUserDurationInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 600"));
    assert!(message.contains("at 'disconnectTimeoutInSeconds' failed to satisfy constraint: Member must have value less than or equal to 36000"));
}

#[test]
fn wrong_types_are_serialization_errors_naming_the_member() {
    for (input, expected) in [
        (
            json!({"StackName": "s", "FleetName": "f", "Limit": "20"}),
            "VALUE_STRING can not be converted to an Integer (at 'limit')",
        ),
        (
            json!({"StackName": "s", "FleetName": "f", "Limit": 2.5}),
            "VALUE_NUMBER_FLOAT can not be converted to an Integer (at 'limit')",
        ),
        (
            json!({"StackName": ["s"], "FleetName": "f"}),
            "START_ARRAY can not be converted to a String (at 'stackName')",
        ),
    ] {
        let err = json_input("DescribeSessions", input).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.message.as_str()),
            ("SerializationException", expected)
        );
    }
    // 20.0 is an integer written as a float: accepted and normalized.
    let ok = json_input(
        "DescribeSessions",
        json!({"StackName": "s", "FleetName": "f", "Limit": 20.0}),
    )
    .unwrap();
    assert_eq!(ok["Limit"], json!(20));
}

#[test]
fn malformed_and_non_object_bodies_are_serialization_errors() {
    for (protocol, body) in [
        (Protocol::AwsJson11, &b"{\"Name\": "[..]),
        (Protocol::AwsJson11, b"[]"),
        (Protocol::AwsJson11, b"\"fleet\""),
        (Protocol::RpcV2Cbor, &[0xa1, 0x64, b'N', b'a']), // truncated map
        (Protocol::RpcV2Cbor, &[0x83, 0x01, 0x02, 0x03]), // an array
        (Protocol::RpcV2Cbor, &[0xa0, 0xa0]),             // trailing item
    ] {
        let err = decode_input(AS, protocol, "DescribeFleets", body).unwrap_err();
        assert_eq!(err.code, "SerializationException", "{body:?}: {err}");
        assert_eq!(err.status, 400);
    }
}

/// CBOR test values via ciborium (indefinite lengths and half floats come from
/// real SDKs; ciborium's value model writes definite ones).
fn cbor(value: ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(&value, &mut out).unwrap();
    out
}

fn cbor_decode(bytes: &[u8]) -> ciborium::Value {
    ciborium::de::from_reader(bytes).unwrap()
}

#[test]
fn cbor_input_with_maps_and_indefinite_lengths_decodes_and_validates() {
    use ciborium::Value as C;
    let text = |s: &str| C::Text(s.into());
    let body = cbor(C::Map(vec![
        (
            text("ResourceArn"),
            text("arn:aws:appstream:us-east-1:123456789012:stack/s"),
        ),
        (text("Tags"), C::Map(vec![(text("team"), text("qa"))])),
    ]));
    assert_eq!(
        decode_input(AS, Protocol::RpcV2Cbor, "TagResource", &body).unwrap(),
        json!({"ResourceArn": "arn:aws:appstream:us-east-1:123456789012:stack/s", "Tags": {"team": "qa"}})
    );
    // {_ "Names": [_ "a"], "NextToken": null } with indefinite map and array.
    let indefinite = [
        0xbf, 0x65, b'N', b'a', b'm', b'e', b's', 0x9f, 0x61, b'a', 0xff, 0x69, b'N', b'e', b'x',
        b't', b'T', b'o', b'k', b'e', b'n', 0xf6, 0xff,
    ];
    assert_eq!(
        decode_input(AS, Protocol::RpcV2Cbor, "DescribeFleets", &indefinite).unwrap(),
        json!({"Names": ["a"]})
    );
    // Empty bodies and empty maps are both "no input".
    assert_eq!(
        decode_input(AS, Protocol::RpcV2Cbor, "DescribeFleets", b"").unwrap(),
        json!({})
    );
    assert_eq!(
        decode_input(AS, Protocol::RpcV2Cbor, "DescribeFleets", &[0xa0]).unwrap(),
        json!({})
    );
}

#[test]
fn cbor_tag_1_timestamps_and_byte_strings_become_json_forms() {
    use ciborium::Value as C;
    // No AppStream input has a timestamp or blob member: these ride in
    // unknown members, which must decode (then be dropped). Their values are
    // checked against botocore's bytes in src/cbor.rs.
    let body = cbor(C::Map(vec![
        (C::Text("Names".into()), C::Array(vec![C::Text("f".into())])),
        (
            C::Text("At".into()),
            C::Tag(1, Box::new(C::Float(1_700_000_000.5))),
        ),
        (C::Text("Blob".into()), C::Bytes(vec![1, 2, 3])),
    ]));
    assert_eq!(
        decode_input(AS, Protocol::RpcV2Cbor, "DescribeFleets", &body).unwrap(),
        json!({"Names": ["f"]})
    );
    let err = decode_input(
        AS,
        Protocol::RpcV2Cbor,
        "DescribeFleets",
        &cbor(C::Map(vec![(
            C::Text("X".into()),
            C::Tag(55799, Box::new(C::Null)),
        )])),
    )
    .unwrap_err();
    assert_eq!(err.code, "SerializationException");
}

fn fleet_output() -> Value {
    json!({
        "Fleets": [{
            "Arn": "arn:aws:appstream:us-east-1:123456789012:fleet/demo",
            "Name": "demo",
            "InstanceType": "stream.standard.small",
            "ComputeCapacityStatus": {"Desired": 1, "Running": 1, "InUse": 0, "Available": 1},
            "State": "RUNNING",
            "CreatedTime": 1_700_000_000.25,
            "MaxUserDurationInSeconds": 57600,
            "EnableDefaultInternetAccess": false,
            "Description": null
        }],
        "NextToken": null
    })
}

#[test]
fn json_output_omits_nulls_and_round_trips() {
    let bytes = encode_output(AS, Protocol::AwsJson11, "DescribeFleets", &fleet_output()).unwrap();
    let back: Value = serde_json::from_slice(&bytes).unwrap();
    let fleet = &back["Fleets"][0];
    assert!(back.get("NextToken").is_none() && fleet.get("Description").is_none());
    assert_eq!(fleet["CreatedTime"], json!(1_700_000_000.25));
    assert_eq!(fleet["ComputeCapacityStatus"]["Running"], 1);
    assert_eq!(
        encode_output(AS, Protocol::AwsJson11, "StartFleet", &json!({})).unwrap(),
        b"{}"
    );
    assert_eq!(
        encode_output(AS, Protocol::AwsJson11, "StartFleet", &Value::Null).unwrap(),
        b"{}"
    );
}

#[test]
fn cbor_output_writes_timestamps_as_tag_1_float64_and_round_trips() {
    use ciborium::Value as C;
    let bytes = encode_output(AS, Protocol::RpcV2Cbor, "DescribeFleets", &fleet_output()).unwrap();
    // The float64 bytes of the timestamp follow tag 1 (0xc1 0xfb).
    let mut tagged = vec![0xc1, 0xfb];
    tagged.extend(1_700_000_000.25f64.to_be_bytes());
    assert!(
        bytes.windows(tagged.len()).any(|w| w == tagged),
        "no tag-1 float64 timestamp"
    );
    let C::Map(top) = cbor_decode(&bytes) else {
        panic!("not a map")
    };
    assert_eq!(top.len(), 1, "null NextToken omitted");
    let C::Array(fleets) = &top[0].1 else {
        panic!("Fleets not an array")
    };
    let C::Map(fleet) = &fleets[0] else {
        panic!("fleet not a map")
    };
    let created = fleet
        .iter()
        .find(|(k, _)| k == &C::Text("CreatedTime".into()))
        .unwrap();
    assert_eq!(created.1, C::Tag(1, Box::new(C::Float(1_700_000_000.25))));
    let running = fleet
        .iter()
        .find(|(k, _)| k == &C::Text("MaxUserDurationInSeconds".into()))
        .unwrap();
    assert_eq!(running.1, C::Integer(57600.into()));
    // And our own decoder reads it back to the JSON document (nulls dropped).
    let mut expected = fleet_output();
    expected.as_object_mut().unwrap().remove("NextToken");
    expected["Fleets"][0]
        .as_object_mut()
        .unwrap()
        .remove("Description");
    assert_eq!(decode_generic(&bytes), expected);

    assert_eq!(
        encode_output(AS, Protocol::RpcV2Cbor, "StartFleet", &json!({})).unwrap(),
        [0xa0]
    );
}

/// A CBOR -> JSON conversion independent of the crate's (tag 1 -> its number),
/// to compare an encoded output with the document it came from.
fn decode_generic(bytes: &[u8]) -> Value {
    fn to_json(v: ciborium::Value) -> Value {
        use ciborium::Value as C;
        match v {
            C::Null => Value::Null,
            C::Bool(b) => json!(b),
            C::Integer(i) => json!(i64::try_from(i128::from(i)).unwrap()),
            C::Float(f) => json!(f),
            C::Text(s) => json!(s),
            C::Tag(1, inner) => to_json(*inner),
            C::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
            C::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.into_text().unwrap(), to_json(v)))
                    .collect(),
            ),
            other => panic!("unexpected {other:?}"),
        }
    }
    to_json(cbor_decode(bytes))
}

#[test]
fn outputs_that_do_not_fit_the_model_are_internal_errors() {
    let err = encode_output(
        AS,
        Protocol::RpcV2Cbor,
        "DescribeFleets",
        &json!({"Fleets": [{"CreatedTime": "yesterday"}]}),
    )
    .unwrap_err();
    assert_eq!((err.code.as_str(), err.status), ("InternalFailure", 500));
    assert_eq!(
        encode_output(AS, Protocol::AwsJson11, "NoSuchOp", &json!({}))
            .unwrap_err()
            .code,
        "UnknownOperationException"
    );
}

#[test]
fn json_errors_carry_type_message_and_header() {
    let (status, headers, body) = encode_error(
        Protocol::AwsJson11,
        &AS.error("ResourceNotFoundException", "Fleet x not found"),
    );
    assert_eq!(status, 404, "the model gives ResourceNotFoundException 404");
    assert!(headers.contains(&(
        "x-amzn-ErrorType".into(),
        "ResourceNotFoundException".into()
    )));
    assert!(headers.contains(&("Content-Type".into(), "application/x-amz-json-1.1".into())));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body,
        json!({"__type": "ResourceNotFoundException", "message": "Fleet x not found"})
    );
}

#[test]
fn cbor_errors_are_cbor_maps_with_the_protocol_header() {
    use ciborium::Value as C;
    let (status, headers, body) = encode_error(Protocol::RpcV2Cbor, &ApiError::validation("bad"));
    assert_eq!(status, 400);
    assert!(headers.contains(&("smithy-protocol".into(), "rpc-v2-cbor".into())));
    assert!(headers.contains(&("Content-Type".into(), "application/cbor".into())));
    assert_eq!(
        cbor_decode(&body),
        C::Map(vec![
            (
                C::Text("__type".into()),
                C::Text("ValidationException".into())
            ),
            (C::Text("message".into()), C::Text("bad".into())),
        ])
    );
}

#[test]
fn error_statuses_come_from_the_model() {
    assert_eq!(AS.error("DryRunOperationException", "x").status, 412);
    assert_eq!(AS.error("ResourceInUseException", "x").status, 400);
    assert_eq!(
        AS.unsupported_operation("CreateUser").code,
        "UnsupportedOperationException"
    );
    assert_eq!(ApiError::serialization("x").code, "SerializationException");
    assert_eq!(AS.error("ResourceNotFoundException", "x").status, 404);
    assert_eq!(ApiError::validation("x").with_status(413).status, 413);
}

#[test]
fn paginators_come_from_the_model() {
    assert_eq!(
        AS.paginator("DescribeSessions"),
        Some(Paginator {
            input_token: "NextToken".into(),
            output_token: "NextToken".into(),
            limit_key: Some("Limit".into()),
        })
    );
    assert_eq!(AS.paginator("DescribeFleets").unwrap().limit_key, None);
    assert_eq!(AS.paginator("CreateFleet"), None);
}

// ---- Application Auto Scaling ---------------------------------------------

fn aas_input(operation: &str, input: Value) -> Result<Value, ApiError> {
    decode_input(
        AAS,
        Protocol::AwsJson11,
        operation,
        input.to_string().as_bytes(),
    )
}

#[test]
fn routes_application_auto_scaling_by_its_target_prefix() {
    let h = headers(&[("X-Amz-Target", "AnyScaleFrontendService.PutScalingPolicy")]);
    assert_eq!(
        route("POST", "/", &h).unwrap(),
        routed(AAS, Protocol::AwsJson11, "PutScalingPolicy")
    );
    assert_eq!(AAS.signing_name(), "application-autoscaling");
    assert_eq!(AS.signing_name(), "appstream");
    assert_eq!(AAS.name(), "Application Auto Scaling");
}

#[test]
fn each_service_knows_only_its_own_operations() {
    let target = |t: &str| headers(&[("X-Amz-Target", t)]);
    let err = route(
        "POST",
        "/",
        &target("AnyScaleFrontendService.DescribeFleets"),
    )
    .unwrap_err();
    assert_eq!(err.code, "UnknownOperationException");
    assert!(
        err.message.contains("Application Auto Scaling"),
        "{}",
        err.message
    );
    let err = route(
        "POST",
        "/",
        &target("PhotonAdminProxyService.RegisterScalableTarget"),
    )
    .unwrap_err();
    assert_eq!(err.code, "UnknownOperationException");
    assert!(AAS
        .unsupported_operation("PutScheduledAction")
        .message
        .contains("Application Auto Scaling operation PutScheduledAction"),);
}

#[test]
fn application_auto_scaling_has_no_cbor_endpoint() {
    let h = headers(&[("Smithy-Protocol", "rpc-v2-cbor")]);
    let err = route(
        "POST",
        "/service/AnyScaleFrontendService/operation/PutScalingPolicy",
        &h,
    )
    .unwrap_err();
    assert_eq!(err.code, "UnknownOperationException");
}

#[test]
fn application_auto_scaling_inputs_are_validated_against_its_model() {
    let ok = aas_input(
        "RegisterScalableTarget",
        json!({
            "ServiceNamespace": "appstream",
            "ResourceId": "fleet/demo",
            "ScalableDimension": "appstream:fleet:DesiredCapacity",
            "MinCapacity": 1,
            "MaxCapacity": 5,
            "SuspendedState": {"DynamicScalingInSuspended": true}
        }),
    )
    .unwrap();
    assert_eq!(ok["SuspendedState"]["DynamicScalingInSuspended"], true);
    let err = aas_input(
        "RegisterScalableTarget",
        json!({"ServiceNamespace": "nosuch", "ResourceId": "fleet/demo"}),
    )
    .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status),
        ("ValidationException", 400)
    );
    assert!(err.message.contains("serviceNamespace"), "{}", err.message);
    assert!(err.message.contains("scalableDimension"), "{}", err.message);
    let err = aas_input(
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "appstream", "MaxResults": 11}),
    )
    .unwrap_err();
    assert!(
        err.message.contains("less than or equal to 10"),
        "{}",
        err.message
    );
    let err = aas_input(
        "PutScalingPolicy",
        json!({"PolicyName": "p", "ServiceNamespace": "appstream", "ResourceId": "fleet/f",
               "ScalableDimension": "appstream:fleet:DesiredCapacity",
               "TargetTrackingScalingPolicyConfiguration": {"TargetValue": "high"}}),
    )
    .unwrap_err();
    assert_eq!(err.code, "SerializationException");
}

#[test]
fn application_auto_scaling_errors_take_its_model_statuses() {
    // 404 in AppStream's model, unstatused (400) in Application Auto Scaling's.
    assert_eq!(AAS.error("ResourceNotFoundException", "x").status, 400);
    assert_eq!(AAS.error("ObjectNotFoundException", "x").status, 400);
    assert_eq!(
        AAS.paginator("DescribeScalingActivities")
            .unwrap()
            .limit_key
            .as_deref(),
        Some("MaxResults")
    );
}

#[test]
fn application_auto_scaling_outputs_encode_timestamps_as_numbers() {
    let bytes = encode_output(
        AAS,
        Protocol::AwsJson11,
        "DescribeScalingActivities",
        &json!({"ScalingActivities": [{"ActivityId": "a", "StartTime": 1700000000.5}]}),
    )
    .unwrap();
    let back: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back["ScalingActivities"][0]["StartTime"], 1700000000.5);
}
