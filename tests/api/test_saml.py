"""SAML 2.0 sign-in at the portal, as an identity provider drives it: the test is
the IdP. It makes a signing key and certificate, gives `porthole serve --config` its
metadata, and posts SAML responses signed with signxml (enveloped XML signatures, as
ADFS, Okta and Keycloak send them) to the assertion consumer service, IdP-initiated
(with a RelayState naming the stack and app, AppStream's way) and in answer to the
AuthnRequest Porthole sends (SP-initiated). Entitlements made with the AWS CLI match
the asserted attributes. Unsigned, tampered, foreign-signed, misaddressed, expired and
replayed responses are refused."""

import base64
import datetime
import re
import unittest
import uuid
import zlib
from urllib.parse import parse_qs, urlparse

from harness import ServerTestCase, import_from_pydeps
from test_user_pool import Browser

DEFAULT = "porthole-default"
IDP = "https://idp.example.test/saml"
SSO = "https://idp.example.test/sso"
GROUPS = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:groups"

import_from_pydeps("signxml")
from cryptography import x509  # noqa: E402  (installed with signxml)
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from lxml import etree  # noqa: E402
from signxml import XMLSigner, methods  # noqa: E402


def key_and_certificate(name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert


IDP_KEY, IDP_CERT_PEM, IDP_CERT = key_and_certificate("test idp")
OTHER_KEY, OTHER_CERT_PEM, _ = key_and_certificate("someone else")


def idp_metadata():
    der = base64.b64encode(IDP_CERT.public_bytes(serialization.Encoding.DER)).decode()
    return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
      <ds:X509Data><ds:X509Certificate>{der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{SSO}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""


def instant(delta_secs=0):
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_secs)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def response_xml(acs, audience, user, groups, in_response_to=None, issued=0, lifetime=300):
    """A SAML response with one assertion (not yet signed)."""
    answer = f' InResponseTo="{in_response_to}"' if in_response_to else ""
    values = "".join(f"<saml:AttributeValue>{g}</saml:AttributeValue>" for g in groups)
    return f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{instant(issued)}" Destination="{acs}"{answer}>
<saml:Issuer>{IDP}</saml:Issuer>
<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
<saml:Assertion ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{instant(issued)}">
<saml:Issuer>{IDP}</saml:Issuer>
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="placeholder"></ds:Signature>
<saml:Subject>
<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{user}</saml:NameID>
<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
<saml:SubjectConfirmationData NotOnOrAfter="{instant(issued + lifetime)}" Recipient="{acs}"{answer}/>
</saml:SubjectConfirmation>
</saml:Subject>
<saml:Conditions NotBefore="{instant(issued - 5)}" NotOnOrAfter="{instant(issued + lifetime)}">
<saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>
</saml:Conditions>
<saml:AuthnStatement AuthnInstant="{instant(issued)}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>
<saml:AttributeStatement>
<saml:Attribute Name="{GROUPS}">{values}</saml:Attribute>
</saml:AttributeStatement>
</saml:Assertion>
</samlp:Response>"""


def signed(xml, key=IDP_KEY, cert=IDP_CERT_PEM):
    """The response with its assertion signed (enveloped, RSA-SHA256, exclusive c14n)."""
    root = etree.fromstring(xml.encode())
    ns = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion"}
    assertion = root.find("saml:Assertion", ns)
    signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256",
                       digest_algorithm="sha256",
                       c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    signed_assertion = signer.sign(assertion, key=key, cert=cert,
                                   reference_uri=assertion.get("ID"))
    root.replace(assertion, signed_assertion)
    return etree.tostring(root).decode()


def encoded(xml):
    return base64.b64encode(xml.encode()).decode()


class SamlSignIn(ServerTestCase):
    @classmethod
    def server_args(cls, tmp):
        (tmp / "idp.xml").write_text(idp_metadata())
        (tmp / "porthole.toml").write_text(f"""[[saml]]
name = "corp"
display_name = "Corp ADFS"
idp_metadata = "{tmp / 'idp.xml'}"
stacks = ["{DEFAULT}"]
""")
        return ("--config", str(tmp / "porthole.toml"))

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.entity = f"{cls.server.url}/portal/saml/corp"
        cls.acs = f"{cls.entity}/acs"
        image = cls.server.api("describe_fleets", Names=[DEFAULT])["Fleets"][0]["ImageName"]
        apps = cls.server.api("describe_images", Names=[image])["Images"][0]["Applications"]
        cls.other = next(a["Name"] for a in apps if a["Name"] != "xterm")
        cls.server.aws("create-entitlement", "--stack-name", DEFAULT, "--name", "eng-terminal",
                       "--app-visibility", "ASSOCIATED", "--attributes", "Name=groups,Value=eng")
        cls.server.aws("associate-application-to-entitlement", "--stack-name", DEFAULT,
                       "--entitlement-name", "eng-terminal", "--application-identifier", "xterm")

    def post(self, browser, xml, relay_state=""):
        return browser.request("/portal/saml/corp/acs",
                               {"SAMLResponse": encoded(xml), "RelayState": relay_state})

    def app_names(self, page):
        return re.findall(r'name="app" value="([^"]+)"', page)

    def test_idp_initiated_sign_in_lists_only_the_entitled_apps(self):
        browser = Browser(self.server.url)
        _, _, page = browser.request("/")
        self.assertIn('href="/portal/saml/corp/start"', page)
        self.assertIn("Sign in with Corp ADFS", page)
        status, headers, _ = self.post(browser, signed(
            response_xml(self.acs, self.entity, "eng@example.com", ["eng", "staff"])))
        self.assertEqual((status, headers["Location"]), (303, "/"))
        _, _, page = browser.request("/")
        self.assertIn("eng@example.com", page)
        self.assertEqual(self.app_names(page), ["xterm"])
        # The server refuses what the page does not show.
        status, _, refused = browser.request("/portal/launch", {
            "csrf": browser.csrf(page), "stack": DEFAULT, "app": self.other})
        self.assertEqual(status, 403)
        self.assertIn(f"not entitled to the application {self.other}", refused)

        sales = Browser(self.server.url)
        status, _, _ = self.post(sales, signed(
            response_xml(self.acs, self.entity, "sales@example.com", ["sales"])))
        self.assertEqual(status, 303)
        self.assertEqual(self.app_names(sales.request("/")[2]), [])

    def test_a_relay_state_naming_an_app_opens_a_saml_session_of_it(self):
        browser = Browser(self.server.url)
        status, headers, _ = self.post(
            browser, signed(response_xml(self.acs, self.entity, "ops@example.com", ["eng"])),
            relay_state=f"stackname={DEFAULT}&app=xterm")
        self.assertEqual(status, 303)
        self.assertRegex(headers["Location"], r"^/session/[^/]+/$")
        sessions = self.server.api("describe_sessions", StackName=DEFAULT, FleetName=DEFAULT,
                                   AuthenticationType="SAML")["Sessions"]
        self.assertIn(("ops@example.com", "SAML"),
                      [(s["UserId"], s["AuthenticationType"]) for s in sessions])

    def test_sp_initiated_sign_in_answers_the_request_once(self):
        browser = Browser(self.server.url)
        status, headers, _ = browser.request(f"/portal/saml/corp/start?stack={DEFAULT}")
        self.assertEqual(status, 303)
        sent = urlparse(headers["Location"])
        self.assertEqual(f"{sent.scheme}://{sent.netloc}{sent.path}", SSO)
        query = parse_qs(sent.query)
        request = etree.fromstring(zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15))
        self.assertEqual(request.get("AssertionConsumerServiceURL"), self.acs)
        answer = signed(response_xml(self.acs, self.entity, "eng@example.com", ["eng"],
                                     in_response_to=request.get("ID")))
        status, headers, _ = self.post(browser, answer, query.get("RelayState", [""])[0])
        self.assertEqual((status, headers["Location"]), (303, "/"))
        self.assertEqual(self.app_names(browser.request("/")[2]), ["xterm"])

        status, _, page = self.post(Browser(self.server.url), answer)
        self.assertEqual(status, 400, "a replayed response")
        self.assertIn("already used", page)
        unknown = signed(response_xml(self.acs, self.entity, "eng@example.com", ["eng"],
                                      in_response_to="id-never-sent"))
        self.assertEqual(self.post(Browser(self.server.url), unknown)[0], 400)

    def test_replayed_unsigned_tampered_foreign_misaddressed_and_expired_responses_are_refused(self):
        good = signed(response_xml(self.acs, self.entity, "eng@example.com", ["eng"]))
        self.assertEqual(self.post(Browser(self.server.url), good)[0], 303)
        cases = {
            "replayed": (good, 400, "already used"),
            "unsigned": (response_xml(self.acs, self.entity, "eng@example.com", ["eng"]),
                         403, "not signed"),
            "tampered": (signed(response_xml(self.acs, self.entity, "sales@example.com", ["sales"]))
                         .replace("sales@example.com", "boss@example.com"), 403, "not signed"),
            "signed by another key": (
                signed(response_xml(self.acs, self.entity, "eng@example.com", ["eng"]),
                       key=OTHER_KEY, cert=OTHER_CERT_PEM), 403, "not signed"),
            "for another service": (
                signed(response_xml(self.acs, "https://other.example.test", "eng@example.com", ["eng"])),
                403, "another service"),
            "sent elsewhere": (
                signed(response_xml("https://other.example.test/acs", self.entity, "eng@example.com", ["eng"])),
                403, "another address"),
            "expired": (
                signed(response_xml(self.acs, self.entity, "eng@example.com", ["eng"],
                                    issued=-3600, lifetime=600)), 403, "expired"),
        }
        for what, (xml, status, message) in cases.items():
            with self.subTest(what):
                browser = Browser(self.server.url)
                got, headers, page = self.post(browser, xml)
                self.assertEqual(got, status, page[:500])
                self.assertIn(message, page)
                self.assertNotIn("Set-Cookie", headers or {})
                self.assertNotIn("Your applications", browser.request("/")[2])

    def test_an_unsigned_assertion_wrapped_beside_a_signed_one_is_never_read(self):
        good = signed(response_xml(self.acs, self.entity, "eng@example.com", ["eng"]))
        evil = re.search(r"<saml:Assertion .*?</saml:Assertion>",
                         response_xml(self.acs, self.entity, "boss@example.com", ["eng"]),
                         re.S).group(0).replace('<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="placeholder"></ds:Signature>', "")
        wrapped = good.replace("<saml:Assertion ", evil + "<saml:Assertion ", 1)
        self.assertEqual(wrapped.count("<saml:Assertion "), 2)
        browser = Browser(self.server.url)
        status, _, _ = self.post(browser, wrapped)
        self.assertIn(status, (303, 403))
        self.assertNotIn("boss@example.com", browser.request("/")[2])

    def test_the_service_provider_metadata_names_porthole(self):
        status, headers, xml = Browser(self.server.url).request("/portal/saml/corp/metadata")
        self.assertEqual(status, 200)
        self.assertIn("samlmetadata+xml", headers["Content-Type"])
        self.assertIn(f'entityID="{self.entity}"', xml)
        self.assertIn(self.acs, xml)


if __name__ == "__main__":
    unittest.main()
