"""Per-workspace JWKS and OpenID discovery: what any verifier fetches."""

from __future__ import annotations

import re
from collections.abc import Callable

import jwt
import pytest

from .conftest import Api, AppFactory, Workspace, assert_error, verify_with_pyjwt

PUBLIC_MEMBERS = {"kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def jwks_path(ws: Workspace) -> str:
    return f"/w/{ws.api_key}/.well-known/jwks.json"


def discovery_path(ws: Workspace) -> str:
    return f"/w/{ws.api_key}/.well-known/openid-configuration"


def _max_age(response_header: str) -> int:
    match = re.search(r"(?:^|[,\s])max-age=(\d+)", response_header)
    assert match, response_header
    return int(match.group(1))


def test_jwks_lists_only_public_members(api: Api) -> None:
    response = api.client.get(jwks_path(api.workspace))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"keys"}
    assert body["keys"], body
    for key in body["keys"]:
        assert set(key) <= PUBLIC_MEMBERS, key
        assert not set(key) & PRIVATE_MEMBERS, key
        assert key["use"] == "sig"
        assert {"kty", "kid", "alg"} <= set(key)
    kids = [key["kid"] for key in body["keys"]]
    assert len(kids) == len(set(kids))


def test_jwks_is_cacheable(api: Api) -> None:
    response = api.client.get(jwks_path(api.workspace))
    cache_control = response.headers["cache-control"]
    assert _max_age(cache_control) == api.settings.jwks_max_age_seconds == 300
    assert "no-store" not in cache_control
    assert "private" not in cache_control


def test_max_age_follows_the_setting(client_factory: AppFactory) -> None:
    api = client_factory(jwks_max_age_seconds=42)
    for path in (jwks_path(api.workspace), discovery_path(api.workspace)):
        assert _max_age(api.client.get(path).headers["cache-control"]) == 42


def test_the_token_kid_is_published(api: Api) -> None:
    token = api.token()
    kid = jwt.get_unverified_header(token)["kid"]
    keys = api.client.get(jwks_path(api.workspace)).json()["keys"]
    assert kid in {key["kid"] for key in keys}


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_pyjwt_verifies_every_signing_algorithm(client_factory: AppFactory, alg: str) -> None:
    api = client_factory(signing_algorithm=alg)
    token = api.token()
    assert jwt.get_unverified_header(token)["alg"] == alg
    keys = api.client.get(jwks_path(api.workspace)).json()["keys"]
    assert {key["alg"] for key in keys} == {alg}
    assert verify_with_pyjwt(api, token)["sub"] == "user-1"


def test_workspaces_have_their_own_keys(api: Api, workspace: Callable[..., Workspace]) -> None:
    other = workspace("other")
    mine = {k["kid"] for k in api.client.get(jwks_path(api.workspace)).json()["keys"]}
    theirs = {k["kid"] for k in api.client.get(jwks_path(other)).json()["keys"]}
    assert mine
    assert theirs
    assert not mine & theirs
    token = api.token(other)
    with pytest.raises(KeyError, match="no key for kid"):
        verify_with_pyjwt(api, token, api.workspace)  # not in this workspace's JWKS


def test_discovery(backend_api: Api) -> None:
    api = backend_api
    ws = api.workspace
    response = api.client.get(discovery_path(ws))
    assert response.status_code == 200, response.text
    assert _max_age(response.headers["cache-control"]) == api.settings.jwks_max_age_seconds
    body = response.json()
    assert body["issuer"] == ws.issuer == f"{api.settings.base_url}/w/{ws.api_key}"
    assert body["jwks_uri"] == f"{ws.issuer}/.well-known/jwks.json"
    assert api.settings.signing_algorithm in body["id_token_signing_alg_values_supported"]
    assert "none" not in {a.lower() for a in body["id_token_signing_alg_values_supported"]}
    for claim in ("iss", "aud", "sub", "exp", "organizationId", "email", "isAdmin"):
        assert claim in body["claims_supported"]
    # the jwks_uri is served by this app
    path = body["jwks_uri"].removeprefix(api.settings.base_url)
    assert path == jwks_path(ws)
    assert api.client.get(path).status_code == 200


def test_discovery_uses_the_public_url(client_factory: AppFactory) -> None:
    api = client_factory(public_url="https://id.example.com/")
    body = api.client.get(discovery_path(api.workspace)).json()
    assert body["issuer"] == f"https://id.example.com/w/{api.workspace.api_key}"
    assert (
        body["jwks_uri"]
        == f"https://id.example.com/w/{api.workspace.api_key}/.well-known/jwks.json"
    )
    claims = verify_with_pyjwt(api, api.token())
    assert claims["iss"] == body["issuer"]


@pytest.mark.parametrize("kind", ["jwks.json", "openid-configuration"])
@pytest.mark.parametrize("api_key", ["pk_unknown", "x", "pk_" + "z" * 300])
def test_unknown_api_key_is_not_found(api: Api, kind: str, api_key: str) -> None:
    response = api.client.get(f"/w/{api_key}/.well-known/{kind}")
    assert_error(
        response,
        404,
        "NOT_FOUND",
        "workspace_not_found",
        message="No workspace has this API key.",
    )
    assert "max-age" not in response.headers.get("cache-control", "")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_jwks_is_read_only(api: Api, method: str) -> None:
    response = api.client.request(method, jwks_path(api.workspace))
    assert_error(response, 405, "INVALID_ARGUMENT", "method_not_allowed")


def test_unknown_well_known_document(api: Api) -> None:
    response = api.client.get(f"/w/{api.workspace.api_key}/.well-known/other.json")
    assert_error(response, 404, "NOT_FOUND", "not_found")
