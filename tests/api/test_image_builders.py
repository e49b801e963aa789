"""Image builders with the AWS CLI and botocore: a builder's life cycle (PENDING,
RUNNING with a streaming URL that opens, STOPPING, STOPPED, started again,
DELETING, gone), the errors of each operation, tags on its ARN, pages of
DescribeImageBuilders, and builders kept (and relaunched) over a restart."""

import time
import unittest
import urllib.request

from harness import FLEET_TIMEOUT, AwsError, Server, ServerTestCase, wait_until

DEFAULT = "porthole-default"
ACCOUNT = "arn:aws:appstream:us-east-1:000000000000"
BUILDER_ARN = f"{ACCOUNT}:image-builder/"
SMALL = "stream.standard.small"
# Made too small for an instance to start by a test-only server setting (see test_fleet_errors).
BROKEN = "stream.standard.medium"


def state(s, name):
    """The builder's state, or the error code DescribeImageBuilders answers for it."""
    try:
        return s.api("describe_image_builders", Names=[name])["ImageBuilders"][0]["State"]
    except AwsError as err:
        return err.code


def wait_state(s, name, wanted, timeout=FLEET_TIMEOUT):
    return wait_until(lambda: state(s, name) == wanted, timeout,
                      f"image builder {name} {wanted}", interval=0.1)


def opens(url):
    with urllib.request.urlopen(url, timeout=10) as page:
        return page.status


class LifeCycle(ServerTestCase):
    def test_a_builder_runs_streams_stops_starts_and_is_deleted(self):
        s = self.server
        s.aws("copy-image", "--source-image-name", DEFAULT, "--destination-image-name", "base",
              "--destination-region", "us-east-1")
        created = s.aws("create-image-builder", "--name", "b1", "--image-name", "base",
                        "--instance-type", SMALL, "--display-name", "Builder one",
                        "--description", "for tests", "--enable-default-internet-access")
        builder = created["ImageBuilder"]
        self.assertEqual(
            {k: builder.get(k) for k in ("Name", "Arn", "ImageArn", "InstanceType", "Platform",
                                         "State", "DisplayName", "Description",
                                         "EnableDefaultInternetAccess")},
            {"Name": "b1", "Arn": BUILDER_ARN + "b1", "ImageArn": f"{ACCOUNT}:image/base",
             "InstanceType": SMALL, "Platform": "AMAZON_LINUX2", "State": "PENDING",
             "DisplayName": "Builder one", "Description": "for tests",
             "EnableDefaultInternetAccess": True})
        self.assertLess(abs(builder["CreatedTime"] - time.time()), 60, builder)

        wait_state(s, "b1", "RUNNING")
        before = time.time()
        url = s.aws("create-image-builder-streaming-url", "--name", "b1", "--validity", "600")
        self.assertAlmostEqual(url["Expires"], before + 600, delta=30)
        self.assertEqual(opens(url["StreamingURL"]), 200)
        # The image a builder is made from is kept while the builder exists.
        self.assertAwsError("ResourceInUseException", s.aws, "delete-image", "--name", "base")

        self.assertEqual(s.aws("stop-image-builder", "--name", "b1")["ImageBuilder"]["State"],
                         "STOPPING")
        wait_state(s, "b1", "STOPPED")
        self.assertAwsError("ResourceNotAvailableException", s.aws,
                            "create-image-builder-streaming-url", "--name", "b1")

        self.assertEqual(s.aws("start-image-builder", "--name", "b1")["ImageBuilder"]["State"],
                         "PENDING")
        wait_state(s, "b1", "RUNNING")
        self.assertEqual(opens(s.api("create_image_builder_streaming_url", Name="b1",
                                     Validity=60)["StreamingURL"]), 200)

        deleted = s.aws("delete-image-builder", "--name", "b1")["ImageBuilder"]
        self.assertEqual((deleted["Name"], deleted["State"]), ("b1", "DELETING"))
        wait_state(s, "b1", "ResourceNotFoundException", timeout=30)
        self.assertEqual(s.aws("describe-image-builders")["ImageBuilders"], [])
        self.assertEqual(s.aws("delete-image", "--name", "base")["Image"]["Name"], "base")


