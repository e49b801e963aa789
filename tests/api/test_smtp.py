"""User messages by SMTP: a real SMTP server (aiosmtpd) started by the test
receives the welcome message, whose temporary password signs in; the sent
message moves to outbox/sent. With the SMTP server unreachable the message
stays in the outbox: it is never lost."""

import email
import re
import shutil
import socket
import tempfile
import threading
import unittest
from pathlib import Path

from harness import Server, import_from_pydeps
from test_user_pool import Browser


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping what it received."""

    def __init__(self):
        self.messages = []
        self.received = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content))
        self.received.set()
        return "250 OK"


class Smtp(unittest.TestCase):
    def serve(self, smtp_url):
        tmp = Path(tempfile.mkdtemp(prefix="porthole-smtp-"))
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        server = Server(tmp / "data", args=["--smtp-url", smtp_url, "--mail-from",
                                            "portal@example.com"])
        server.start()
        self.addCleanup(server.stop)
        return server

    def create_user(self, server, user):
        server.aws("create-user", "--user-name", user, "--authentication-type", "USERPOOL")

    def test_the_welcome_message_arrives_by_smtp_and_its_password_signs_in(self):
        import_from_pydeps("aiosmtpd")
        from aiosmtpd.controller import Controller

        inbox = Inbox()
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        self.addCleanup(controller.stop)
        server = self.serve(f"smtp://127.0.0.1:{port}")

        self.create_user(server, "ana@example.com")
        self.assertTrue(inbox.received.wait(30), "no message reached the SMTP server")
        recipients, content = inbox.messages[0]
        self.assertEqual(recipients, ["ana@example.com"])
        message = email.message_from_bytes(content)
        self.assertEqual(message["From"], "Porthole <portal@example.com>")
        password = re.search(r"Temporary password: (\S+)", message.get_payload()).group(1)
        self.assertEqual(Browser(server.url).sign_in("ana@example.com", password)[0], 303)
        outbox = server.data_dir / "outbox"
        self.assertEqual(list(outbox.glob("*.eml")), [], "nothing left to send")
        self.assertEqual(len(list((outbox / "sent").glob("*.eml"))), 1)

    def test_an_unreachable_smtp_server_leaves_the_message_in_the_outbox(self):
        server = self.serve(f"smtp://127.0.0.1:{free_port()}")
        self.create_user(server, "bea@example.com")
        pending = list((server.data_dir / "outbox").glob("*.eml"))
        self.assertEqual(len(pending), 1)
        self.assertIn("\r\nTo: bea@example.com\r\n", pending[0].read_bytes().decode())


if __name__ == "__main__":
    unittest.main()
