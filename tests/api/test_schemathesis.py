"""Property-based tests of the whole HTTP API from its OpenAPI document (schemathesis 4), with
every check that schemathesis registers (``schemathesis.checks.CHECKS``, fourteen in 4.32).

``test_api_conforms_to_its_openapi_document`` sends every operation generated requests, valid
and invalid (schemathesis' coverage and fuzzing phases), to the app running in this process.
An auth provider gives the admin API the admin credential and ``POST /api/v1/tokens`` the
workspace's ``idmint API_KEY:AUTH_TOKEN``, so that schemathesis knows them as explicit
credentials: ``ignored_auth`` replays each accepted request without them and with a wrong one
(each must be 401 or 403), ``missing_required_header`` expects 401 where it leaves
``Authorization`` out.  Real identifiers (the workspace's API key, existing users, the auth
token's id; in bodies the API key and auth token) go only into the parts of a case that were
generated valid, so that ``negative_data_rejection`` judges what was generated invalid.  Every
answer must not be a 5xx, must have a status, content type, headers and body the document
declares, must reject invalid data and accept valid data; a method the route does not take
must be refused with a correct ``Allow``.

A 400 for valid data (``positive_data_acceptance``) is expected in two cases, asserted
precisely instead:

* the case breaks a rule that no JSON Schema can state (``_unstatable_refusal``): strings are
  Unicode text (no lone surrogate, no non-character: one rule for every string and key, which
  a pattern cannot say alike in ECMA-262's UTF-16 and in code points); an integer is written
  as one (JSON Schema's ``integer`` admits ``1.0`` and ``1e3``, which idmint's strict
  integers refuse); token lifetimes nest, also with the values stored (a workspace's
  settings, a mint's ``expiresIn``); a domain pattern's and a rate's syntax; an
  ``expiresAt`` ahead of the clock.  The answer must be 400 with the error (code and field)
  of that rule.  Rules that can be stated are in the document: an email's syntax, a
  revocation's "exactly one of".
* the harness left the credentials of a body as generated (one case in four, so that wrong
  credentials are fuzzed too): credentials in a body that name nothing are 400
  ``api_key_not_found`` / ``auth_token_not_found`` by design (docs/api.md), not 401 or 404.

``test_stateful_workflows`` runs schemathesis' state machine over the links it infers from the
document (a workspace created, then its users, auth tokens, revocations, keys; a user created,
read, changed, deleted), each scenario on a new app and store so that hypothesis can replay
it: once over every route, once over workspaces and users alone (fewer links to choose from,
so that users are often created, read, deleted and read again).  The checks that need a
recorded scenario get one there (in the first test they have none): ``use_after_free`` (what
was deleted stays gone), ``ensure_resource_availability`` (what was created can be read) and
``object_level_authorization``, with two peer identities from a Web Fuzzing Commons auth
document: the admin credential, which sends every request and owns what it creates, and the
admin-scoped auth token of another workspace, which must get none of it when it replays the
admin's reads.  Every other check runs there too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Container, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.types import Receive, Scope, Send

from idmint.api import create_app
from idmint.api.bodies import read_json
from idmint.jose.claims import ABSOLUTE_MAX_LIFETIME
from idmint.jose.errors import ApiKeyNotFoundError, InvalidArgumentError
from idmint.serializers import parse_iso
from idmint.service.origins import check_patterns
from idmint.service.throttle import parse_rate
from idmint.service.workspaces import MAX_AUTH_TOKEN_LIFETIME

from .conftest import ADMIN_TOKEN, Api, AppFactory, Workspace, isolated_settings

CHECKS = list(REGISTERED_CHECKS.get_all())
MAX_TTL = int(ABSOLUTE_MAX_LIFETIME.total_seconds())
# The auth provider runs when pytest collects (the coverage phase's cases are made then), before
# the workspace exists: it puts in this stand-in, which the test replaces with the live one.
MINT_CREDENTIAL = "idmint API_KEY:AUTH_TOKEN"
Refusal = tuple[str, str | None]  # an error's code and field
# The routes whose credentials are in the body (the API key; for the mint, the auth token too).
BODY_CREDENTIALS = ("/v1/auth/token/get", "/v1/identify", "/v1/sign-out")
# The integers of request bodies, in the order validation reports them.
INTEGER_FIELDS: dict[str, list[tuple[str, ...]]] = {
    "POST /v1/auth/token/get": [("data", "expiresIn")],
    "PATCH /admin/v1/workspaces/{api_key}": [
        ("tokenTtlSeconds",),
        ("minTtlSeconds",),
        ("maxTtlSeconds",),
    ],
}


class _AppUnderTest:
    """The ASGI app that schemathesis calls, the generated requests and its own probes alike:
    the module's running app (set by the ``fuzzed`` fixture), whose lifespan the fixture runs."""

    def __init__(self) -> None:
        self.api: Api | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"].rsplit(".", 1)[-1]  # startup, then shutdown
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        assert self.api is not None, "the fuzzed fixture is not set up"
        await self.api.client.app(scope, receive, send)


