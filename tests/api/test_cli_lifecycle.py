"""The whole fleet/stack lifecycle with the installed AWS CLI (awsJson1_1)."""

import datetime
import unittest
import urllib.request

from harness import FLEET_TIMEOUT, ServerTestCase, wait_until

FLEET = "cli-fleet"
STACK = "cli-stack"


def run_short_lifecycle(test, server, fleet=FLEET, stack=STACK):
    """create -> associate -> start -> RUNNING -> streaming URL -> stop ->
    delete: the part every store backend must carry (also used by test_postgres)."""
    created = server.aws(
        "create-fleet", "--name", fleet, "--image-name", "porthole-default",
        "--instance-type", "stream.standard.small", "--fleet-type", "ALWAYS_ON",
        "--compute-capacity", "DesiredInstances=1",
    )["Fleet"]
    test.assertEqual(created["Name"], fleet)
    test.assertEqual(created["Arn"], f"arn:aws:appstream:us-east-1:000000000000:fleet/{fleet}")
    test.assertEqual(server.fleet(fleet)["State"], "STOPPED")

    server.aws("create-stack", "--name", stack)
    server.aws("associate-fleet", "--fleet-name", fleet, "--stack-name", stack)
    server.aws("start-fleet", "--name", fleet)
    running = server.wait_fleet_state(fleet, "RUNNING")
    test.assertEqual(running["ComputeCapacityStatus"]["Running"], 1, running)
    test.assertEqual(running["ComputeCapacityStatus"]["Available"], 1, running)

    url = server.aws("create-streaming-url", "--stack-name", stack, "--fleet-name", fleet,
                     "--user-id", "alice", "--validity", "300")
    test.assertTrue(url["StreamingURL"].startswith(server.url + "/session/"), url)
    with urllib.request.urlopen(url["StreamingURL"], timeout=10) as page:
        test.assertEqual(page.status, 200)

    server.aws("stop-fleet", "--name", fleet)
    server.wait_fleet_state(fleet, "STOPPED")
    server.aws("disassociate-fleet", "--fleet-name", fleet, "--stack-name", stack)
    server.aws("delete-fleet", "--name", fleet)
    server.aws("delete-stack", "--name", stack)
    test.assertEqual(_fleet_names(server), ["porthole-default"])
    return url


def _fleet_names(server):
    return sorted(f["Name"] for f in server.aws("describe-fleets")["Fleets"])


