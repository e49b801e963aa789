"""Images with the AWS CLI: DeleteImage refused while a fleet uses the image,
then the image is gone, also after a restart; a running fleet given a copy of
its image by UpdateFleet (idle instances replaced, sessions left alone);
image permissions recorded, described and deleted, also after a restart."""

import unittest
import urllib.request

from harness import FLEET_TIMEOUT, Server, ServerTestCase, wait_until

DEFAULT = "porthole-default"


class DeleteImage(ServerTestCase):
    def test_an_image_in_use_is_kept_and_a_deleted_one_stays_deleted(self):
        s = self.server
        self.assertAwsError("ResourceInUseException", s.aws, "delete-image", "--name", DEFAULT)
        self.assertEqual(
            [i["Name"] for i in s.aws("describe-images", "--names", DEFAULT)["Images"]], [DEFAULT])

        s.aws("stop-fleet", "--name", DEFAULT)
        s.wait_fleet_state(DEFAULT, "STOPPED")
        s.aws("disassociate-fleet", "--fleet-name", DEFAULT, "--stack-name", DEFAULT)
        s.aws("delete-fleet", "--name", DEFAULT)
        deleted = s.aws("delete-image", "--name", DEFAULT)["Image"]
        self.assertEqual(deleted["Name"], DEFAULT)
        self.assertEqual(deleted["Arn"], f"arn:aws:appstream:us-east-1:000000000000:image/{DEFAULT}")
        self.assertAwsError("ResourceNotFoundException", s.aws, "describe-images", "--names", DEFAULT)
        self.assertAwsError("ResourceNotFoundException", s.aws, "delete-image", "--name", DEFAULT)

        s.stop()
        # Not a first start: no default image, fleet or welcome URL is made again.
        restarted = Server(s.data_dir).start(wait_for_welcome=False)
        self.__class__.server = restarted  # tearDownClass stops this one
        self.assertNotIn(DEFAULT, [i["Name"] for i in restarted.aws("describe-images")["Images"]])
        self.assertEqual(restarted.aws("describe-fleets")["Fleets"], [])


ARN = "arn:aws:appstream:us-east-1:000000000000:image/"


def copy_default(s, name, *args):
    return s.aws("copy-image", "--source-image-name", DEFAULT, "--destination-image-name", name,
                 "--destination-region", "us-east-1", *args)


class UpdateFleetImage(ServerTestCase):
    def test_a_running_fleet_takes_a_copy_and_keeps_the_busy_instance_until_its_session_ends(self):
        s = self.server
        s.wait_fleet_state(DEFAULT, "RUNNING")
        self.assertEqual(copy_default(s, "v2", "--destination-image-description", "second")
                         ["DestinationImageName"], "v2")
        source, copy = s.aws("describe-images", "--names", DEFAULT, "v2")["Images"]
        self.assertEqual((copy["Arn"], copy["Description"], copy["State"], copy["Visibility"]),
                         (ARN + "v2", "second", "AVAILABLE", "PRIVATE"))
        self.assertEqual(copy["Applications"], source["Applications"])
        self.assertAwsError("InvalidParameterCombinationException", s.aws, "copy-image",
                            "--source-image-name", DEFAULT, "--destination-image-name", "v3",
                            "--destination-region", "eu-west-1")
        self.assertAwsError("ResourceAlreadyExistsException", copy_default, s, "v2")
        self.assertAwsError("ResourceNotFoundException", s.aws, "update-fleet", "--name", DEFAULT,
                            "--image-name", "missing")

        url = s.aws("create-streaming-url", "--stack-name", DEFAULT, "--fleet-name", DEFAULT,
                    "--user-id", "alice", "--validity", "600")["StreamingURL"]
        with urllib.request.urlopen(url, timeout=10) as page:
            self.assertEqual(page.status, 200)
        sessions = wait_until(
            lambda: s.aws("describe-sessions", "--stack-name", DEFAULT,
                          "--fleet-name", DEFAULT).get("Sessions"),
            10, "the session the page opened", interval=0.2)

        updated = s.aws("update-fleet", "--name", DEFAULT, "--image-arn", ARN + "v2",
                        "--compute-capacity", "DesiredInstances=2")["Fleet"]
        self.assertEqual((updated["ImageName"], updated["ImageArn"]), ("v2", ARN + "v2"))
        described = s.fleet(DEFAULT)
        self.assertEqual((described["ImageName"], described["ImageArn"], described["State"]),
                         ("v2", ARN + "v2", "RUNNING"))
        wait_until(lambda: s.fleet(DEFAULT)["ComputeCapacityStatus"]
                   == {"Desired": 2, "Running": 2, "InUse": 1, "Available": 1},
                   FLEET_TIMEOUT, "an instance of the new image beside the busy one", interval=0.5)
        self.assertEqual([x["State"] for x in s.aws("describe-sessions", "--stack-name", DEFAULT,
                                                    "--fleet-name", DEFAULT)["Sessions"]],
                         ["ACTIVE"], "the session is left alone")
        # The busy instance still runs from the old image.
        self.assertAwsError("ResourceInUseException", s.aws, "delete-image", "--name", DEFAULT)

        s.aws("expire-session", "--session-id", sessions[0]["Id"])
        wait_until(lambda: s.fleet(DEFAULT)["ComputeCapacityStatus"]
                   == {"Desired": 2, "Running": 2, "InUse": 0, "Available": 2},
                   FLEET_TIMEOUT, "the busy instance replaced", interval=0.5)
        wait_until(lambda: self._deleted(DEFAULT), 20, "the old image deletable")
        # The copy shares the deleted image's root: it still streams.
        self.assertEqual(s.aws("describe-images", "--names", "v2")["Images"][0]["State"],
                         "AVAILABLE")
        self.assertEqual(s.fleet(DEFAULT)["ComputeCapacityStatus"]["Available"], 2)

    def _deleted(self, image):
        try:
            self.server.aws("delete-image", "--name", image)
            return True
        except Exception as err:  # AwsError while the old instance is still exiting
            if getattr(err, "code", None) != "ResourceInUseException":
                raise
            return False


