"""DeleteImage with the AWS CLI: refused while a fleet uses the image, then
the image is gone, also after a restart."""

import unittest

from harness import Server, ServerTestCase

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


if __name__ == "__main__":
    unittest.main()
