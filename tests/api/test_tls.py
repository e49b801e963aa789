"""`porthole serve --tls`: HTTPS with a self-signed certificate made at first
start (what listening beyond loopback always uses), for the admin API and the
streaming page; plain HTTP on the same port gets no answer."""

import subprocess
import http.client
import ssl
import unittest
import urllib.error
import urllib.request

from harness import Server, porthole_bin, wait_until  # noqa: F401


class TlsServer(Server):
    def start(self, wait_for_welcome=True):
        binary = porthole_bin()
        args = [str(binary), "serve", "--tls", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir)]
        import os, queue, threading  # noqa: E401
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTHOLE_")}
        self._lines = queue.Queue()
        self._client = None
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, env=env, text=True)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self.url = self._expect(r"porthole: serving at (https://127\.0\.0\.1:\d+)/").group(1)
        self.welcome_url = self._expect(r"porthole: open (\S+)").group(1)
        return self


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.tmp = tempfile.TemporaryDirectory(prefix="porthole-tls-")
        cls.server = TlsServer(f"{cls.tmp.name}/data").start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.cleanup()

    def test_the_certificate_is_made_once_with_a_private_key(self):
        tls = self.server.data_dir / "tls"
        self.assertTrue((tls / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----"))
        self.assertEqual((tls / "key.pem").stat().st_mode & 0o777, 0o600)

    def test_the_admin_api_answers_over_https_with_the_real_cli(self):
        env = self.server.aws_env()
        done = subprocess.run(
            ["aws", "appstream", "describe-fleets", "--endpoint-url", self.server.url,
             "--no-verify-ssl", "--output", "json"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn('"porthole-default"', done.stdout)

    def test_the_streaming_page_is_served_over_https_and_pinned_to_its_certificate(self):
        self.assertTrue(self.server.welcome_url.startswith("https://"))
        context = ssl.create_default_context(cafile=str(self.server.data_dir / "tls" / "cert.pem"))
        context.check_hostname = False
        with urllib.request.urlopen(self.server.welcome_url, context=context, timeout=10) as page:
            self.assertEqual(page.status, 200)
            self.assertIn(b"client.js", page.read())

    def test_plain_http_gets_no_answer(self):
        plain = self.server.url.replace("https://", "http://") + "/"
        # The TLS alert that answers is not HTTP: no status, no body.
        with self.assertRaises((urllib.error.URLError, http.client.HTTPException, OSError)):
            urllib.request.urlopen(plain, timeout=5).read()


if __name__ == "__main__":
    unittest.main()
