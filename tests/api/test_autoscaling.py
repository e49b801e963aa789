"""Application Auto Scaling on a fleet with the installed AWS CLI
(`aws application-autoscaling`, awsJson1_1 signed for application-autoscaling):
a target-tracking policy on CapacityUtilization grows the fleet as browsers
open sessions."""

import json
import os
import subprocess
import sys
import unittest

from harness import FLEET_TIMEOUT, PYDEPS, ServerTestCase, wait_until

FLEET = "scaled-fleet"
STACK = "scaled-stack"
RESOURCE = f"fleet/{FLEET}"
DIMENSION = "appstream:fleet:DesiredCapacity"
TARGET = ["--service-namespace", "appstream", "--resource-id", RESOURCE,
          "--scalable-dimension", DIMENSION]
TRACKING = {
    "TargetValue": 50,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "AppStreamAverageCapacityUtilization"},
    "ScaleOutCooldown": 0,
    "ScaleInCooldown": 3600,
}

BOTO3_DESCRIBE = """
import json, sys, boto3
client = boto3.client("application-autoscaling", endpoint_url=sys.argv[1], region_name="us-east-1")
out = client.describe_scalable_targets(ServiceNamespace="appstream", ResourceIds=[sys.argv[2]])
print(json.dumps([t["MaxCapacity"] for t in out["ScalableTargets"]]))
"""


