"""Property-based tests of the whole HTTP API from its OpenAPI document (schemathesis 4).

Every operation gets generated requests (valid and invalid), sent to the in-process app with
real credentials put in where the operation takes them (so that not everything is a 401), and
every answer must: not be a 5xx, have a status the document declares, have the declared
content type and headers, and conform to the declared schema; methods a route does not take
are refused with a correct ``Allow``; a deleted resource stays gone (use after free).

Left out: ``negative_data_rejection`` (the credentials put in after generation can repair the
very part a negative case broke), ``positive_data_acceptance`` (fields carry checks JSON Schema
cannot state: email plausibility, lifetimes that nest, a rate's syntax), ``ignored_auth`` and
``missing_required_header`` (they replay the case with our injected credentials), and the
stateful ``ensure_resource_availability``/``object_level_authorization``.  Credentials are
covered by tests/api/test_credentials.py and tests/attacks/.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)

from idmint.api import create_app

from .conftest import ADMIN_TOKEN, Api, AppFactory, Workspace, isolated_settings

# The document does not depend on the store: take it from an app that never starts.
schema = schemathesis.openapi.from_dict(
    create_app(isolated_settings(data_dir=Path("unused"))).openapi()
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
    allow_header_conformance,
    use_after_free,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app for the module (hypothesis runs many examples per test), on SQLite."""
    factory = AppFactory(tmp_path_factory)
    api = factory("sqlite", lifespan=False)
    for user_id in ("alice", "bob"):
        api.create_user(user_id, email=f"{user_id}@example.com", organizationId="org-1")
    yield api
    factory.close()


def _inject_credentials(case: Any, api: Api, rng: random.Random) -> None:
    """Real credentials in three of four cases, so that most requests get past the door."""
    if rng.random() < 0.25:
        return
    ws = api.workspace
    path = case.path
    if case.path_parameters and "api_key" in case.path_parameters:
        case.path_parameters["api_key"] = ws.api_key
    if case.path_parameters and "user_id" in case.path_parameters and rng.random() < 0.5:
        case.path_parameters["user_id"] = rng.choice(["alice", "bob"])
    if case.path_parameters and "token_id" in case.path_parameters and rng.random() < 0.3:
        case.path_parameters["token_id"] = ws.token_id  # revoking it is fine: it is re-made
    headers = dict(case.headers or {})
    if path.startswith("/admin/"):
        headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    elif path == "/api/v1/tokens":
        headers["Authorization"] = f"Outseta {ws.api_key}:{ws.secret}"
    case.headers = headers
    body = case.body
    if path == "/v1/auth/token/get" and isinstance(body, dict):
        data = body.get("data")
        if isinstance(data, dict):
            data["apiKey"] = ws.api_key
            data["authToken"] = ws.secret
    elif path == "/v1/identify" and isinstance(body, dict):
        body["apiKey"] = ws.api_key
    elif path == "/api/v1/tokens" and isinstance(body, dict) and rng.random() < 0.5:
        body["username"] = "alice@example.com"


def _reset_workspace(api: Api) -> None:
    """Generated requests may revoke the workspace's auth token or turn "Require JWT Token"
    back on; undo both, so that every example starts with working credentials and with
    identify in development mode (so that identify gets past the token check and stores)."""
    ws = api.workspace
    record = next(t for t in api.idmint.workspaces.auth_tokens(ws.api_key) if t.id == ws.token_id)
    if record.revoked_at is not None or record.expires_at is not None:
        created = api.idmint.workspaces.create_auth_token(ws.api_key, "fuzz", actor="test")
        api.workspace = Workspace(ws.api_key, created.secret, created.record.id, ws.issuer)
    current = api.idmint.workspaces.get(ws.api_key)
    if current.require_jwt or not current.auto_create_users:
        api.idmint.workspaces.update_settings(
            ws.api_key, actor="test", require_jwt=False, auto_create_users=True
        )


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case: Any, fuzzed: Api) -> None:
    _reset_workspace(fuzzed)
    _inject_credentials(case, fuzzed, random.Random(repr(case.body)))
    app = fuzzed.client.app  # in-process; the lifespan is not started
    case.call_and_validate(app=app, checks=CHECKS)
