"""The SDK's public surface: ``idmint.client.__all__`` is complete and sorted, and the docs'
Python examples at least compile against it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import idmint.client
from idmint.client import AsyncIdmintClient, AsyncRemoteVerifier, IdmintClient, RemoteVerifier

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk-python.md"


def test_all_is_sorted() -> None:
    assert idmint.client.__all__ == sorted(idmint.client.__all__)


def test_all_names_exist_and_every_public_name_is_listed() -> None:
    public = {
        name
        for name in dir(idmint.client)
        if not name.startswith("_") and not isinstance(getattr(idmint.client, name), ModuleType)
    }
    assert set(idmint.client.__all__) == public


def test_docs_python_examples_compile_and_name_only_exported_members() -> None:
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "docs/sdk-python.md has no python examples"
    for number, block in enumerate(blocks):
        compile(block, f"{DOC.name}[{number}]", "exec")
        for names in re.findall(r"from idmint\.client import ([^\n(]+)", block):
            for name in names.split(","):
                assert name.strip() in idmint.client.__all__, name


# The calls that examples and other teams write against; a signature change must break here.
PUBLISHED_CALLS: list[tuple[str, tuple[object, ...], dict[str, object]]] = [
    (
        "generate_token",
        ("user-1",),
        {"organization_id": "org-1", "email": "a@b.c", "is_admin": False, "expires_in": None},
    ),
    ("token_for_email", ("ann@example.com",), {}),
    ("get_workspace", (), {}),
    (
        "update_settings",
        (),
        {
            "require_jwt": True,
            "token_ttl_seconds": 60,
            "min_ttl_seconds": 1,
            "max_ttl_seconds": 60,
            "auto_create_users": True,
            "allowed_domains": [],
        },
    ),
    ("create_auth_token", ("deploy",), {"expires_at": None}),
    ("list_auth_tokens", (), {}),
    ("revoke_auth_token", ("at_1",), {}),
    (
        "create_user",
        ("user-1",),
        {"email": None, "organization_id": None, "name": None, "is_admin": False},
    ),
    ("create_user", ("user-1", "a@b.c", "org-1", "Ann", False), {}),
    ("get_user", ("user-1",), {}),
    ("list_users", (), {"limit": 100, "after": None}),
    ("iter_users", (), {}),
    ("delete_user", ("user-1",), {}),
    ("revoke", (), {"jti": None, "user_id": "user-1", "organization_id": None, "reason": None}),
    ("revoke", ("jti-1", None, None, "why"), {}),
    ("revocations", (), {}),
    ("audit", (), {"limit": 100, "before": None, "action": None, "outcome": None}),
    ("signing_keys", (), {}),
    ("rotate_key", (), {"alg": None, "now": False}),
    ("jwks", (), {}),
    ("identify", ({"userId": "user-1"}, "eyJ..."), {}),
    ("identify", ({"userId": "user-1"},), {"auth_token": None}),
    ("close", (), {}),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs"), PUBLISHED_CALLS, ids=[c[0] for c in PUBLISHED_CALLS]
)
@pytest.mark.parametrize("cls", [IdmintClient, AsyncIdmintClient], ids=["sync", "async"])
def test_published_call_shapes_bind(
    cls: type, name: str, args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    inspect.signature(getattr(cls, name)).bind(object(), *args, **kwargs)


def test_published_constructor_shapes_bind() -> None:
    for cls in (IdmintClient, AsyncIdmintClient):
        inspect.signature(cls).bind(
            "http://127.0.0.1:8000",
            api_key="pk_",
            auth_token="sk_",
            admin_token=None,
            timeout=10.0,
            transport=None,
        )
    for verifier in (RemoteVerifier, AsyncRemoteVerifier):
        inspect.signature(verifier).bind(
            "http://127.0.0.1:8000/w/pk_",
            "pk_",
            leeway=30,
            min_refetch_interval=30.0,
            http_client=None,
            clock=None,
            transport=None,
        )
