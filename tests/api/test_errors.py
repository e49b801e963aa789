"""Refused requests: each must answer AWS's error code (and status where it
matters) and change nothing (the fleets and stacks are compared before/after)."""

import datetime
import json
import unittest

from harness import ServerTestCase, utc_now

DEFAULT = "porthole-default"
# Codes for input the model's own constraints cannot express (documented
# ranges): AWS answers one of these two.
BAD_PARAMETER = ("ValidationException", "InvalidParameterCombinationException")


class Errors(ServerTestCase):
    def setUp(self):
        self.before = self.snapshot()

    def tearDown(self):
        self.assertEqual(self.snapshot(), self.before, "a refused request changed the state")

    def snapshot(self):
        s = self.server
        return {
            "fleets": s.api("describe_fleets")["Fleets"],
            "stacks": s.api("describe_stacks")["Stacks"],
            "associations": s.api("list_associated_stacks", FleetName=DEFAULT)["Names"],
        }

    def json_error(self, operation, document, **kwargs):
        return self.server.raw_error(operation, json.dumps(document).encode(), **kwargs)

    # --- the domain's refusals (AWS CLI and raw requests) -------------------

    def test_unknown_fleet_is_not_found_404(self):
        self.assertAwsError("ResourceNotFoundException",
                            self.server.aws, "describe-fleets", "--names", "no-such-fleet")
        self.assertAwsError("ResourceNotFoundException",
                            self.server.api, "start_fleet", Name="no-such-fleet", status=404)
        err = self.json_error("DescribeFleets", {"Names": ["no-such-fleet"]})
        self.assertEqual((err.code, err.status), ("ResourceNotFoundException", 404), err)

    def test_duplicate_create_already_exists(self):
        self.assertAwsError("ResourceAlreadyExistsException",
                            self.server.aws, "create-stack", "--name", DEFAULT)
        self.assertAwsError(
            "ResourceAlreadyExistsException", self.server.api, "create_fleet", Name=DEFAULT,
            ImageName=DEFAULT, InstanceType="stream.standard.small",
            ComputeCapacity={"DesiredInstances": 1}, status=400)

    def test_name_not_matching_the_pattern(self):
        # The CLI does not check patterns itself: this is the server's validation.
        err = self.assertAwsError("ValidationException",
                                  self.server.aws, "create-stack", "--name", "bad name!")
        # AWS's wording: "Value 'bad name!' at 'name' failed to satisfy constraint: ..."
        self.assertIn("at 'name' failed to satisfy constraint", err.message)

    def test_missing_required_member(self):
        err = self.json_error("CreateStack", {"DisplayName": "no name"})
        self.assertEqual((err.code, err.status), ("ValidationException", 400), err)

    def test_wrong_member_type(self):
        err = self.json_error("CreateStack", {"Name": 42})
        self.assertIn(err.code, ("ValidationException", "SerializationException"), err)
        self.assertEqual(err.status, 400)

    def test_validity_out_of_range(self):
        for validity in (0, 604801):
            with self.subTest(validity=validity):
                err = self.json_error("CreateStreamingURL", {
                    "StackName": DEFAULT, "FleetName": DEFAULT, "UserId": "alice",
                    "Validity": validity})
                self.assertIn(err.code, BAD_PARAMETER, err)
                self.assertEqual(err.status, 400)

    def test_describe_sessions_limit_over_50(self):
        err = self.json_error("DescribeSessions",
                              {"StackName": DEFAULT, "FleetName": DEFAULT, "Limit": 51})
        self.assertIn(err.code, BAD_PARAMETER, err)
        self.assertEqual(err.status, 400)

    def test_unknown_instance_type(self):
        err = self.json_error("CreateFleet", {
            "Name": "bogus-type", "ImageName": DEFAULT, "InstanceType": "stream.bogus.huge",
            "ComputeCapacity": {"DesiredInstances": 1}})
        self.assertIn(err.code, BAD_PARAMETER, err)
        self.assertEqual(err.status, 400)

    def test_deleting_a_running_fleet_is_refused(self):
        self.assertAwsError("ResourceInUseException",
                            self.server.aws, "delete-fleet", "--name", DEFAULT)

    def test_unsupported_operation(self):
        err = self.assertAwsError(
            "UnsupportedOperationException", self.server.aws, "create-app-block-builder",
            "--name", "builder", "--instance-type", "stream.standard.small",
            "--platform", "WINDOWS_SERVER_2019", "--vpc-config", "SubnetIds=subnet-1")
        self.assertIn("CreateAppBlockBuilder", err.message)
        err = self.json_error("CreateAppBlockBuilder",
                              {"Name": "builder", "InstanceType": "stream.standard.small",
                               "Platform": "WINDOWS_SERVER_2019",
                               "VpcConfig": {"SubnetIds": ["subnet-1"]}})
        self.assertEqual(err.code, "UnsupportedOperationException", err)
        self.assertEqual(err.status, 400)

    # --- the wire layer ------------------------------------------------------

    def test_bogus_target(self):
        for target in ("PhotonAdminProxyService.NoSuchOperation", "SomethingElse.DescribeFleets"):
            with self.subTest(target=target):
                err = self.server.raw_error("DescribeFleets", b"{}", target=target)
                self.assertEqual((err.code, err.status), ("UnknownOperationException", 400), err)

    def test_malformed_json(self):
        err = self.server.raw_error("DescribeFleets", b'{"Names": [')
        self.assertEqual((err.code, err.status), ("SerializationException", 400), err)

    def test_malformed_cbor(self):
        # A map announcing one pair whose key is a 5-byte string cut short.
        err = self.server.raw_error("DescribeFleets", b"\xa1\x65Nam", protocol="cbor")
        self.assertEqual((err.code, err.status), ("SerializationException", 400), err)

    def test_oversized_body(self):
        body = json.dumps({"Name": "x", "Description": "y" * (1536 * 1024)}).encode()
        status, _, response = self.server.raw("CreateStack", body)
        self.assertEqual(status, 413, response[:200])

    # --- SigV4 ---------------------------------------------------------------

    def test_no_authorization(self):
        err = self.server.raw_error("DescribeFleets", b"{}", sign=False)
        self.assertEqual((err.code, err.status), ("MissingAuthenticationTokenException", 403), err)

    def test_wrong_secret(self):
        err = self.server.raw_error("DescribeFleets", b"{}", secret="not-the-secret")
        self.assertEqual((err.code, err.status), ("InvalidSignatureException", 403), err)

    def test_unknown_access_key(self):
        err = self.server.raw_error("DescribeFleets", b"{}", key="AKIDUNKNOWNUNKNOWN00")
        self.assertEqual((err.code, err.status), ("UnrecognizedClientException", 403), err)

    def test_signed_20_minutes_ago(self):
        err = self.server.raw_error(
            "DescribeFleets", b"{}", signed_at=utc_now() - datetime.timedelta(minutes=20))
        self.assertEqual(err.status, 403, err)
        # AWS: InvalidSignatureException "Signature expired: ... is now earlier than ..."
        self.assertEqual(err.code, "InvalidSignatureException", err)
        self.assertIn("expired", err.message.lower())

    def test_signed_request_is_accepted(self):
        """The control for the cases above: the same hand-made request, signed
        now with the right key, succeeds (in both protocols)."""
        status, headers, body = self.server.raw("DescribeFleets", b"{}")
        self.assertEqual(status, 200, body)
        self.assertIn(DEFAULT, [f["Name"] for f in json.loads(body)["Fleets"]])
        status, headers, body = self.server.raw("DescribeFleets", b"\xa0", protocol="cbor")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["smithy-protocol"], "rpc-v2-cbor")


if __name__ == "__main__":
    unittest.main()