class CliLifecycle(ServerTestCase):
    def test_fleet_and_stack_lifecycle(self):
        s = self.server
        fleet = s.aws(
            "create-fleet", "--name", FLEET, "--display-name", "CLI fleet",
            "--image-name", "porthole-default", "--instance-type", "stream.standard.small",
            "--fleet-type", "ALWAYS_ON", "--compute-capacity", "DesiredInstances=1",
            "--max-user-duration-in-seconds", "3600", "--disconnect-timeout-in-seconds", "300",
        )["Fleet"]
        self.assertEqual(fleet["State"], "STOPPED")
        self.assertEqual(fleet["ComputeCapacityStatus"]["Desired"], 1)
        described = s.fleet(FLEET)
        self.assertEqual(described["State"], "STOPPED")
        self.assertEqual(described["MaxUserDurationInSeconds"], 3600)
        self.assertEqual(described["DisconnectTimeoutInSeconds"], 300)
        self.assertIsInstance(described["CreatedTime"], datetime.datetime)

        stack = s.aws("create-stack", "--name", STACK, "--display-name", "CLI stack")["Stack"]
        self.assertEqual(stack["Arn"], f"arn:aws:appstream:us-east-1:000000000000:stack/{STACK}")
        s.aws("associate-fleet", "--fleet-name", FLEET, "--stack-name", STACK)
        s.aws("start-fleet", "--name", FLEET)
        self.assertIn(s.fleet(FLEET)["State"], ("STARTING", "RUNNING"))
        running = s.wait_fleet_state(FLEET, "RUNNING")
        # The real waiter (30 s between polls) returns at its first poll now.
        s.aws("wait", "fleet-started", "--names", FLEET, timeout=20)
        self.assertEqual(
            running["ComputeCapacityStatus"],
            {"Desired": 1, "Running": 1, "InUse": 0, "Available": 1},
        )

        self.assertEqual(s.aws("list-associated-stacks", "--fleet-name", FLEET)["Names"], [STACK])
        self.assertEqual(s.aws("list-associated-fleets", "--stack-name", STACK)["Names"], [FLEET])

        url = s.aws("create-streaming-url", "--stack-name", STACK, "--fleet-name", FLEET,
                    "--user-id", "alice", "--application-id", "xterm", "--validity", "600")
        self.assertTrue(url["StreamingURL"].startswith(s.url + "/session/"), url)
        self.assertIsInstance(url["Expires"], (int, float))
        with urllib.request.urlopen(url["StreamingURL"], timeout=10) as page:
            self.assertEqual(page.status, 200)
            self.assertIn(b"<", page.read(200))
        # Opening the URL starts the session, as AppStream does (its app starts
        # while the page loads); no browser has connected to it yet.
        sessions = wait_until(
            lambda: s.aws("describe-sessions", "--stack-name", STACK,
                          "--fleet-name", FLEET).get("Sessions"),
            10, "the session the page opened", interval=0.2)
        self.assertEqual(
            [(x["UserId"], x["State"], x["ConnectionState"]) for x in sessions],
            [("alice", "ACTIVE", "NOT_CONNECTED")])
        s.aws("expire-session", "--session-id", sessions[0]["Id"])

        arn = fleet["Arn"]
        s.aws("tag-resource", "--resource-arn", arn, "--tags", "team=qa,env=test")
        self.assertEqual(s.aws("list-tags-for-resource", "--resource-arn", arn)["Tags"],
                         {"team": "qa", "env": "test"})
        s.aws("untag-resource", "--resource-arn", arn, "--tag-keys", "env")
        self.assertEqual(s.aws("list-tags-for-resource", "--resource-arn", arn)["Tags"],
                         {"team": "qa"})

        s.aws("update-fleet", "--name", FLEET, "--display-name", "Renamed fleet",
              "--compute-capacity", "DesiredInstances=2")
        grown = wait_until(
            lambda: (f := s.fleet(FLEET))["ComputeCapacityStatus"]["Running"] == 2 and f,
            FLEET_TIMEOUT, "a second running instance", interval=0.5)
        self.assertEqual(grown["DisplayName"], "Renamed fleet")
        self.assertEqual(grown["ComputeCapacityStatus"]["Desired"], 2)
        self.assertEqual(grown["ComputeCapacityStatus"]["Available"], 2)

        updated = s.aws("update-stack", "--name", STACK, "--display-name", "Renamed stack")["Stack"]
        self.assertEqual(updated["DisplayName"], "Renamed stack")
        self.assertEqual(
            s.aws("describe-stacks", "--names", STACK)["Stacks"][0]["DisplayName"], "Renamed stack")

        s.aws("stop-fleet", "--name", FLEET)
        stopped = s.wait_fleet_state(FLEET, "STOPPED")
        self.assertEqual(stopped["ComputeCapacityStatus"]["Running"], 0, stopped)
        s.aws("disassociate-fleet", "--fleet-name", FLEET, "--stack-name", STACK)
        self.assertEqual(s.aws("list-associated-stacks", "--fleet-name", FLEET).get("Names", []), [])
        s.aws("delete-fleet", "--name", FLEET)
        s.aws("delete-stack", "--name", STACK)
        self.assertEqual(_fleet_names(s), ["porthole-default"])
        self.assertEqual(sorted(st["Name"] for st in s.aws("describe-stacks")["Stacks"]),
                         ["porthole-default"])

        images = s.aws("describe-images", "--names", "porthole-default")["Images"]
        self.assertEqual(len(images), 1)
        self.assertEqual(images[0]["State"], "AVAILABLE")
        self.assertIn("xterm", [a["Name"] for a in images[0]["Applications"]])


if __name__ == "__main__":
    unittest.main()
