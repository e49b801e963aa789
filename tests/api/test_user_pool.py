"""The user pool with the AWS CLI, and its users at the portal (plain HTTP, as a
browser without scripts would): the welcome message lands in the outbox with a
temporary password, the first sign-in must choose a password, the portal lists
the assigned stack's apps and launches one into a USERPOOL session, a disabled
user is refused, and 20 wrong passwords lock one user's sign-in only."""

import email
import http.cookiejar
import re
import unittest
import urllib.error
import urllib.parse
import urllib.request

from harness import ServerTestCase

DEFAULT = "porthole-default"
STACK = "user-pool-stack"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """Cookies kept, redirects answered but not followed."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def request(self, path, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read().decode()

    def csrf(self, html):
        return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)

    def sign_in(self, user, password):
        _, _, page = self.request("/")
        return self.request("/portal/sign-in",
                            {"csrf": self.csrf(page), "email": user, "password": password})


def from_outbox(server, user, subject, pattern):
    """`pattern`'s group in the newest message to `user` with `subject` in the outbox."""
    outbox = server.data_dir / "outbox"
    messages = sorted(outbox.glob("*.eml")) if outbox.exists() else []
    for path in reversed(messages):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == user and message["Subject"] == subject:
            return re.search(pattern, message.get_payload()).group(1)
    raise AssertionError(f"no message '{subject}' to {user} in {outbox}: {messages}")


def welcome_password(server, user):
    return from_outbox(server, user, "Your Porthole account", r"Temporary password: (\S+)")


