"""A fleet lifecycle with the newest boto3 (rpcv2Cbor), run by test_boto3_cbor.py
in a subprocess whose sys.path starts with PORTHOLE_TEST_PYDEPS, so that this
botocore (not the AWS CLI's older one) is imported.

botocore >= 1.44 knows rpcv2Cbor, and AppStream's model lists the protocols
['smithy-rpc-v2-cbor', 'json'], but botocore ranks 'json' first
(PRIORITY_ORDERED_SUPPORTED_PROTOCOLS), so out of the box boto3 still sends
awsJson1_1. To drive botocore's real CBOR serializer and parser, the client
loads AppStream's own model narrowed to CBOR through AWS_DATA_PATH, botocore's
documented way to add or override a service model.

usage: boto3_cbor_client.py ENDPOINT_URL  (credentials: AWS_SHARED_CREDENTIALS_FILE)
Prints a JSON summary of what was observed on stdout; any failure raises."""

import datetime
import json
import os
import sys
import tempfile
from pathlib import Path

import boto3
import botocore
import botocore.loaders
from botocore.config import Config

FLEET = "boto3-fleet"
STACK = "boto3-stack"


def load_cbor_only_model():
    model = botocore.loaders.Loader().load_service_model("appstream", "service-2")
    assert "smithy-rpc-v2-cbor" in model["metadata"]["protocols"], model["metadata"]
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    data_path = Path(tempfile.mkdtemp(prefix="appstream-cbor-model-"))
    model_dir = data_path / "appstream" / model["metadata"]["apiVersion"]
    model_dir.mkdir(parents=True)
    (model_dir / "service-2.json").write_text(json.dumps(model))
    os.environ["AWS_DATA_PATH"] = str(data_path)


def main(endpoint_url):
    load_cbor_only_model()
    client = boto3.client("appstream", endpoint_url=endpoint_url,
                          config=Config(retries={"max_attempts": 1}))
    sent = []
    client.meta.events.register(
        "before-send.appstream",
        lambda request, **_: sent.append(
            (request.url, request.headers.get("Content-Type", b"").decode())),
    )
    summary = {"botocore": botocore.__version__,
               "protocol": client._service_model.resolved_protocol}

    fleet = client.create_fleet(
        Name=FLEET, DisplayName="boto3 fleet", ImageName="porthole-default",
        InstanceType="stream.standard.small", FleetType="ALWAYS_ON",
        ComputeCapacity={"DesiredInstances": 1},
    )["Fleet"]
    assert isinstance(fleet["CreatedTime"], datetime.datetime), fleet
    described = client.describe_fleets(Names=[FLEET])["Fleets"][0]
    assert described["State"] == "STOPPED", described
    assert described["CreatedTime"] == fleet["CreatedTime"], (described, fleet)

    client.create_stack(Name=STACK)
    client.associate_fleet(FleetName=FLEET, StackName=STACK)
    client.start_fleet(Name=FLEET)
    client.get_waiter("fleet_started").wait(
        Names=[FLEET], WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    running = client.describe_fleets(Names=[FLEET])["Fleets"][0]
    assert running["State"] == "RUNNING", running
    summary["capacity"] = running["ComputeCapacityStatus"]

    assert client.list_associated_stacks(FleetName=FLEET)["Names"] == [STACK]
    assert client.list_associated_fleets(StackName=STACK)["Names"] == [FLEET]
    url = client.create_streaming_url(StackName=STACK, FleetName=FLEET, UserId="bob",
                                      Validity=120)
    assert isinstance(url["Expires"], datetime.datetime), url
    now = datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(seconds=60) < url["Expires"] - now <= datetime.timedelta(seconds=121), url
    summary["streaming_url"] = url["StreamingURL"]
    assert client.describe_sessions(StackName=STACK, FleetName=FLEET).get("Sessions", []) == []

    client.tag_resource(ResourceArn=fleet["Arn"], Tags={"owner": "boto3"})
    assert client.list_tags_for_resource(ResourceArn=fleet["Arn"])["Tags"] == {"owner": "boto3"}
    client.untag_resource(ResourceArn=fleet["Arn"], TagKeys=["owner"])
    assert client.list_tags_for_resource(ResourceArn=fleet["Arn"]).get("Tags", {}) == {}

    try:
        client.describe_fleets(Names=["no-such-fleet"])
        raise AssertionError("describing an unknown fleet succeeded")
    except client.exceptions.ResourceNotFoundException as err:
        summary["not_found_status"] = err.response["ResponseMetadata"]["HTTPStatusCode"]

    images = [image["Name"]
              for page in client.get_paginator("describe_images").paginate()
              for image in page["Images"]]
    assert "porthole-default" in images, images

    client.stop_fleet(Name=FLEET)
    client.get_waiter("fleet_stopped").wait(
        Names=[FLEET], WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    client.disassociate_fleet(FleetName=FLEET, StackName=STACK)
    client.delete_fleet(Name=FLEET)
    client.delete_stack(Name=STACK)
    assert FLEET not in [f["Name"] for f in client.describe_fleets()["Fleets"]]

    summary["requests"] = sent
    print(json.dumps(summary, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