TARGET = _AppUnderTest()
# The document does not depend on the store: take it from an app that never starts.
DOCUMENT = create_app(isolated_settings(data_dir=Path("unused"))).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.app = TARGET


@schema.auth(refresh_interval=None)
class _Credentials:
    """The credential each operation declares: the admin credential for the admin API, the
    workspace's API key and auth token for mint by email."""

    def get(self, case: Any, ctx: Any) -> str | None:
        path = case.operation.path
        if path.startswith("/admin/"):
            return f"Bearer {ADMIN_TOKEN}"
        if path == "/api/v1/tokens":
            return MINT_CREDENTIAL
        return None

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app for the module (hypothesis runs many examples per test), on SQLite, its
    lifespan (upkeep included) running as under uvicorn."""
    factory = AppFactory(tmp_path_factory)
    api = factory("sqlite")
    for user_id in ("alice", "bob"):
        api.create_user(user_id, email=f"{user_id}@example.com", organizationId="org-1")
    TARGET.api = api
    yield api
    TARGET.api = None
    factory.close()


def _inject(case: Any, api: Api, rng: random.Random) -> bool:
    """Real identifiers in the valid parts of three cases in four, and the live mint credential
    for its stand-in in every case.  Whether the case's body credentials stay as generated."""
    ws = api.workspace
    if case.headers and case.headers.get("Authorization") == MINT_CREDENTIAL:
        case.headers["Authorization"] = f"idmint {ws.api_key}:{ws.secret}"
    if rng.random() < 0.25:
        return case.operation.path in BODY_CREDENTIALS
    meta = case.meta
    params = case.path_parameters
    if params and not (meta and meta.is_negative_at(ParameterLocation.PATH)):
        if "api_key" in params:
            params["api_key"] = ws.api_key
        if "user_id" in params and rng.random() < 0.5:
            params["user_id"] = rng.choice(["alice", "bob"])
        if "token_id" in params and rng.random() < 0.3:
            params["token_id"] = ws.token_id  # revoking it is fine: it is re-made
    _put_body_credentials(case, api)
    if case.operation.path == "/api/v1/tokens" and _valid_body(case) and rng.random() < 0.5:
        case.body["username"] = "alice@example.com"
    return False


def _valid_body(case: Any) -> bool:
    meta = case.meta
    return isinstance(case.body, dict) and not (
        meta and meta.is_negative_at(ParameterLocation.BODY)
    )


def _put_body_credentials(case: Any, api: Api, linked: Container[str] = ()) -> None:
    """The workspace's API key (and auth token) in a valid body that carries them, unless a
    link put them there."""
    if not _valid_body(case) or "apiKey" in linked:
        return
    ws = api.workspace
    body = case.body
    path = case.operation.path
    if path == "/v1/auth/token/get":
        body["data"]["apiKey"] = ws.api_key
        body["data"]["authToken"] = ws.secret
    elif path in BODY_CREDENTIALS:
        body["apiKey"] = ws.api_key


