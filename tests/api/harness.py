"""Test harness for the admin-API suite: a real `porthole serve` per test class
(own temporary data directory, port 0) driven by real clients: the installed
AWS CLI (awsJson1_1), the newest boto3 in a subprocess (rpcv2Cbor) and
hand-made requests signed with botocore's SigV4 signer.

Environment:
  PORTHOLE_BIN              the porthole binary (default: $CARGO_TARGET_DIR or target/ + debug/porthole)
  PORTHOLE_TEST_PYDEPS      where scripts/install-deps.sh put boto3/websocket-client
                            (default /var/tmp/porthole-pydeps)
  PORTHOLE_TEST_POSTGRES_URL, PORTHOLE_TEST_REQUIRE_POSTGRES   see test_postgres.py
"""

import datetime
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[2]
PYDEPS = Path(os.environ.get("PORTHOLE_TEST_PYDEPS", "/var/tmp/porthole-pydeps"))
REGION = "us-east-1"
JSON_TARGET_PREFIX = "PhotonAdminProxyService."
CBOR_PATH_PREFIX = "/service/PhotonAdminProxyService/operation/"

# The server's own first start takes a while (an Xorg per instance); instances
# of the fleets the tests create need the same.
START_TIMEOUT = 60.0
FLEET_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0


def porthole_bin():
    if "PORTHOLE_BIN" in os.environ:
        return Path(os.environ["PORTHOLE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "porthole"


def import_from_pydeps(module):
    """Imports a module installed by install-deps.sh into PYDEPS. The directory
    is appended (not prepended) so that the AWS CLI's own botocore stays the
    one this process imports; only boto3_cbor_client.py uses PYDEPS' botocore."""
    if str(PYDEPS) not in sys.path:
        sys.path.append(str(PYDEPS))
    try:
        return __import__(module)
    except ImportError as err:
        raise unittest.SkipTest(
            f"{module} is not installed in {PYDEPS}: run scripts/install-deps.sh ({err})"
        ) from err


def wait_until(condition, timeout, what, interval=0.25):
    """Polls condition() until it returns a truthy value, which is returned.
    The admin API has no change notifications, so polling is how a client
    (and AWS's own waiters) observe state transitions."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class AwsError(Exception):
    """An AWS-shaped error from any client: its code, message and HTTP status."""

    def __init__(self, code, message, status=None):
        super().__init__(f"{code} ({status}): {message}")
        self.code = code
        self.message = message
        self.status = status


class Server:
    """A running `porthole serve` with its own data directory."""

    def __init__(self, data_dir, database=None, env=None, args=()):
        self.data_dir = Path(data_dir)
        self.database = database
        self.extra_env = env or {}
        self.extra_args = list(args)
        self.proc = None
        self.url = None
        self.welcome_url = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self._clients = {}

    def start(self, wait_for_welcome=True):
        binary = porthole_bin()
        if not binary.exists():
            raise AssertionError(f"{binary} does not exist: build it (cargo build -p porthole)")
        args = [str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir)]
        if self.database:
            args += ["--database", self.database]
        args += self.extra_args
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTHOLE_")}
        env.setdefault("RUST_LOG", "info")
        env.update(self.extra_env)
        self._lines = queue.Queue()
        self._clients = {}  # a restart listens on a new port
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=self._log, env=env, text=True
        )
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self.url = self._expect(r"porthole: serving at (http://127\.0\.0\.1:\d+)/").group(1)
        if wait_for_welcome:
            self.welcome_url = self._expect(r"porthole: open (\S+)").group(1)
        return self

    def _read_stdout(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _expect(self, pattern):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"server printed no line matching {pattern!r}; {self.log_tail()}")
            if line is None:
                raise AssertionError(
                    f"server closed its stdout (exit status {self.proc.poll()}) before printing "
                    f"{pattern!r}; {self.log_tail()}"
                )
            match = re.search(pattern, line)
            if match:
                return match

    def log_tail(self, lines=30):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "server log tail:\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self):
        """SIGTERM; the server must take its instances down and exit 0."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not exit within {STOP_TIMEOUT}s of SIGTERM")
        finally:
            self._close_outputs()
        if code != 0:
            raise AssertionError(f"server exited with {code} on SIGTERM; {self.log_tail()}")

    def kill(self):
        """SIGKILL: no chance to save or clean up anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)
        self._close_outputs()

    def _close_outputs(self):
        # The reader sees EOF once the process (and its children) are gone.
        self._reader.join(timeout=5)
        self.proc.stdout.close()
        self._log.close()

    def credentials(self):
        text = (self.data_dir / "credentials").read_text()
        key = re.search(r"aws_access_key_id\s*=\s*(\S+)", text).group(1)
        secret = re.search(r"aws_secret_access_key\s*=\s*(\S+)", text).group(1)
        return key, secret

    def aws_env(self):
        env = dict(os.environ)
        env.update(
            AWS_SHARED_CREDENTIALS_FILE=str(self.data_dir / "credentials"),
            AWS_CONFIG_FILE=os.devnull,
            AWS_DEFAULT_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
        )
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env.pop(name, None)
        return env

    # --- the AWS CLI -------------------------------------------------------

    def aws(self, operation, *args, timeout=60, service="appstream"):
        """Runs `aws SERVICE OPERATION ARGS...` and returns its JSON output
        (None when it prints nothing); raises AwsError with the code the CLI reports."""
        cmd = ["aws", service, operation, *map(str, args),
               "--endpoint-url", self.url, "--output", "json"]
        done = subprocess.run(cmd, env=self.aws_env(), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            match = re.search(r"An error occurred \((\w+)\)[^:]*: (.*)", done.stderr)
            if match:
                raise AwsError(match.group(1), match.group(2).strip())
            raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def api(self, operation, service="appstream", **params):
        """Calls an operation through an in-process botocore client (the AWS
        CLI's own botocore, awsJson1_1): the fast path for checks around the
        CLI's calls. Raises AwsError with the code and HTTP status."""
        if service not in self._clients:
            import botocore.config
            import botocore.session

            key, secret = self.credentials()
            self._clients[service] = botocore.session.get_session().create_client(
                service, region_name=REGION, endpoint_url=self.url,
                aws_access_key_id=key, aws_secret_access_key=secret,
                config=botocore.config.Config(retries={"max_attempts": 1}),
            )
        from botocore.exceptions import ClientError

        try:
            return getattr(self._clients[service], operation)(**params)
        except ClientError as err:
            raise AwsError(err.response["Error"]["Code"], err.response["Error"].get("Message"),
                           err.response["ResponseMetadata"]["HTTPStatusCode"]) from err

    def open_browser(self, stack, fleet, user, validity=600):
        """Opens a streaming session the way a browser does: a streaming URL,
        then its WebSocket (kept open: the session is in use until closed)."""
        websocket = import_from_pydeps("websocket")
        url = self.api("create_streaming_url", StackName=stack, FleetName=fleet, UserId=user,
                       Validity=validity)["StreamingURL"]
        return websocket.create_connection(url.replace("http://", "ws://", 1) + "ws", timeout=30)

    def fleet(self, name):
        return self.api("describe_fleets", Names=[name])["Fleets"][0]

    def wait_fleet_state(self, name, state, timeout=FLEET_TIMEOUT):
        return wait_until(lambda: (f := self.fleet(name))["State"] == state and f,
                          timeout, f"fleet {name} {state}", interval=0.5)

    # --- raw signed requests -----------------------------------------------

    def raw(self, operation, body, protocol="json", headers=None, key=None, secret=None,
            sign=True, signed_at=None, target=None):
        """Sends a hand-made admin request, signed with botocore's SigV4Auth
        (optionally as if at `signed_at`), and returns (status, headers, body bytes)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        if protocol == "json":
            url = self.url + "/"
            all_headers = {
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": target or JSON_TARGET_PREFIX + operation,
            }
        else:
            url = self.url + CBOR_PATH_PREFIX + operation
            all_headers = {
                "Content-Type": "application/cbor",
                "Accept": "application/cbor",
                "smithy-protocol": "rpc-v2-cbor",
            }
        all_headers.update(headers or {})
        request = AWSRequest(method="POST", url=url, data=body, headers=all_headers)
        if sign:
            own_key, own_secret = self.credentials()
            credentials = Credentials(key or own_key, secret or own_secret)
            signer = SigV4Auth(credentials, "appstream", REGION)
            if signed_at is None:
                signer.add_auth(request)
            else:
                with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
                    signer.add_auth(request)
        prepared = request.prepare()
        http_request = urllib.request.Request(
            prepared.url, data=prepared.body, headers=dict(prepared.headers), method="POST"
        )
        try:
            with urllib.request.urlopen(http_request, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def raw_error(self, *args, **kwargs):
        """A raw request that must fail: returns its AwsError (code from the
        body's __type as AWS's clients read it, plus the HTTP status)."""
        status, headers, body = self.raw(*args, **kwargs)
        if status == 200:
            raise AssertionError(f"expected an error, got 200: {body[:200]!r}")
        if headers.get("Content-Type", "").startswith("application/cbor"):
            document = cbor_decode(body)
        else:
            document = json.loads(body)
        code = document["__type"].split("#")[-1]
        return AwsError(code, document.get("message", document.get("Message")), status)


class ServerTestCase(unittest.TestCase):
    """One server per test class, stopped (SIGTERM, must exit 0) afterwards."""

    database = None
    # Added to the server's environment (after the caller's PORTHOLE_* are dropped).
    server_env = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="porthole-api-")
        cls.server = Server(Path(cls.tmp) / "data", database=cls.database_url(),
                            env=cls.server_env, args=cls.server_args(Path(cls.tmp)))
        try:
            cls.server.start()
        except BaseException:
            cls._cleanup_server()
            raise

    @classmethod
    def database_url(cls):
        return None

    @classmethod
    def server_args(cls, tmp):
        """More `porthole serve` arguments; `tmp` is the class's directory for files."""
        return ()

    @classmethod
    def tearDownClass(cls):
        cls._cleanup_server()

    @classmethod
    def _cleanup_server(cls):
        try:
            cls.server.stop()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def assertAwsError(self, code, call, *args, status=None, **kwargs):
        """call(*args) must raise AwsError with this code (and status, if given)."""
        with self.assertRaises(AwsError) as caught:
            call(*args, **kwargs)
        self.assertEqual(caught.exception.code, code, caught.exception)
        if status is not None:
            self.assertEqual(caught.exception.status, status, caught.exception)
        return caught.exception


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def cbor_decode(data):
    """Decodes one CBOR item (RFC 8949), enough for AWS error bodies: ints,
    strings, arrays, maps, simple values, floats; definite lengths only."""
    value, end = _cbor_item(data, 0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} trailing bytes after the CBOR item")
    return value


def _cbor_item(data, pos):
    import struct

    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if major == 7:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info in (22, 23):
            return None, pos
        sizes = {25: (2, ">e"), 26: (4, ">f"), 27: (8, ">d")}
        size, fmt = sizes[info]
        return struct.unpack(fmt, data[pos:pos + size])[0], pos + size
    if info < 24:
        arg = info
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        arg = int.from_bytes(data[pos:pos + size], "big")
        pos += size
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major == 2:
        return data[pos:pos + arg], pos + arg
    if major == 3:
        return data[pos:pos + arg].decode("utf-8"), pos + arg
    if major == 4:
        items = []
        for _ in range(arg):
            item, pos = _cbor_item(data, pos)
            items.append(item)
        return items, pos
    if major == 5:
        result = {}
        for _ in range(arg):
            key, pos = _cbor_item(data, pos)
            result[key], pos = _cbor_item(data, pos)
        return result, pos
    if major == 6:  # a tag (e.g. 1: epoch time): the tagged item itself
        return _cbor_item(data, pos)
    raise ValueError(f"unsupported CBOR major type {major}")
