"""The Python SDK of idmint: mint tokens and run the admin API over HTTP, and verify tokens
anywhere with the published keys.

    from idmint.client import IdmintClient, RemoteVerifier

    with IdmintClient("http://127.0.0.1:8000", api_key="pk_...", auth_token="sk_...") as client:
        token = client.generate_token("user-1", organization_id="org-1").token
    verifier = RemoteVerifier("http://127.0.0.1:8000/w/pk_...", audience="pk_...")
    print(verifier.verify(token).claims.user_id)

Errors are the classes of :mod:`idmint.jose.errors`, rebuilt from the server's error envelope.
See docs/sdk-python.md.
"""

from idmint.client._async import AsyncIdmintClient
from idmint.client._models import (
    AuditEvent,
    AuditPage,
    AuthTokenInfo,
    CreatedWorkspace,
    GeneratedToken,
    Revocation,
    Session,
    SigningKeyInfo,
    User,
    UserPage,
    Workspace,
)
from idmint.client._sync import IdmintClient
from idmint.client.verifier import AsyncRemoteVerifier, RemoteVerifier

__all__ = [
    "AsyncIdmintClient",
    "AsyncRemoteVerifier",
    "AuditEvent",
    "AuditPage",
    "AuthTokenInfo",
    "CreatedWorkspace",
    "GeneratedToken",
    "IdmintClient",
    "RemoteVerifier",
    "Revocation",
    "Session",
    "SigningKeyInfo",
    "User",
    "UserPage",
    "Workspace",
]