def _unstatable_refusal(case: Any, api: Api) -> Refusal | None:
    """For a valid case (per the document) that breaks a rule no JSON Schema can state, the
    error that the API's 400 must carry; None for any other case.  Computed before the call."""
    meta = case.meta
    body = case.body
    if meta is None or meta.generation.mode.is_negative or not isinstance(body, dict):
        return None
    try:  # Unicode text: no lone surrogate, no non-character (one rule for every string)
        read_json(json.dumps(body).encode())
    except InvalidArgumentError as exc:
        return "invalid_argument", exc.field
    label = f"{case.method.upper()} {case.operation.path}"
    for path in INTEGER_FIELDS.get(label, []):
        value: Any = body
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        if isinstance(value, float):  # JSON Schema's integer admits 1.0 and 1e3; idmint not
            return "invalid_argument", ".".join(path)
    if label == "POST /v1/auth/token/get":
        ws = api.workspace
        data = body["data"]
        if (data["apiKey"], data["authToken"]) != (ws.api_key, ws.secret):
            return None  # refused for its credentials first
        stored = api.idmint.workspaces.get(ws.api_key)
        lifetime = data.get("expiresIn")
        if (
            lifetime is not None
            and not stored.min_ttl_seconds <= lifetime <= stored.max_ttl_seconds
        ):
            return "lifetime_out_of_bounds", None  # within the workspace's bounds
        return None
    try:
        stored = api.idmint.workspaces.get((case.path_parameters or {}).get("api_key", ""))
    except ApiKeyNotFoundError:
        return None  # no such workspace: 404 whatever the body
    if label == "PATCH /admin/v1/workspaces/{api_key}":
        lifetimes = [
            current if body.get(name) is None else body[name]
            for name, current in (
                ("minTtlSeconds", stored.min_ttl_seconds),
                ("tokenTtlSeconds", stored.token_ttl_seconds),
                ("maxTtlSeconds", stored.max_ttl_seconds),
            )
        ]
        if lifetimes != sorted(lifetimes) or not 1 <= lifetimes[0] <= lifetimes[2] <= MAX_TTL:
            return "invalid_argument", "tokenTtlSeconds"  # they nest, also with those stored
        if body.get("allowedDomains") is not None:
            try:  # a domain pattern's syntax (host, port, IPv6 literal)
                check_patterns(body["allowedDomains"])
            except InvalidArgumentError as exc:
                return "invalid_argument", exc.field
        rate = body.get("mintRateLimit")
        if rate is not None and rate.strip().lower() not in ("", "off"):
            try:  # one rate, in the limits library's syntax, within sane bounds
                parse_rate(rate)
            except ValueError:
                return "invalid_argument", "mintRateLimit"
    expires_at = body.get("expiresAt")
    if label == "POST /admin/v1/workspaces/{api_key}/auth-tokens" and expires_at is not None:
        now = api.clock.now()
        try:  # an ISO 8601 time, ahead of the clock by at most ten years
            at = parse_iso(expires_at, field="expiresAt")
        except InvalidArgumentError:
            return "invalid_argument", "expiresAt"
        if not now < at <= now + MAX_AUTH_TOKEN_LIFETIME:
            return "invalid_argument", "expiresAt"
    return None


def _assert_refused(response: Any, refusal: Refusal | None) -> None:
    if refusal is not None:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], error.get("field")) == refusal, response.text


def _reset_workspace(api: Api) -> None:
    """Generated requests may revoke the workspace's auth token or change its settings; undo
    that, so that every example starts with working credentials, identify in development mode
    (so that identify gets past the token check and stores), any origin and no mint quota."""
    ws = api.workspace
    record = next(t for t in api.idmint.workspaces.auth_tokens(ws.api_key) if t.id == ws.token_id)
    if record.revoked_at is not None or record.expires_at is not None:
        created = api.idmint.workspaces.create_auth_token(
            ws.api_key, "fuzz", actor="test", scopes=("mint", "admin")
        )
        api.workspace = Workspace(ws.api_key, created.secret, created.record.id, ws.issuer)
    current = api.idmint.workspaces.get(ws.api_key)
    if (
        current.require_jwt
        or not current.auto_create_users
        or current.allowed_domains
        or current.mint_rate_limit is not None
    ):
        api.idmint.workspaces.update_settings(
            ws.api_key,
            actor="test",
            require_jwt=False,
            auto_create_users=True,
            allowed_domains=[],
            mint_rate_limit="",
        )


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case: Any, fuzzed: Api) -> None:
    try:
        generated_credentials = _inject(case, fuzzed, random.Random(repr(case.body)))
        refusal = _unstatable_refusal(case, fuzzed)
        excluded = [positive_data_acceptance] if generated_credentials or refusal else []
        response = case.call_and_validate(checks=CHECKS, excluded_checks=excluded)
        _assert_refused(response, refusal)
    finally:
        _reset_workspace(fuzzed)


