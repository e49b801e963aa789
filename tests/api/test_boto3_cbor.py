"""The newest boto3 speaks rpcv2Cbor to AppStream: the lifecycle incl. the
FleetStarted waiter, with CBOR checked on every request actually sent."""

import json
import os
import subprocess
import sys
import unittest
from pathlib import Path

from harness import PYDEPS, ServerTestCase

CLIENT = Path(__file__).with_name("boto3_cbor_client.py")


class Boto3Cbor(ServerTestCase):
    def test_lifecycle_over_cbor(self):
        if not (PYDEPS / "boto3").is_dir():
            self.skipTest(f"boto3 is not installed in {PYDEPS}: run scripts/install-deps.sh")
        env = self.server.aws_env()
        # PYDEPS first: its botocore must win over the AWS CLI's.
        env["PYTHONPATH"] = os.pathsep.join([str(PYDEPS), env.get("PYTHONPATH", "")])
        done = subprocess.run([sys.executable, str(CLIENT), self.server.url], env=env,
                              capture_output=True, text=True, timeout=240)
        self.assertEqual(done.returncode, 0, f"{done.stderr}\n{self.server.log_tail()}")
        summary = json.loads(done.stdout)

        self.assertEqual(summary["protocol"], "smithy-rpc-v2-cbor", summary["botocore"])
        self.assertGreater(len(summary["requests"]), 10)
        for url, content_type in summary["requests"]:
            self.assertIn("/service/PhotonAdminProxyService/operation/", url)
            self.assertEqual(content_type, "application/cbor", url)
        self.assertEqual(summary["capacity"]["Running"], 1, summary)
        self.assertEqual(summary["not_found_status"], 404)
        self.assertTrue(summary["streaming_url"].startswith(self.server.url + "/session/"))


if __name__ == "__main__":
    unittest.main()