class Errors(ServerTestCase):
    server_env = {"PORTHOLE_TEST_INSTANCE_TYPE_MEMORY_MIB": f"{BROKEN}=8"}

    def test_errors_have_appstreams_codes(self):
        s = self.server
        s.api("create_image_builder", Name="b1", ImageName=DEFAULT, InstanceType=SMALL)
        create = ["create-image-builder", "--instance-type", SMALL]
        for code, args in [
            ("ResourceAlreadyExistsException", ["--name", "b1", "--image-name", DEFAULT]),
            ("ResourceNotFoundException", ["--name", "b2", "--image-name", "missing"]),
            ("ResourceNotFoundException", ["--name", "b2", "--image-arn", f"{ACCOUNT}:image/missing"]),
            ("InvalidParameterCombinationException",
             ["--name", "b2", "--image-name", DEFAULT, "--image-arn", f"{ACCOUNT}:image/{DEFAULT}"]),
        ]:
            with self.subTest(code=code, args=args):
                self.assertAwsError(code, s.aws, *create, *args)
        self.assertAwsError("ValidationException", s.aws, "create-image-builder", "--name", "b2",
                            "--image-name", DEFAULT, "--instance-type", "stream.nonsense.huge")
        self.assertEqual([b["Name"] for b in s.aws("describe-image-builders")["ImageBuilders"]],
                         ["b1"], "no failed create left a builder behind")

        for op in ("start-image-builder", "stop-image-builder", "delete-image-builder",
                   "create-image-builder-streaming-url"):
            with self.subTest(op=op):
                self.assertAwsError("ResourceNotFoundException", s.aws, op, "--name", "missing")
        self.assertAwsError("ResourceNotFoundException", s.aws, "describe-image-builders",
                            "--names", "b1", "missing")
        wait_state(s, "b1", "RUNNING")
        for validity in (0, 604801):
            self.assertAwsError("ValidationException", s.api, "create_image_builder_streaming_url",
                                Name="b1", Validity=validity, status=400)

        # STOPPING lasts while the sandbox is taken down (~0.1 s); the next call is at once.
        self.assertEqual(s.api("stop_image_builder", Name="b1")["ImageBuilder"]["State"],
                         "STOPPING")
        self.assertAwsError("OperationNotPermittedException", s.api, "start_image_builder",
                            Name="b1", status=400)
        wait_state(s, "b1", "STOPPED")

        # A builder whose instance cannot start is FAILED, with the reason; it cannot be
        # stopped, but it can be deleted.
        s.api("create_image_builder", Name="broken", ImageName=DEFAULT, InstanceType=BROKEN)
        wait_state(s, "broken", "FAILED")
        failed = s.aws("describe-image-builders", "--names", "broken")["ImageBuilders"][0]
        self.assertEqual(failed["StateChangeReason"]["Code"], "INTERNAL_ERROR", failed)
        self.assertAwsError("OperationNotPermittedException", s.aws, "stop-image-builder",
                            "--name", "broken")
        self.assertAwsError("ResourceNotAvailableException", s.aws,
                            "create-image-builder-streaming-url", "--name", "broken")
        s.aws("delete-image-builder", "--name", "broken")
        wait_state(s, "broken", "ResourceNotFoundException", timeout=30)


class TagsAndPages(ServerTestCase):
    def test_tags_on_the_builders_arn_and_pages_of_one(self):
        s = self.server
        for name in ("c", "a", "b"):
            tags = {"Tags": {"made-by": "test"}} if name == "a" else {}
            s.api("create_image_builder", Name=name, ImageName=DEFAULT, InstanceType=SMALL, **tags)
        arn = BUILDER_ARN + "a"
        s.aws("tag-resource", "--resource-arn", arn, "--tags", "team=images,stage=dev")
        s.aws("untag-resource", "--resource-arn", arn, "--tag-keys", "stage")
        self.assertEqual(s.aws("list-tags-for-resource", "--resource-arn", arn)["Tags"],
                         {"made-by": "test", "team": "images"})
        self.assertEqual(s.api("list_tags_for_resource", ResourceArn=BUILDER_ARN + "b")["Tags"], {})
        self.assertAwsError("ResourceNotFoundException", s.aws, "list-tags-for-resource",
                            "--resource-arn", BUILDER_ARN + "missing")

        pages, token = [], None
        while True:
            page = s.api("describe_image_builders", MaxResults=1,
                         **({"NextToken": token} if token else {}))
            pages.append([b["Name"] for b in page["ImageBuilders"]])
            token = page.get("NextToken")
            if not token:
                break
        self.assertEqual(pages, [["a"], ["b"], ["c"]])
        self.assertAwsError("ValidationException", s.api, "describe_image_builders",
                            NextToken="not-a-token")


class RestartAfterSigterm(ServerTestCase):
    """Builders, their states and tags come back; the running ones relaunch."""

    def shut_down(self, s):
        s.stop()

    def test_builders_come_back_and_the_running_ones_relaunch(self):
        s = self.server
        for name in ("a", "b", "c"):
            s.api("create_image_builder", Name=name, ImageName=DEFAULT, InstanceType=SMALL,
                  Tags={"kept": name})
        for name in ("a", "b", "c"):
            wait_state(s, name, "RUNNING")
        s.api("stop_image_builder", Name="b")
        wait_state(s, "b", "STOPPED")

        self.shut_down(s)
        restarted = Server(s.data_dir).start(wait_for_welcome=False)
        self.__class__.server = s = restarted  # tearDownClass stops this one
        described = s.aws("describe-image-builders")["ImageBuilders"]
        self.assertEqual([b["Name"] for b in described], ["a", "b", "c"])
        for b in described:  # the stopped one stays stopped; the running ones relaunch
            self.assertIn(b["State"], ["STOPPED"] if b["Name"] == "b" else ["PENDING", "RUNNING"], b)
        for name in ("a", "c"):
            wait_state(s, name, "RUNNING")  # on a new instance
            self.assertEqual(opens(s.api("create_image_builder_streaming_url", Name=name)
                                   ["StreamingURL"]), 200)
        self.assertEqual(s.api("list_tags_for_resource", ResourceArn=BUILDER_ARN + "c")["Tags"],
                         {"kept": "c"})
        s.aws("start-image-builder", "--name", "b")
        wait_state(s, "b", "RUNNING")
        for name in ("a", "b", "c"):
            s.aws("delete-image-builder", "--name", name)
        wait_until(lambda: s.api("describe_image_builders")["ImageBuilders"] == [], 30,
                   "every builder gone", interval=0.1)


class RestartAfterKill(RestartAfterSigterm):
    def shut_down(self, s):
        s.kill()


if __name__ == "__main__":
    unittest.main()