class UserPool(ServerTestCase):
    def create(self, user, *args):
        self.server.aws("create-user", "--user-name", user, "--authentication-type", "USERPOOL",
                        *args)

    def user(self, name):
        users = self.server.api("describe_users", AuthenticationType="USERPOOL")["Users"]
        return next(u for u in users if u["UserName"] == name)

    def test_users_and_their_stacks_through_the_cli(self):
        s = self.server
        self.create("ana@example.com", "--first-name", "Ana", "--last-name", "Lima")
        self.assertAwsError("ResourceAlreadyExistsException", self.create, "ana@example.com")
        self.create("bea@example.com", "--message-action", "SUPPRESS")
        users = {u["UserName"]: u for u in s.aws("describe-users", "--authentication-type",
                                                   "USERPOOL")["Users"]}
        # (The class's other tests add users of their own to the same server.)
        self.assertLessEqual({"ana@example.com", "bea@example.com"}, set(users))
        ana = users["ana@example.com"]
        self.assertEqual((ana["FirstName"], ana["Enabled"], ana["Status"]),
                         ("Ana", True, "FORCE_CHANGE_PASSWORD"))
        self.assertEqual(ana["Arn"],
                         "arn:aws:appstream:us-east-1:000000000000:user/userpool/ana@example.com")
        self.assertEqual(s.aws("describe-users", "--authentication-type", "API")["Users"], [])
        page = s.aws("describe-users", "--authentication-type", "USERPOOL", "--max-results", "1",
                     "--no-paginate")
        self.assertEqual(len(page["Users"]), 1)
        self.assertIn("NextToken", page)

        # A SUPPRESSed user gets no message; a RESEND gives a new password.
        welcome_password(s, "ana@example.com")
        with self.assertRaises(AssertionError):
            welcome_password(s, "bea@example.com")
        self.create("bea@example.com", "--message-action", "RESEND")
        welcome_password(s, "bea@example.com")

        s.aws("create-stack", "--name", STACK)
        errors = s.aws("batch-associate-user-stack", "--user-stack-associations",
                       f"StackName={STACK},UserName=ana@example.com,AuthenticationType=USERPOOL",
                       "StackName=nope,UserName=ana@example.com,AuthenticationType=USERPOOL",
                       f"StackName={STACK},UserName=zoe@example.com,AuthenticationType=USERPOOL",
                       )["errors"]
        self.assertEqual(sorted(e["ErrorCode"] for e in errors),
                         ["STACK_NOT_FOUND", "USER_NAME_NOT_FOUND"])
        associations = s.aws("describe-user-stack-associations", "--stack-name", STACK)
        self.assertEqual([(a["StackName"], a["UserName"]) for a in
                          associations["UserStackAssociations"]], [(STACK, "ana@example.com")])
        self.assertAwsError("InvalidParameterCombinationException", s.aws,
                            "describe-user-stack-associations")
        s.aws("batch-disassociate-user-stack", "--user-stack-associations",
              f"StackName={STACK},UserName=ana@example.com,AuthenticationType=USERPOOL")
        self.assertEqual(s.aws("describe-user-stack-associations", "--user-name",
                               "ana@example.com", "--authentication-type", "USERPOOL")
                         ["UserStackAssociations"], [])

        s.aws("disable-user", "--user-name", "bea@example.com", "--authentication-type", "USERPOOL")
        self.assertFalse(self.user("bea@example.com")["Enabled"])
        s.aws("enable-user", "--user-name", "bea@example.com", "--authentication-type", "USERPOOL")
        s.aws("delete-user", "--user-name", "bea@example.com", "--authentication-type", "USERPOOL")
        self.assertAwsError("ResourceNotFoundException", s.aws, "delete-user", "--user-name",
                            "bea@example.com", "--authentication-type", "USERPOOL")

    def test_a_user_signs_in_chooses_a_password_and_launches_an_app(self):
        s = self.server
        user = "cy@example.com"
        self.create(user)
        s.aws("batch-associate-user-stack", "--user-stack-associations",
              f"StackName={DEFAULT},UserName={user},AuthenticationType=USERPOOL")
        temporary = welcome_password(s, user)

        browser = Browser(s.url)
        status, _, page = browser.sign_in(user, temporary + "x")
        self.assertEqual(status, 401)
        self.assertIn("Wrong email or password.", page)
        status, headers, _ = browser.sign_in(user, temporary)
        self.assertEqual((status, headers["Location"]), (303, "/"))
        cookie = [c for c in browser.jar if c.name == "porthole_portal"][0]
        self.assertTrue(cookie.has_nonstandard_attr("HttpOnly"), "the session cookie is HttpOnly")

        status, headers, _ = browser.request("/")
        self.assertEqual((status, headers["Location"]), (303, "/portal/password"))
        _, _, page = browser.request("/portal/password")
        csrf = browser.csrf(page)
        status, _, page = browser.request("/portal/password",
                                          {"csrf": csrf, "password": "short", "confirm": "short"})
        self.assertEqual(status, 400)
        self.assertIn("at least 8 characters", page)
        status, _, _ = browser.request("/portal/password", {
            "csrf": "0" * 32, "password": "Good-pass-42", "confirm": "Good-pass-42"})
        self.assertEqual(status, 403, "a form without the session's CSRF token is refused")
        status, _, _ = browser.request("/portal/password", {
            "csrf": csrf, "password": "Good-pass-42", "confirm": "Good-pass-42"})
        self.assertEqual(status, 303)
        self.assertEqual(self.user(user)["Status"], "CONFIRMED")

        status, _, page = browser.request("/")
        self.assertEqual(status, 200)
        self.assertIn("Your applications", page)
        self.assertIn('name="app" value="xterm"', page)
        status, headers, _ = browser.request("/portal/launch", {
            "csrf": browser.csrf(page), "stack": DEFAULT, "app": "xterm"})
        self.assertEqual(status, 303)
        self.assertTrue(headers["Location"].startswith("/session/"), headers["Location"])
        sessions = s.aws("describe-sessions", "--stack-name", DEFAULT, "--fleet-name", DEFAULT,
                         "--authentication-type", "USERPOOL")["Sessions"]
        self.assertEqual([x["UserId"] for x in sessions], [user])

        # The temporary password no longer works; the chosen one does.
        self.assertEqual(Browser(s.url).sign_in(user, temporary)[0], 401)
        self.assertEqual(Browser(s.url).sign_in(user, "Good-pass-42")[0], 303)

        # Disabled: the session ends, the browser is signed out, sign-in is refused.
        s.aws("disable-user", "--user-name", user, "--authentication-type", "USERPOOL")
        self.assertEqual(s.aws("describe-sessions", "--stack-name", DEFAULT, "--fleet-name",
                               DEFAULT, "--authentication-type", "USERPOOL")["Sessions"], [])
        status, _, page = browser.request("/")
        self.assertIn("Sign in", page)
        status, _, page = Browser(s.url).sign_in(user, "Good-pass-42")
        self.assertEqual(status, 403)
        self.assertIn("Your account is disabled", page)

    def test_a_forgotten_password_is_replaced_with_a_code_from_the_email(self):
        s = self.server
        user = "fay@example.com"
        self.create(user)
        browser = Browser(s.url)
        browser.sign_in(user, welcome_password(s, user))
        _, _, page = browser.request("/portal/password")
        browser.request("/portal/password", {"csrf": browser.csrf(page), "password": "First-pass-1",
                                             "confirm": "First-pass-1"})

        other = Browser(s.url)
        _, _, page = other.request("/portal/forgot")
        status, _, page = other.request("/portal/forgot", {"csrf": other.csrf(page), "email": user})
        self.assertEqual(status, 200)
        self.assertIn("a code is on its way", page)
        code = from_outbox(s, user, "Your Porthole password reset code", r"Code: (\d{8})")
        wrong = "00000000" if code != "00000000" else "11111111"
        form = {"email": user, "password": "Second-pass-2", "confirm": "Second-pass-2"}
        status, _, page = other.request("/portal/reset", {**form, "csrf": other.csrf(page),
                                                          "code": wrong})
        self.assertEqual(status, 401)
        status, _, _ = other.request("/portal/reset", {**form, "csrf": other.csrf(page),
                                                       "code": code})
        self.assertEqual(status, 200)
        self.assertEqual(Browser(s.url).sign_in(user, "First-pass-1")[0], 401)
        self.assertEqual(Browser(s.url).sign_in(user, "Second-pass-2")[0], 303)
        self.assertIn("Sign in", browser.request("/")[2], "the old password's browser is signed out")
        _, _, page = other.request("/portal/reset")
        status, _, _ = other.request("/portal/reset", {**form, "csrf": other.csrf(page),
                                                       "code": code})
        self.assertEqual(status, 401, "a code works once")

        # An unknown address gets the same answer, and no message.
        _, _, page = other.request("/portal/forgot")
        status, _, page = other.request("/portal/forgot", {"csrf": other.csrf(page),
                                                           "email": "nobody@example.com"})
        self.assertEqual(status, 200)
        self.assertIn("a code is on its way", page)
        with self.assertRaises(AssertionError):
            from_outbox(s, "nobody@example.com", "Your Porthole password reset code", "(.)")

    def test_twenty_wrong_passwords_lock_that_user_only(self):
        s = self.server
        self.create("dan@example.com")
        self.create("eve@example.com")
        browser = Browser(s.url)
        for _ in range(20):
            self.assertEqual(browser.sign_in("dan@example.com", "wrong-Pass-1")[0], 401)
        status, _, page = browser.sign_in("dan@example.com", welcome_password(s, "dan@example.com"))
        self.assertEqual(status, 429, "locked even with the right password")
        self.assertIn("Too many wrong passwords", page)
        status, _, _ = browser.sign_in("eve@example.com", welcome_password(s, "eve@example.com"))
        self.assertEqual(status, 303, "another user is not locked out")


if __name__ == "__main__":
    unittest.main()
