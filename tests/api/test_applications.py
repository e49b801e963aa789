"""App blocks and applications with the AWS CLI and botocore (boto3's
client): an application associated with the default fleet joins its
sessions' catalog, deletes are refused while in use, and everything
survives a restart."""

import json
import unittest
import urllib.request

from harness import Server, ServerTestCase

DEFAULT = "porthole-default"
ACCOUNT = "arn:aws:appstream:us-east-1:000000000000"
BLOCK_ARN = f"{ACCOUNT}:app-block/tools"
APP_ARN = f"{ACCOUNT}:application/term"


class Applications(ServerTestCase):
    def catalog_names(self):
        url = self.server.api("create_streaming_url", StackName=DEFAULT, FleetName=DEFAULT,
                              UserId="ana", Validity=300)["StreamingURL"]
        with urllib.request.urlopen(url + "catalog", timeout=30) as response:
            return [a["name"] for a in json.load(response)["applications"]]

    def test_an_application_lives_from_its_app_block_to_its_deletion(self):
        s = self.server
        block = s.aws(
            "create-app-block", "--name", "tools",
            "--source-s3-location", "S3Bucket=bucket,S3Key=tools.vhdx",
            "--setup-script-details",
            "ScriptS3Location={S3Bucket=bucket,S3Key=setup.sh},ExecutablePath=/bin/sh,"
            "TimeoutInSeconds=60",
        )["AppBlock"]
        self.assertEqual(block["Arn"], BLOCK_ARN)
        self.assertEqual((block["State"], block["PackagingType"]), ("ACTIVE", "CUSTOM"))
        self.assertAwsError("ResourceAlreadyExistsException", s.aws, "create-app-block",
                            "--name", "tools", "--source-s3-location", "S3Bucket=bucket",
                            "--packaging-type", "APPSTREAM2")

        app_args = ["--name", "term", "--display-name", "Terminal",
                    "--icon-s3-location", "S3Bucket=bucket,S3Key=icon.png",
                    "--launch-path", "/usr/bin/xterm", "--launch-parameters", "-title term",
                    "--platforms", "AMAZON_LINUX2", "--instance-families", "GENERAL_PURPOSE"]
        self.assertAwsError("ResourceNotFoundException", s.aws, "create-application", *app_args,
                            "--app-block-arn", f"{ACCOUNT}:app-block/nope")
        app = s.aws("create-application", *app_args, "--app-block-arn", BLOCK_ARN)["Application"]
        self.assertEqual((app["Arn"], app["AppBlockArn"]), (APP_ARN, BLOCK_ARN))
        self.assertEqual(app["LaunchParameters"], "-title term")
        self.assertAwsError("ResourceInUseException", s.aws, "delete-app-block", "--name", "tools")

        self.assertNotIn("term", self.catalog_names())
        self.assertAwsError("ResourceNotFoundException", s.aws, "associate-application-fleet",
                            "--fleet-name", "nope", "--application-arn", APP_ARN)
        association = s.aws("associate-application-fleet", "--fleet-name", DEFAULT,
                            "--application-arn", APP_ARN)["ApplicationFleetAssociation"]
        self.assertEqual(association, {"FleetName": DEFAULT, "ApplicationArn": APP_ARN})
        listed = s.api("describe_application_fleet_associations", FleetName=DEFAULT)
        self.assertEqual(listed["ApplicationFleetAssociations"], [association])
        self.assertAwsError("InvalidParameterCombinationException", s.api,
                            "describe_application_fleet_associations")
        self.assertIn("term", self.catalog_names())
        self.assertAwsError("ResourceInUseException", s.api, "delete_application", Name="term")

        updated = s.api("update_application", Name="term", DisplayName="XTerm",
                        AttributesToDelete=["LAUNCH_PARAMETERS"])["Application"]
        self.assertEqual(updated["DisplayName"], "XTerm")
        self.assertNotIn("LaunchParameters", updated)

        s.stop()
        restarted = Server(s.data_dir).start(wait_for_welcome=False)
        self.__class__.server = s = restarted  # tearDownClass stops this one
        blocks = s.api("describe_app_blocks", Arns=[BLOCK_ARN])["AppBlocks"]
        self.assertEqual([b["Name"] for b in blocks], ["tools"])
        apps = s.aws("describe-applications")["Applications"]
        self.assertEqual([(a["Name"], a["DisplayName"]) for a in apps], [("term", "XTerm")])
        self.assertIn("term", self.catalog_names())

        s.api("disassociate_application_fleet", FleetName=DEFAULT, ApplicationArn=APP_ARN)
        by_app = s.api("describe_application_fleet_associations", ApplicationArn=APP_ARN)
        self.assertEqual(by_app["ApplicationFleetAssociations"], [])
        self.assertNotIn("term", self.catalog_names())
        s.api("delete_application", Name="term")
        s.aws("delete-app-block", "--name", "tools")
        self.assertEqual(s.api("describe_app_blocks")["AppBlocks"], [])
        self.assertAwsError("ResourceNotFoundException", s.api, "describe_applications",
                            Arns=[APP_ARN])


if __name__ == "__main__":
    unittest.main()
