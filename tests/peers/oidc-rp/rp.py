#!/usr/bin/env python3
"""An OpenID Connect relying party built on Authlib, not on passerelle's code.

It plays a resource provider's web application (confidential client, client_secret_basic) or
native application (public client, PKCE S256, refresh tokens) against the gateway: discovery,
authorization (the browser's gateway session cookie is given), the RFC 9207 `iss` check, code
exchange, ID token validation against the published JWKS (iss, aud, azp, exp, iat, nonce,
at_hash), userinfo, and for native apps refresh-token rotation and reuse.

Prints one JSON object describing what it saw; exits non-zero on any failed check.
"""
import argparse
import json
import sys
from urllib.parse import parse_qs, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken


def fail(msg):
    print(json.dumps({"error": msg}))
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret")
    ap.add_argument("--redirect-uri", required=True)
    ap.add_argument("--resource", required=True)
    ap.add_argument("--session-cookie", required=True)
    ap.add_argument("--now", type=int, required=True, help="the gateway's clock, seconds")
    ap.add_argument("--access-mode", default="web")
    a = ap.parse_args()

    disc = requests.get(a.issuer + "/.well-known/openid-configuration", timeout=10).json()
    if disc["issuer"] != a.issuer:
        fail("discovery issuer mismatch")
    public = a.client_secret is None
    client = OAuth2Session(
        client_id=a.client_id,
        client_secret=a.client_secret,
        scope="openid scope.gar",
        redirect_uri=a.redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="none" if public else "client_secret_basic",
    )
    verifier = generate_token(64)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(
        disc["authorization_endpoint"], code_verifier=verifier, nonce=nonce, idRessource=a.resource
    )
    browser = requests.get(
        url, cookies={"passerelle_session": a.session_cookie}, allow_redirects=False, timeout=10
    )
    location = browser.headers.get("Location", "")
    if browser.status_code != 302 or not location.startswith(a.redirect_uri):
        fail(f"authorization did not redirect to the client: {browser.status_code}")
    q = parse_qs(urlparse(location).query)
    if q.get("iss") != [a.issuer]:
        fail("RFC 9207 iss missing or wrong")
    if q.get("state") != [state]:
        fail("state not echoed")
    token = client.fetch_token(
        disc["token_endpoint"], code=q["code"][0], code_verifier=verifier
    )
    jwks = JsonWebKey.import_key_set(requests.get(disc["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        token["id_token"],
        jwks,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": a.issuer}},
        claims_params={"nonce": nonce, "client_id": a.client_id, "access_token": token["access_token"]},
    )
    claims.validate(now=a.now)
    if claims.header.get("alg") not in disc["id_token_signing_alg_values_supported"]:
        fail("unexpected alg")
    profile = client.get(
        disc["userinfo_endpoint"],
        params={"idRessource": a.resource, "access_mode": a.access_mode},
        timeout=10,
    )
    if profile.status_code != 200:
        fail(f"userinfo answered {profile.status_code}")
    out = {"sub": claims["sub"], "alg": claims.header["alg"], "userinfo": profile.json()}
    if public:
        old = token["refresh_token"]
        new = client.refresh_token(disc["token_endpoint"], refresh_token=old)
        out["rotated"] = new["refresh_token"] != old
        again = requests.post(
            disc["token_endpoint"],
            data={"grant_type": "refresh_token", "refresh_token": old, "client_id": a.client_id},
            timeout=10,
        )
        out["reuse"] = [again.status_code, again.json().get("error")]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
