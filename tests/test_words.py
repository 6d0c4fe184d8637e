"""Error messages say what was expected and what was found."""

from __future__ import annotations

from pathlib import Path

import pytest

from idmint import ApiKeyNotFoundError, AuthTokenNotFoundError, InvalidArgumentError
from idmint.client import AsyncRemoteVerifier, IdmintClient, RemoteVerifier
from idmint.service import Idmint


def test_swapped_credentials_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from idmint.settings import Settings

    monkeypatch.setenv("IDMINT_DATA_DIR", str(tmp_path / "data"))
    service = Idmint.open(Settings(), create=True)
    try:
        created = service.init_workspace()
        api_key, secret = created.workspace.api_key, created.auth_token.secret
        with pytest.raises(ApiKeyNotFoundError, match="looks like an auth token"):
            service.tokens.mint(secret, api_key, "u1", organization_id="o1")
        with pytest.raises(AuthTokenNotFoundError, match="looks like an API key") as caught:
            service.tokens.mint(api_key, api_key, "u1", organization_id="o1")
        assert secret not in caught.value.message
        # An unknown token in general keeps the answer its callers know.
        with pytest.raises(AuthTokenNotFoundError) as unknown:
            service.tokens.mint(api_key, "sk_unknown", "u1", organization_id="o1")
        assert unknown.value.message == "Auth token not found."
    finally:
        service.close()


@pytest.mark.parametrize(
    "url", ["idmint.example.com", "localhost:8000", "ftp://idmint.example.com"]
)
def test_a_client_url_without_an_http_scheme_says_so(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="http:// or https://"):
        IdmintClient(url, api_key="pk_1")
    with pytest.raises(InvalidArgumentError, match="JWKS URL"):
        RemoteVerifier(f"{url}/w/pk_1", audience="pk_1")
    with pytest.raises(InvalidArgumentError):
        AsyncRemoteVerifier(f"{url}/w/pk_1", audience="pk_1")
