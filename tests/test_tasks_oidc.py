"""The OIDC token check of Cloud Tasks' calls (production: TASKS_SERVICE_ACCOUNT set), with a key and
certificate made here standing in for Google's (google-auth does the verifying, as in production)."""
from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

from shared.adapters.google_oidc import tasks_caller_ok

AUDIENCE = "https://europe-west1-demo.cloudfunctions.net/booking-callbacks"
ACCOUNT = "telemed-tasks@demo.iam.gserviceaccount.com"


def _key_and_cert():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "google-oidc-stand-in")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pem_key, cert.public_bytes(serialization.Encoding.PEM).decode()


PEM_KEY, PEM_CERT = _key_and_cert()
OTHER_KEY, _ = _key_and_cert()


class Certs:
    """A google.auth transport Request answering the certificates URL with ours."""

    def __call__(self, url, method="GET", **kwargs):
        return type("Response", (), {"status": 200, "data": json.dumps({"k1": PEM_CERT}).encode(), "headers": {}})()


def token(key=PEM_KEY, **changes) -> str:
    now = int(time.time())
    claims = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "email": ACCOUNT, "email_verified": True,
              "sub": "1234567890", "iat": now, "exp": now + 3600, **changes}
    return jwt.encode(crypt.RSASigner.from_string(key, key_id="k1"), claims).decode()


def ok(header) -> bool:
    return tasks_caller_ok(header, AUDIENCE, ACCOUNT, request=Certs())


def test_the_tasks_account_token_for_this_function_passes():
    assert ok("Bearer " + token())


@pytest.mark.parametrize("header", [
    None, "", "Basic abc", "Bearer ", "Bearer not-a-jwt",
    "Bearer " + token(key=OTHER_KEY),                                   # not signed by Google's key
    "Bearer " + token(aud="https://elsewhere.example/fn"),              # for another audience
    "Bearer " + token(email="someone@demo.iam.gserviceaccount.com"),    # another account
    "Bearer " + token(email_verified=False),
    "Bearer " + token(iss="https://evil.example"),
    "Bearer " + token(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),  # expired
])
def test_anything_else_is_refused(header):
    assert not ok(header)
