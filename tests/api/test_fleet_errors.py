"""A fleet whose instances cannot start: DescribeFleets explains why
(FleetErrors), the server retries with a growing backoff instead of a tight
loop, other fleets keep serving, and fixing the fleet clears the errors.

The failure is real (the instance's memory cgroup is too small for the agent
and Xorg, so the kernel kills them while starting), but the limit comes from
a test-only server setting: no AppStream instance type is that small."""

import re
import time
import unittest
import urllib.request

from harness import FLEET_TIMEOUT, ServerTestCase, wait_until

DEFAULT = "porthole-default"
BROKEN = "broken-fleet"
BROKEN_TYPE = "stream.standard.medium"
WORKING_TYPE = "stream.standard.small"
CODE = "FLEET_INSTANCE_PROVISIONING_FAILURE"


class FailingFleet(ServerTestCase):
    server_env = {"PORTHOLE_TEST_INSTANCE_TYPE_MEMORY_MIB": f"{BROKEN_TYPE}=8"}

    def launch_failures(self, fleet):
        with urllib.request.urlopen(self.server.url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        match = re.search(
            rf'^porthole_instance_launch_failures_total{{fleet="{fleet}"}} (\d+)$', text, re.M)
        self.assertIsNotNone(match, text)
        return int(match.group(1))

    def test_failing_fleet_backs_off_reports_and_recovers(self):
        s = self.server
        s.wait_fleet_state(DEFAULT, "RUNNING")
        s.api("create_fleet", Name=BROKEN, ImageName=DEFAULT, InstanceType=BROKEN_TYPE,
              FleetType="ALWAYS_ON", ComputeCapacity={"DesiredInstances": 1})
        s.api("start_fleet", Name=BROKEN)

        # Each failed launch is seen as the counter going up; the gaps between them
        # are the backoff (1 s, 2 s, 4 s, ...) plus the time a launch takes to fail.
        failures_at = []
        seen = 0
        deadline = time.monotonic() + FLEET_TIMEOUT
        while len(failures_at) < 5:
            self.assertLess(time.monotonic(), deadline,
                            f"only {len(failures_at)} failures seen; {s.log_tail()}")
            count = self.launch_failures(BROKEN)
            if count > seen:
                failures_at += [time.monotonic()] * (count - seen)
                seen = count
            time.sleep(0.1)
        gaps = [b - a for a, b in zip(failures_at, failures_at[1:])]
        print(f"\nfailed launches {seen}, gaps between them: "
              + ", ".join(f"{g:.1f} s" for g in gaps))
        for k, gap in enumerate(gaps):
            self.assertGreaterEqual(gap, 0.9 * 2 ** k, f"backoff too short: {gaps}")
            self.assertLess(gap, 2 ** k + 10, f"backoff too long: {gaps}")

        fleet = s.fleet(BROKEN)
        self.assertEqual(fleet["State"], "STARTING", fleet)
        self.assertEqual(fleet["ComputeCapacityStatus"]["Running"], 0, fleet)
        self.assertEqual(len(fleet["FleetErrors"]), 1, fleet)
        error = fleet["FleetErrors"][0]
        self.assertEqual(error["ErrorCode"], CODE)
        self.assertIn("failed to start", error["ErrorMessage"])
        self.assertNotIn(str(s.data_dir), error["ErrorMessage"])
        # The AWS CLI shows the same.
        cli = s.aws("describe-fleets", "--names", BROKEN)["Fleets"][0]
        self.assertEqual(cli["FleetErrors"][0]["ErrorCode"], CODE)

        # Other fleets are unaffected.
        default = s.fleet(DEFAULT)
        self.assertEqual(default["State"], "RUNNING", default)
        self.assertEqual(default["FleetErrors"], [])
        self.assertEqual(default["ComputeCapacityStatus"]["Available"], 1, default)
        self.assertEqual(self.launch_failures(DEFAULT), 0)
        s.api("create_streaming_url", StackName=DEFAULT, FleetName=DEFAULT, UserId="other",
              Validity=60)

        # Fixed by the admin: stopped (errors gone), given a working type, started.
        s.api("stop_fleet", Name=BROKEN)
        stopped = s.wait_fleet_state(BROKEN, "STOPPED")
        self.assertEqual(stopped["FleetErrors"], [])
        s.api("update_fleet", Name=BROKEN, InstanceType=WORKING_TYPE)
        s.api("start_fleet", Name=BROKEN)
        running = s.wait_fleet_state(BROKEN, "RUNNING")
        self.assertEqual(running["FleetErrors"], [])
        self.assertEqual(running["ComputeCapacityStatus"]["Running"], 1, running)
        failed = self.launch_failures(BROKEN)
        self.assertLessEqual(failed - seen, 1, "at most the launch in flight at StopFleet")

        log = s.log_path.read_text(errors="replace")
        self.assertEqual(log.count("instance failed to start"), failed,
                         "one log line per failure, no more")


if __name__ == "__main__":
    unittest.main()
