"""Session tokens: HS256 pinned; forged, expired, alg none, RS256 confusion, wrong and
retired keys are refused over real HTTP."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from flowat_kernel.access import access, local_principal
from tests.server.helpers import Api


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_session_token_works_and_carries_the_scopes(api: Api) -> None:
    reader = api.post("/keys", json={"name": "r", "scopes": ["runs:read"]}).json()["key"]
    session = api.as_(reader).post("/sessions", json={"ttl_seconds": 60})
    assert session.status_code == 201
    token = session.json()["token"]
    me = api.as_(token).get("/me").json()
    assert me["via"] == "session" and me["scopes"] == ["runs:read"]
    assert api.as_(token).get("/runs").status_code == 200
    assert api.as_(token).get("/workflows").status_code == 403
    assert api.post("/sessions", json={"ttl_seconds": 10**6}).status_code == 422


def test_forged_expired_none_confused_and_wrong_key_tokens(api: Api) -> None:
    token = api.post("/sessions", json={}).json()["token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    kid = json.loads(base64.urlsafe_b64decode(header + "=="))["kid"]

    forged_claims = dict(claims, sub="someone-else")
    forged = f"{header}.{_b64(forged_claims)}.{signature}"
    none = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}."
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rs256 = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": kid})
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_with_public = (
        f"{header}.{payload}."
        + base64.urlsafe_b64encode(
            __import__("hmac").new(public_pem, f"{header}.{payload}".encode(), "sha256").digest()
        )
        .rstrip(b"=")
        .decode()
    )
    wrong_key = jwt.encode(claims, b"k" * 32, algorithm="HS256", headers={"kid": kid})
    unknown_kid = jwt.encode(claims, b"k" * 32, algorithm="HS256", headers={"kid": "nope"})
    expired = jwt.encode(
        dict(claims, exp=int(time.time()) - 5),
        access().sessions._signing_key()[1],
        algorithm="HS256",
        headers={"kid": kid},
    )
    for bad in (forged, none, rs256, hs_with_public, wrong_key, unknown_kid, expired, "a.b.c"):
        reply = api.as_(bad).get("/me")
        assert reply.status_code == 401, (bad, reply.text)
    assert "expired" in api.as_(expired).get("/me").json()["error"]["message"]
    assert api.as_(token).get("/me").status_code == 200


def test_signing_key_rotation_and_retirement(api: Api) -> None:
    sessions = access().sessions
    old = sessions.issue(local_principal(), timedelta(minutes=5))["token"]
    sessions.rotate()
    new = sessions.issue(local_principal(), timedelta(minutes=5))["token"]
    assert jwt.get_unverified_header(old)["kid"] != jwt.get_unverified_header(new)["kid"]
    assert api.as_(old).get("/me").status_code == 200
    sessions.retire(keep=1)
    assert api.as_(old).get("/me").status_code == 401
    assert api.as_(new).get("/me").status_code == 200
