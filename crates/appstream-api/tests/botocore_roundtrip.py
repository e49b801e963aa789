#!/usr/bin/env python3
"""Cross-checks porthole-appstream-api's wire format with botocore itself.

Needs a botocore that speaks smithy-rpc-v2-cbor (1.44 or newer), e.g.
    pip install --target /tmp/botocore-new --no-deps botocore==1.44.8
    PYTHONPATH=/tmp/botocore-new python3 crates/appstream-api/tests/botocore_roundtrip.py
(botocore's own dependencies, jmespath, python-dateutil and urllib3, must be
importable too). No pytest: exits non-zero on the first mismatch.

What it checks, with the model in crates/appstream-api/model:
1. botocore's rpcv2Cbor serializer still produces fixtures/create_fleet.request.cbor
   for the parameters below (tests/botocore_fixtures.rs decodes that file) and
   fixtures/fleets.botocore.cbor (two Fleet structures with whole and fractional
   timestamps; src/cbor.rs decodes it); `--write` regenerates them instead.
2. botocore's rpcv2Cbor and JSON parsers read our encoder's responses
   (fixtures/describe_fleets.response.*) into the expected values, with the
   timestamp as a datetime, and our error bodies (fixtures/not_found.error.*)
   into the right error code and message.
"""

import datetime
import gzip
import json
import pathlib
import sys

import botocore
from botocore import parsers, serialize
from botocore.model import ServiceModel

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
MODEL = HERE.parent / "model"

CREATE_FLEET = {
    "Name": "demo-fleet",
    "ImageName": "porthole-default",
    "InstanceType": "stream.standard.medium",
    "FleetType": "ON_DEMAND",
    "ComputeCapacity": {"DesiredInstances": 3},
    "MaxUserDurationInSeconds": 432000,
    "DisconnectTimeoutInSeconds": 60,
    "IdleDisconnectTimeoutInSeconds": 0,
    "EnableDefaultInternetAccess": False,
    "Tags": {"team": "qa", "cost-center": "4711"},
    "Description": "Fleet f\u00fcr Tests",
    "StreamView": "APP",
}


def check(condition, what):
    if not condition:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


def main():
    write = "--write" in sys.argv[1:]
    if "smithy-rpc-v2-cbor" not in serialize.SERIALIZERS:
        sys.exit(f"botocore {botocore.__version__} has no rpcv2Cbor support; need >= 1.44")
    model = ServiceModel(json.loads(gzip.open(MODEL / "service-2.json.gz").read()), "appstream")

    # 1. Request: botocore's serializer -> our decoder (via the fixture).
    op = model.operation_model("CreateFleet")
    request = serialize.create_serializer("smithy-rpc-v2-cbor").serialize_to_request(CREATE_FLEET, op)
    check(request["url_path"] == "/service/PhotonAdminProxyService/operation/CreateFleet", "CBOR request path")
    check(request["headers"].get("smithy-protocol") == "rpc-v2-cbor", "smithy-protocol request header")
    path = FIXTURES / "create_fleet.request.cbor"
    if write:
        path.write_bytes(request["body"])
        print(f"wrote {path}")
    else:
        check(path.read_bytes() == request["body"], "botocore still serializes CreateFleet to the fixture")

    # No AppStream input has a timestamp member, so botocore's CBOR timestamp
    # encoding (tag 1 + integer when whole, float64 otherwise) is captured by
    # serializing Fleet structures (an output shape) with its serializer's
    # data-item writer; src/cbor.rs decodes that fixture.
    fleet_shape = model.shape_for("Fleet")
    body = bytearray()
    serializer = serialize.RpcV2CBORSerializer()  # without the param validator
    for created_time in (1700000000, 1700000000.25):
        serializer._serialize_data_item(body, {"Name": "demo", "CreatedTime": created_time}, fleet_shape)
    path = FIXTURES / "fleets.botocore.cbor"
    if write:
        path.write_bytes(bytes(body))
        print(f"wrote {path}")
    else:
        check(path.read_bytes() == bytes(body), "botocore still serializes Fleet timestamps to the fixture")

    # 2. Responses: our encoder (fixtures) -> botocore's parsers.
    out_shape = model.operation_model("DescribeFleets").output_shape
    created = datetime.datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=datetime.timezone.utc)
    for protocol, suffix, content_type in [
        ("smithy-rpc-v2-cbor", "cbor", "application/cbor"),
        ("json", "json", "application/x-amz-json-1.1"),
    ]:
        parser = parsers.create_parser(protocol)
        body = (FIXTURES / f"describe_fleets.response.{suffix}").read_bytes()
        headers = {"content-type": content_type, "x-amzn-requestid": "req-1"}
        if protocol == "smithy-rpc-v2-cbor":
            headers["smithy-protocol"] = "rpc-v2-cbor"
        parsed = parser.parse({"body": body, "headers": headers, "status_code": 200}, out_shape)
        fleet = parsed["Fleets"][0]
        check(fleet["CreatedTime"] == created, f"{protocol}: CreatedTime parses to {created}")
        check(fleet["ComputeCapacityStatus"] == {"Desired": 2, "Running": 2, "InUse": 1, "Available": 1},
              f"{protocol}: ComputeCapacityStatus")
        check(fleet["EnableDefaultInternetAccess"] is False, f"{protocol}: boolean member")
        check(fleet["MaxUserDurationInSeconds"] == 57600, f"{protocol}: integer member")
        check(fleet["FleetErrors"] == [], f"{protocol}: empty list member")
        check(parsed["NextToken"] == "page-2", f"{protocol}: NextToken")

        error_body = (FIXTURES / f"not_found.error.{suffix}").read_bytes()
        error = parser.parse({"body": error_body, "headers": headers, "status_code": 404}, out_shape)
        check(error["Error"]["Code"] == "ResourceNotFoundException", f"{protocol}: error code")
        check(error["Error"]["Message"] == "Fleet demo does not exist", f"{protocol}: error message")
    print(f"all checks passed with botocore {botocore.__version__}")


if __name__ == "__main__":
    main()
