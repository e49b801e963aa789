"""State survives a restart, including kill -9: resources and tags come back,
a session that was ACTIVE is ended (never ACTIVE forever), the ALWAYS_ON
default fleet runs again on a new instance, and nothing of the old instances
(processes, runtime directories, cgroups) is left behind."""

import unittest
from pathlib import Path

from harness import FLEET_TIMEOUT, Server, ServerTestCase, import_from_pydeps, wait_until

DEFAULT = "porthole-default"
USER = "restart-user"


def processes_mentioning(text):
    """PIDs whose command line contains text (an instance's sandbox names its
    runtime directory, which carries the instance id)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            pids.append(int(proc.name))
    return pids


RUNTIME_ROOT = Path("/run/porthole")  # porthole serve's default --runtime-dir


def leftovers_of(instance_id):
    """What an instance leaves on the host: its runtime dir, its log, its cgroups."""
    paths = [RUNTIME_ROOT / instance_id, RUNTIME_ROOT / f"{instance_id}.log",
             *Path("/sys/fs/cgroup").glob(f"*/porthole/{instance_id}"),
             *Path("/sys/fs/cgroup").glob(f"porthole/{instance_id}")]
    return [p for p in paths if p.exists()]


class RestartAfterKill(ServerTestCase):
    def live_sessions(self, server):
        sessions = server.api("describe_sessions", StackName=DEFAULT, FleetName=DEFAULT,
                              UserId=USER).get("Sessions", [])
        return [s for s in sessions if s["State"] in ("ACTIVE", "PENDING")]

    def test_state_survives_sigkill(self):
        websocket = import_from_pydeps("websocket")
        s = self.server
        fleet = s.api("create_fleet", Name="kept-fleet", ImageName=DEFAULT,
                      InstanceType="stream.standard.small", FleetType="ON_DEMAND",
                      ComputeCapacity={"DesiredInstances": 1})["Fleet"]
        s.api("create_stack", Name="kept-stack", Description="survives kill -9")
        s.api("associate_fleet", FleetName="kept-fleet", StackName="kept-stack")
        s.api("tag_resource", ResourceArn=fleet["Arn"], Tags={"keep": "yes"})

        url = s.api("create_streaming_url", StackName=DEFAULT, FleetName=DEFAULT, UserId=USER,
                    Validity=600)["StreamingURL"]
        browser = websocket.create_connection(url.replace("http://", "ws://", 1) + "ws",
                                              timeout=30)
        try:
            session = wait_until(lambda: [x for x in self.live_sessions(s)
                                          if x["State"] == "ACTIVE"],
                                 FLEET_TIMEOUT, "the session to be ACTIVE")[0]
            instance_id = session.get("InstanceId")
            self.assertTrue(instance_id, session)
            self.assertTrue(processes_mentioning(instance_id), "the instance's sandbox is not running")
            s.kill()
        finally:
            browser.close()

        # A dead server's sandboxes must die with it (bwrap --die-with-parent).
        wait_until(lambda: not processes_mentioning(instance_id), 15,
                   f"the processes of instance {instance_id} to end")

        # ... but its runtime directory and cgroups stay until a server cleans up.
        self.assertTrue(leftovers_of(instance_id), "nothing left to clean up: test is moot")

        restarted = Server(s.data_dir).start()
        self.__class__.server = restarted  # tearDownClass stops this one
        # The new server removed them at start, before anything else.
        self.assertEqual(leftovers_of(instance_id), [])
        self.assertEqual(sorted(f["Name"] for f in restarted.api("describe_fleets")["Fleets"]),
                         ["kept-fleet", DEFAULT])
        kept = restarted.fleet("kept-fleet")
        self.assertEqual(kept["FleetType"], "ON_DEMAND")
        self.assertEqual(kept["State"], "STOPPED")
        self.assertEqual(
            restarted.api("describe_stacks", Names=["kept-stack"])["Stacks"][0]["Description"],
            "survives kill -9")
        self.assertEqual(restarted.api("list_associated_fleets", StackName="kept-stack")["Names"],
                         ["kept-fleet"])
        self.assertEqual(
            restarted.api("list_tags_for_resource", ResourceArn=fleet["Arn"])["Tags"],
            {"keep": "yes"})
        # The same credentials: the generated file is kept, not regenerated.
        self.assertEqual(restarted.credentials(), s.credentials())

        self.assertEqual(self.live_sessions(restarted), [])
        running = restarted.wait_fleet_state(DEFAULT, "RUNNING")
        wait_until(lambda: restarted.fleet(DEFAULT)["ComputeCapacityStatus"]["Available"] == 1,
                   FLEET_TIMEOUT, "a new available instance in the default fleet")
        self.assertEqual(running["ComputeCapacityStatus"]["InUse"], 0, running)
        # The welcome URL printed at the restart still opens a session page.
        self.assertTrue(restarted.welcome_url.startswith(restarted.url + "/session/"))


if __name__ == "__main__":
    unittest.main()
