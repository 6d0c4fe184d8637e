"""Users of a workspace: created by minting (auto-create), by identify, or by an admin."""

from __future__ import annotations

from idmint.clock import Clock
from idmint.errors import UserNotFoundError
from idmint.service.audit import AuditLog
from idmint.service.validation import check_email, check_id
from idmint.service.workspaces import WorkspaceService
from idmint.store import Store, User

__all__ = ["UserService"]


class UserService:
    """Admin operations on users."""

    def __init__(
        self, store: Store, clock: Clock, audit: AuditLog, workspaces: WorkspaceService
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._workspaces = workspaces

    def create(
        self,
        api_key: str,
        user_id: str,
        *,
        actor: str,
        email: str | None = None,
        organization_id: str | None = None,
        name: str | None = None,
        is_admin: bool = False,
    ) -> User:
        """Add a user.

        :raises UserExistsError: when the userId is taken.
        """
        workspace = self._workspaces.get(api_key)
        now = self._clock.now()
        user = User(
            workspace_id=workspace.id,
            user_id=check_id(user_id, "userId"),
            organization_id=None
            if organization_id is None
            else check_id(organization_id, "organizationId"),
            email=None if email is None else check_email(email),
            name=name,
            photo_url=None,
            profile={},
            is_admin=is_admin,
            created_at=now,
            updated_at=now,
        )
        self._store.create_user(user)
        self._audit.record(
            "user.create", workspace_id=workspace.id, actor=actor, subject=user.user_id
        )
        return user

    def get(self, api_key: str, user_id: str) -> User:
        user = self._store.user(self._workspaces.get(api_key).id, user_id)
        if user is None:
            raise UserNotFoundError(f"User {user_id!r} not found.")
        return user

    def by_email(self, api_key: str, email: str) -> User:
        user = self._store.user_by_email(
            self._workspaces.get(api_key).id, check_email(email, "username")
        )
        if user is None:
            raise UserNotFoundError("No user with this email.")
        return user

    def list(self, api_key: str, *, limit: int = 100, after: str | None = None) -> list[User]:
        return list(self._store.users(self._workspaces.get(api_key).id, limit=limit, after=after))

    def delete(self, api_key: str, user_id: str, *, actor: str) -> None:
        workspace = self._workspaces.get(api_key)
        if not self._store.delete_user(workspace.id, user_id):
            raise UserNotFoundError(f"User {user_id!r} not found.")
        self._audit.record("user.delete", workspace_id=workspace.id, actor=actor, subject=user_id)