# The stateful test's identities (a Web Fuzzing Commons auth document): the admin credential,
# which sends every request and owns what it creates; and a peer, the admin-scoped auth token
# of a workspace of its own (made by logging in: a new one for each replay), which must get
# none of the admin's objects when it replays the admin's reads.
WFC_AUTH = {
    "auth": [
        {
            "name": "admin",
            "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {ADMIN_TOKEN}"}],
        },
        {
            "name": "peer",
            "loginEndpointAuth": {
                "endpoint": "/admin/v1/workspaces",
                "verb": "POST",
                "headers": [{"name": "Authorization", "value": f"Bearer {ADMIN_TOKEN}"}],
                "contentType": "application/json",
                "payloadRaw": '{"name": "peer", "scopes": ["admin"]}',
                "token": {
                    "extractFrom": "body",
                    "extractSelector": "/secret",
                    "sendIn": "header",
                    "sendName": "Authorization",
                    "sendTemplate": "Bearer {token}",
                },
            },
        },
    ]
}


@pytest.mark.parametrize(
    "paths",
    [
        pytest.param(None, id="every-route"),
        # Fewer links to choose from, so that a user is often created, read, deleted, read.
        pytest.param(r"^/admin/v1/workspaces(/\{api_key\}(/users(/\{user_id\})?)?)?$", id="users"),
    ],
)
def test_stateful_workflows(
    paths: str | None, fuzzed: Api, tmp_path_factory: pytest.TempPathFactory
) -> None:
    wfc = tmp_path_factory.mktemp("wfc") / "auth.json"
    wfc.write_text(json.dumps(WFC_AUTH))
    config = SchemathesisConfig.from_dict(
        {
            "auth": {
                "wfc": {
                    "path": str(wfc),
                    "user": "admin",
                    "peers": ["admin", "peer"],
                    "refresh_interval": 0,
                }
            }
        }
    )
    loaded = schemathesis.openapi.from_dict(DOCUMENT, config=config)
    stateful = loaded if paths is None else loaded.include(path_regex=paths)
    stateful.app = TARGET

    class Workflow(stateful.as_state_machine()):  # type: ignore[misc]
        """Each scenario on a new app and store, so that hypothesis can replay it."""

        def setup(self) -> None:
            self.factory = AppFactory(tmp_path_factory)
            self.api = TARGET.api = self.factory("sqlite", lifespan=False)
            self.refusal: Refusal | None = None

        def teardown(self) -> None:
            TARGET.api = fuzzed
            self.factory.close()

        def step(self, input: Any) -> Any:
            # The app's workspace where no link names one (a drawn API key names none).
            case = input.case
            linked = {str(name).rsplit("/", 1)[-1] for _location, name in input.applied_parameters}
            params = case.path_parameters
            if (
                params
                and "api_key" in params
                and "api_key" not in linked
                and not (case.meta and case.meta.is_negative_at(ParameterLocation.PATH))
            ):
                params["api_key"] = self.api.workspace.api_key
            if (ParameterLocation.BODY, None) not in input.applied_parameters:
                _put_body_credentials(case, self.api, linked)
            self.refusal = _unstatable_refusal(case, self.api)
            return super().step(input)

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                checks=CHECKS,
                excluded_checks=[] if self.refusal is None else [positive_data_acceptance],
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )
            _assert_refused(response, self.refusal)

    Workflow.run(
        settings=settings(
            max_examples=60,
            stateful_step_count=10,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
