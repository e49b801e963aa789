"""Entitlements with the AWS CLI on the default stack."""

import unittest

from harness import ServerTestCase

DEFAULT = "porthole-default"


class Entitlements(ServerTestCase):
    def test_an_entitlement_with_its_apps_through_the_cli(self):
        s = self.server
        created = s.aws("create-entitlement", "--name", "eng", "--stack-name", DEFAULT,
                        "--app-visibility", "ASSOCIATED",
                        "--attributes", "Name=groups,Value=eng")["Entitlement"]
        self.assertEqual((created["Name"], created["StackName"], created["Attributes"]),
                         ("eng", DEFAULT, [{"Name": "groups", "Value": "eng"}]))
        self.assertAwsError("EntitlementAlreadyExistsException", s.aws, "create-entitlement",
                            "--name", "eng", "--stack-name", DEFAULT, "--app-visibility", "ALL",
                            "--attributes", "Name=groups,Value=eng")
        s.aws("associate-application-to-entitlement", "--stack-name", DEFAULT,
              "--entitlement-name", "eng", "--application-identifier", "xterm")
        self.assertAwsError("ResourceNotFoundException", s.aws,
                            "associate-application-to-entitlement", "--stack-name", DEFAULT,
                            "--entitlement-name", "eng", "--application-identifier", "no-such-app")
        apps = s.aws("list-entitled-applications", "--stack-name", DEFAULT,
                     "--entitlement-name", "eng")["EntitledApplications"]
        self.assertEqual(apps, [{"ApplicationIdentifier": "xterm"}])
        s.aws("update-entitlement", "--name", "eng", "--stack-name", DEFAULT,
              "--description", "engineering")
        described = s.aws("describe-entitlements", "--stack-name", DEFAULT)["Entitlements"]
        self.assertEqual([(e["Name"], e.get("Description")) for e in described],
                         [("eng", "engineering")])
        s.aws("delete-entitlement", "--name", "eng", "--stack-name", DEFAULT)
        self.assertAwsError("EntitlementNotFoundException", s.aws, "describe-entitlements",
                            "--stack-name", DEFAULT, "--name", "eng")


if __name__ == "__main__":
    unittest.main()
