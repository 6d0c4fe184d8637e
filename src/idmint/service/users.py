"""Users of a workspace: created by minting (auto-create) or by an admin, never by identify.

Emails are unique per workspace, compared as :func:`~idmint.store.email_key` says.  Users who
shared an email before that rule (migration 0002) are marked; minting by such an email is
``email_ambiguous`` until an admin gives all but one of them another email or deletes them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from idmint.jose.clock import Clock
from idmint.jose.errors import EmailAmbiguousError, EmailTakenError, UserNotFoundError
from idmint.service._cache import TTLCache
from idmint.service.audit import AuditLog
from idmint.service.validation import check_email, check_id
from idmint.service.workspaces import WorkspaceService
from idmint.store import Store, User, UserColumns, UserProfile, email_key

__all__ = ["UserService"]

EMAIL_CACHE_SIZE = 100_000  # users found by email kept per instance


class UserService:
    """Admin operations on users, and the look-up of mint by email.

    :param cache_seconds: how long a user found by email may be reused before the store is
        read again (``IDMINT_CREDENTIAL_CACHE_SECONDS``); a change to the user on this
        instance (:meth:`changed`) drops it at once.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        audit: AuditLog,
        workspaces: WorkspaceService,
        *,
        cache_seconds: float = 0.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._workspaces = workspaces
        self._by_email: TTLCache[tuple[str, str], User] = TTLCache(
            clock, ttl=cache_seconds, size=EMAIL_CACHE_SIZE
        )
        # (workspace id, user id) -> the email key it is cached under, to drop it on a change.
        self._cached_as: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def changed(
        self, workspace_id: str, user_id: str, values: Mapping[str, Any] | None = None
    ) -> None:
        """A user was written on this instance (``values``: the columns written; None: the
        user was created or deleted): drop what the email cache holds that this changes."""
        key = (workspace_id, user_id)
        with self._lock:
            old = self._cached_as.get(key)
        if old is not None and values is not None:
            cached = self._by_email.get((workspace_id, old))
            if cached is not None and all(
                getattr(cached, name, None) == value for name, value in values.items()
            ):
                return  # the same user with the same data: the cached answer still holds
        with self._lock:
            self._cached_as.pop(key, None)
        if old is not None:
            self._by_email.invalidate((workspace_id, old))
        email = None if values is None else values.get("email")
        if isinstance(email, str) and email_key(email) != old:
            # A new address: this user may now be its first holder.
            self._by_email.invalidate((workspace_id, email_key(email)))

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
        """Add a user (``name`` goes into the profile, where identify keeps it up to date).

        :raises UserExistsError: when the userId is taken.
        :raises EmailTakenError: when another user holds the email.
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
            email_conflict=None,
            is_admin=is_admin,
            created_at=now,
            updated_at=now,
        )
        if user.email is not None:
            self._check_email_free(workspace.id, user.user_id, user.email)
        self._store.create_user(user, {"name": name} if name is not None else None)
        self.changed(workspace.id, user.user_id, {"email": user.email})
        self._audit.record(
            "user.create", workspace_id=workspace.id, actor=actor, subject=user.user_id
        )
        return user

    def update(
        self,
        api_key: str,
        user_id: str,
        *,
        actor: str,
        changes: Mapping[str, Any],
    ) -> User:
        """Change a user's trusted attributes: any of ``email``, ``organization_id`` (None
        clears either) and ``is_admin``.

        :raises UserNotFoundError: when there is no such user.
        :raises EmailTakenError: when another user holds the email.
        """
        workspace = self._workspaces.get(api_key)
        values: UserColumns = {}
        if "organization_id" in changes:
            organization_id = changes["organization_id"]
            values["organization_id"] = (
                None if organization_id is None else check_id(organization_id, "organizationId")
            )
        if "is_admin" in changes:
            values["is_admin"] = bool(changes["is_admin"])
        if "email" in changes:
            email = changes["email"]
            if email is None:
                values.update({"email": None, "email_key": None, "email_conflict": None})
            else:
                check_email(email)
                self._check_email_free(workspace.id, user_id, email)
                values.update(
                    {"email": email, "email_key": email_key(email), "email_conflict": None}
                )
        before = self._store.user(workspace.id, user_id)
        user = self._store.update_user(workspace.id, user_id, values, self._clock.now())
        if user is None:
            raise UserNotFoundError(f"User {user_id!r} not found.")
        self.changed(workspace.id, user_id, values)
        if before is not None and before.email_conflict is not None:
            self._store.settle_email(workspace.id, before.email_conflict)
        self._audit.record(
            "user.update",
            workspace_id=workspace.id,
            actor=actor,
            subject=user_id,
            changed=sorted(values.keys() - {"email_key", "email_conflict"}),
        )
        return user

    def _check_email_free(self, workspace_id: str, user_id: str, email: str) -> None:
        """:raises EmailTakenError: when users marked as sharing ``email`` (from before
        emails were unique) include others than ``user_id`` (a holder is refused by the unique
        index when the write is committed)."""
        key = email_key(email)
        if self._store.contested(workspace_id, key) and any(
            sharer.user_id != user_id for sharer in self._store.email_sharers(workspace_id, key)
        ):
            raise EmailTakenError("Another user of this workspace has this email.")

    def get(self, api_key: str, user_id: str) -> User:
        user = self._store.user(self._workspaces.get(api_key).id, user_id)
        if user is None:
            raise UserNotFoundError(f"User {user_id!r} not found.")
        return user

    def profile(self, api_key: str, user_id: str) -> UserProfile | None:
        """What the user's client last sent to identify (untrusted), if it ever did."""
        return self._store.user_profile(self._workspaces.get(api_key).id, user_id)

    def profiles(self, api_key: str, users: list[User]) -> dict[str, UserProfile]:
        """The identify profiles of ``users``, by userId."""
        workspace_id = self._workspaces.get(api_key).id
        return self._store.user_profiles(workspace_id, [user.user_id for user in users])

    def by_email(self, api_key: str, email: str) -> User:
        """The user who holds ``email``, cached for ``cache_seconds``.

        :raises UserNotFoundError: when nobody does.
        :raises EmailAmbiguousError: when several users shared it before emails were unique.
        """
        workspace_id = self._workspaces.get(api_key).id
        key = (workspace_id, email_key(check_email(email, "username")))
        user = self._by_email.get(key)
        if user is None:
            generation = self._by_email.generation
            user = self._store.user_by_email(workspace_id, email)
            if user is None:
                user = self._shared(workspace_id, key[1])
            with self._lock:
                self._cached_as[workspace_id, user.user_id] = key[1]
                if len(self._cached_as) > 2 * EMAIL_CACHE_SIZE:  # entries the cache evicted
                    self._cached_as.clear()
                    self._by_email.clear()
            self._by_email.put(key, user, generation=generation)
        return user

    def _shared(self, workspace_id: str, key: str) -> User:
        """The user of an email nobody holds: one left of users who shared it (now its
        holder), or none."""
        if self._store.contested(workspace_id, key):
            sharers = self._store.email_sharers(workspace_id, key)
            if len(sharers) > 1:
                raise EmailAmbiguousError(
                    f"{len(sharers)} users of this workspace share this email (from before "
                    "emails were unique): give all but one another email, or delete them "
                    "(`idmint users duplicates` lists them)."
                )
            if sharers:
                settled = self._store.settle_email(workspace_id, key)
                if settled is not None:
                    return settled
        raise UserNotFoundError("No user with this email.")

    def duplicates(self, api_key: str) -> list[User]:
        """Users who share an email from before emails were unique, grouped by email."""
        return self._store.shared_emails(self._workspaces.get(api_key).id)

    def cached_by_email(self, api_key: str, email: str) -> bool:
        """Whether :meth:`by_email` would answer ``email`` from memory, reading nothing from
        the store (the front then mints on the event loop rather than in the thread pool)."""
        workspace = self._workspaces.cached(api_key)
        return workspace is not None and (
            self._by_email.get((workspace.id, email_key(email))) is not None
        )

    def list(self, api_key: str, *, limit: int = 100, after: str | None = None) -> list[User]:
        return list(self._store.users(self._workspaces.get(api_key).id, limit=limit, after=after))

    def delete(self, api_key: str, user_id: str, *, actor: str) -> None:
        workspace = self._workspaces.get(api_key)
        before = self._store.user(workspace.id, user_id)
        deleted = self._store.delete_user(workspace.id, user_id)
        self.changed(workspace.id, user_id)
        if not deleted:
            raise UserNotFoundError(f"User {user_id!r} not found.")
        if before is not None and before.email_conflict is not None:
            self._store.settle_email(workspace.id, before.email_conflict)
        self._audit.record("user.delete", workspace_id=workspace.id, actor=actor, subject=user_id)