class AutoScaling(ServerTestCase):
    def aas(self, operation, *args):
        return self.server.aws(operation, *args, service="application-autoscaling")

    def targets(self):
        return self.aas("describe-scalable-targets", "--service-namespace", "appstream",
                        "--resource-ids", RESOURCE)["ScalableTargets"]

    def desired(self):
        return self.server.fleet(FLEET)["ComputeCapacityStatus"]

    def test_target_tracking_grows_the_fleet_with_sessions(self):
        s = self.server
        s.aws("create-fleet", "--name", FLEET, "--image-name", "porthole-default",
              "--instance-type", "stream.standard.small", "--fleet-type", "ALWAYS_ON",
              "--compute-capacity", "DesiredInstances=1")
        s.aws("create-stack", "--name", STACK)
        s.aws("associate-fleet", "--fleet-name", FLEET, "--stack-name", STACK)
        s.aws("start-fleet", "--name", FLEET)

        registered = self.aas("register-scalable-target", *TARGET,
                              "--min-capacity", "1", "--max-capacity", "3")
        self.assertRegex(registered["ScalableTargetARN"],
                         r"^arn:aws:application-autoscaling:us-east-1:\d+:scalable-target/[0-9a-f]+$")
        policy = self.aas("put-scaling-policy", "--policy-name", "util50", *TARGET,
                          "--policy-type", "TargetTrackingScaling",
                          "--target-tracking-scaling-policy-configuration", json.dumps(TRACKING))
        self.assertTrue(policy["PolicyARN"].endswith(f":resource/appstream/{RESOURCE}:policyName/util50"),
                        policy)

        [target] = self.targets()
        self.assertEqual((target["MinCapacity"], target["MaxCapacity"]), (1, 3))
        self.assertEqual(target["ScalableTargetARN"], registered["ScalableTargetARN"])
        self.assertEqual(target["SuspendedState"]["DynamicScalingOutSuspended"], False)
        [described] = self.aas("describe-scaling-policies", "--service-namespace", "appstream",
                               "--resource-id", RESOURCE)["ScalingPolicies"]
        self.assertEqual(described["PolicyARN"], policy["PolicyARN"])
        self.assertEqual(described["PolicyType"], "TargetTrackingScaling")
        self.assertEqual(described["TargetTrackingScalingPolicyConfiguration"]["TargetValue"], 50.0)
        self.assertEqual(described["TargetTrackingScalingPolicyConfiguration"]["ScaleInCooldown"], 3600)

        s.wait_fleet_state(FLEET, "RUNNING")
        self.assertEqual(self.desired()["Desired"], 1, "no load, no scaling")
        # One session in use on one instance is 100 %: the 50 % target wants 2.
        browsers = [s.open_browser(STACK, FLEET, "alice")]
        try:
            wait_until(lambda: self.desired()["Desired"] == 2, FLEET_TIMEOUT,
                       "the policy to scale out to 2")
            # The new instance comes up, a second session takes it: 2 in use
            # wants 4, capped by MaxCapacity at 3.
            wait_until(lambda: (c := self.desired())["Available"] >= 1 and c, FLEET_TIMEOUT,
                       "the added instance to be available")
            browsers.append(s.open_browser(STACK, FLEET, "bob"))
            capacity = wait_until(lambda: (c := self.desired())["Desired"] == 3 and c,
                                  FLEET_TIMEOUT, "the policy to scale out to 3 (max)")
            self.assertEqual(capacity["InUse"], 2, capacity)
        finally:
            for browser in browsers:
                browser.close()

        activities = self.aas("describe-scaling-activities", "--service-namespace", "appstream",
                              "--resource-id", RESOURCE)["ScalingActivities"]
        self.assertEqual([a["Description"] for a in activities],
                         ["Setting desired capacity to 3.", "Setting desired capacity to 2."])
        self.assertTrue(all(a["StatusCode"] == "Successful" for a in activities), activities)
        self.assertIn("util50", activities[0]["Cause"])

        self.boto3_sees_the_target()
        self.bad_input_changes_nothing()

        self.aas("deregister-scalable-target", *TARGET)
        self.assertEqual(self.targets(), [])
        self.assertEqual(self.aas("describe-scaling-policies", "--service-namespace", "appstream")
                         ["ScalingPolicies"], [])
        err = self.assertAwsError("ObjectNotFoundException", self.aas, "deregister-scalable-target",
                                  *TARGET)
        self.assertIn(FLEET, err.message)

    def boto3_sees_the_target(self):
        if not (PYDEPS / "boto3").is_dir():
            return
        env = self.server.aws_env()
        env["PYTHONPATH"] = os.pathsep.join([str(PYDEPS), env.get("PYTHONPATH", "")])
        done = subprocess.run([sys.executable, "-c", BOTO3_DESCRIBE, self.server.url, RESOURCE],
                              env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(json.loads(done.stdout), [3])

    def bad_input_changes_nothing(self):
        before = self.targets()
        cases = [
            ("ValidationException", ["register-scalable-target", "--service-namespace", "ecs",
                                     "--resource-id", RESOURCE, "--scalable-dimension", DIMENSION,
                                     "--min-capacity", "1", "--max-capacity", "9"]),
            ("ValidationException", ["register-scalable-target", "--service-namespace", "appstream",
                                     "--resource-id", "fleet/no-such-fleet",
                                     "--scalable-dimension", DIMENSION,
                                     "--min-capacity", "1", "--max-capacity", "9"]),
            ("ValidationException", ["register-scalable-target", *TARGET,
                                     "--min-capacity", "5", "--max-capacity", "2"]),
            ("ValidationException", ["put-scaling-policy", "--policy-name", "steps", *TARGET,
                                     "--policy-type", "StepScaling",
                                     "--step-scaling-policy-configuration",
                                     json.dumps({"AdjustmentType": "ChangeInCapacity"})]),
            ("ObjectNotFoundException", ["delete-scaling-policy", "--policy-name", "nosuch",
                                         *TARGET]),
            ("UnsupportedOperationException", ["describe-scheduled-actions",
                                               "--service-namespace", "appstream"]),
            ("InvalidNextTokenException", ["describe-scalable-targets",
                                           "--service-namespace", "appstream",
                                           "--starting-token", "not-a-token"]),
        ]
        for code, args in cases:
            with self.subTest(args=args):
                err = self.assertAwsError(code, self.aas, *args)
                if args[0] == "put-scaling-policy":
                    self.assertIn("not supported", err.message)
        self.assertEqual(self.targets(), before)
        # Another service's namespace has nothing here, as AWS would answer.
        self.assertEqual(self.aas("describe-scalable-targets", "--service-namespace", "ecs"),
                         {"ScalableTargets": []})
        self.assertEqual([p["PolicyName"] for p in self.aas(
            "describe-scaling-policies", "--service-namespace", "appstream")["ScalingPolicies"]],
            ["util50"])

    def test_signature_for_the_wrong_service_is_refused(self):
        # A request for Application Auto Scaling signed with AppStream's scope.
        err = self.server.raw_error("DescribeScalableTargets",
                                    json.dumps({"ServiceNamespace": "appstream"}).encode(),
                                    target="AnyScaleFrontendService.DescribeScalableTargets")
        self.assertEqual(err.status, 403, err)
        self.assertIn("application-autoscaling", err.message)


if __name__ == "__main__":
    unittest.main()