class ImagePermissions(ServerTestCase):
    def test_permissions_are_recorded_described_deleted_and_kept_over_a_restart(self):
        s = self.server
        copy_default(s, "shared")
        for account, fleet in [("111111111111", "true"), ("222222222222", "true"),
                               ("111111111111", "false")]:
            s.aws("update-image-permissions", "--name", "shared", "--shared-account-id", account,
                  "--image-permissions", f"allowFleet={fleet},allowImageBuilder=true")
        described = s.aws("describe-image-permissions", "--name", "shared")
        self.assertEqual(described["Name"], "shared")
        self.assertEqual(described["SharedImagePermissionsList"], [
            {"sharedAccountId": "111111111111",
             "imagePermissions": {"allowFleet": False, "allowImageBuilder": True}},
            {"sharedAccountId": "222222222222",
             "imagePermissions": {"allowFleet": True, "allowImageBuilder": True}},
        ])
        page = s.api("describe_image_permissions", Name="shared", MaxResults=1)
        self.assertEqual([p["sharedAccountId"] for p in page["SharedImagePermissionsList"]],
                         ["111111111111"])
        rest = s.api("describe_image_permissions", Name="shared", NextToken=page["NextToken"])
        self.assertEqual([p["sharedAccountId"] for p in rest["SharedImagePermissionsList"]],
                         ["222222222222"])
        # Shared only for the other account: here the image stays PRIVATE.
        self.assertEqual(s.aws("describe-images", "--type", "SHARED")["Images"], [])
        self.assertEqual(s.aws("describe-images", "--names", "shared")["Images"][0]["Visibility"],
                         "PRIVATE")

        s.aws("delete-image-permissions", "--name", "shared", "--shared-account-id", "222222222222")
        self.assertAwsError("ResourceNotFoundException", s.aws, "delete-image-permissions",
                            "--name", "shared", "--shared-account-id", "222222222222")
        self.assertAwsError("ResourceNotFoundException", s.aws, "describe-image-permissions",
                            "--name", "missing")
        self.assertAwsError("ValidationException", s.aws, "update-image-permissions",
                            "--name", "shared", "--shared-account-id", "000000000000",
                            "--image-permissions", "allowFleet=true")

        s.stop()
        restarted = Server(s.data_dir).start(wait_for_welcome=False)
        self.__class__.server = restarted  # tearDownClass stops this one
        self.assertEqual(
            restarted.aws("describe-image-permissions", "--name", "shared")
            ["SharedImagePermissionsList"],
            [{"sharedAccountId": "111111111111",
              "imagePermissions": {"allowFleet": False, "allowImageBuilder": True}}])


if __name__ == "__main__":
    unittest.main()
