"""Console accounts and their sign-in: the people who manage idmint through its console.

An account is an ``owner`` (every workspace, and the accounts) or a ``member``, whose
memberships give it ``admin`` (changes) or ``viewer`` (reads) on single workspaces
(:meth:`ConsoleAccounts.can`).  The console keeps at least one owner (``last_owner``).

Passwords are argon2id hashes (:mod:`idmint.service._passwords`); a password made by idmint is
returned once, by the call that made it.  A sign-in of an unknown email verifies a dummy hash,
so that it takes as long as a wrong password; failures are throttled per client address and
per ``console:<email>`` with the API's throttle, and audited as unknown credentials are
(aggregated per minute, one ``throttle.block`` event per block).

Sessions are server-side (:mod:`idmint.service.console_sessions`): the store holds hashes of
their secrets only, and they end at sign-out, password reset, deletion, and after idle and
absolute timeouts.

Every change is audited with its ``actor``: ``console:<email>`` (:meth:`ConsoleAccounts.actor`)
for a signed-in account, ``cli`` from the shell.  This module knows nothing of HTTP: cookies,
forms and status codes are the console package's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from idmint.jose.errors import (
    AccountNotFoundError,
    InvalidArgumentError,
    InvalidEmailError,
    WorkspaceNotFoundError,
)
from idmint.service._ids import new_id
from idmint.service._passwords import check_password, generate_password
from idmint.service.console_sessions import ConsoleSessions, SignedIn, csrf_token
from idmint.store import ConsoleAccount, ConsoleMembership, Workspace

__all__ = [
    "ACCOUNT_ROLES",
    "WORKSPACE_ROLES",
    "Action",
    "ConsoleAccounts",
    "CreatedAccount",
    "SignedIn",
    "csrf_token",
]

ACCOUNT_ROLES: Final = ("owner", "member")
WORKSPACE_ROLES: Final = ("admin", "viewer")
#: What :meth:`ConsoleAccounts.can` answers for: read a workspace, change it, manage accounts.
Action = Literal["read", "write", "accounts"]

# One @, something either side, no spaces or control characters; unlike a user's email a
# console account's needs no dot in its domain (owner@localhost).
_EMAIL: Final = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class CreatedAccount:
    """A new or reset account, with the password idmint made for it (shown this once;
    None when the caller chose the password)."""

    account: ConsoleAccount
    password: str | None
    memberships: Mapping[str, str]


def check_email(value: object) -> str:
    """:raises InvalidEmailError: not ``local@domain`` of at most 320 characters."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError("email is required.", field="email")
    if len(value) > 320 or not _EMAIL.fullmatch(value):
        raise InvalidEmailError("email is not a valid email address.", field="email")
    return value


def _choice(value: str, allowed: Sequence[str], field: str) -> str:
    if value not in allowed:
        raise InvalidArgumentError(f"{field} must be one of {', '.join(allowed)}.", field=field)
    return value


class ConsoleAccounts(ConsoleSessions):
    """Console accounts, their memberships, and (from :class:`ConsoleSessions`) sign-in and
    sessions (see the module docstring)."""

    # --- accounts -------------------------------------------------------------------------------

    def create_account(
        self,
        email: str,
        role: str = "member",
        *,
        password: str | None = None,
        memberships: Mapping[str, str] | None = None,
        actor: str = "cli",
    ) -> CreatedAccount:
        """Create an account; without ``password`` one is generated and returned once.

        :param memberships: workspace id -> ``admin`` | ``viewer`` (a member's workspaces).
        :raises InvalidArgumentError: a bad email, role, password or workspace role.
        :raises WorkspaceNotFoundError: a membership names no workspace.
        :raises AccountExistsError: another account holds the email.
        """
        check_email(email)
        _choice(role, ACCOUNT_ROLES, "role")
        given = dict(memberships or {})
        for workspace_role in given.values():
            _choice(workspace_role, WORKSPACE_ROLES, "workspaceRole")
        self._check_workspaces(given)
        generated = generate_password() if password is None else None
        secret = generated or check_password(password or "")
        now = self._clock.now()
        account = ConsoleAccount(
            id=new_id("ca"),
            email=email,
            password_hash=self._passwords.hash(secret),
            role=role,
            created_at=now,
            updated_at=now,
        )
        rows = [
            ConsoleMembership(account_id=account.id, workspace_id=ws, role=r, created_at=now)
            for ws, r in given.items()
        ]
        self._store.add_console_account(account, rows)
        self._audit.record(
            "console.account.create", workspace_id=None, actor=actor, subject=email, role=role
        )
        for workspace_id, workspace_role in given.items():
            self._audit.record(
                "console.membership.set",
                workspace_id=workspace_id,
                actor=actor,
                subject=email,
                role=workspace_role,
            )
        return CreatedAccount(account, generated, given)

    def ensure_owner(self, email: str, *, actor: str = "cli") -> CreatedAccount | None:
        """Create an owner with a generated password when the console has none (``idmint
        init``); None when it has one."""
        if self.has_owner():
            return None
        return self.create_account(email, "owner", actor=actor)

    def all(self) -> Sequence[ConsoleAccount]:
        """Every account, oldest first."""
        return self._store.console_accounts()

    def get(self, account: str) -> ConsoleAccount:
        """The account with this email (compared as users' are) or id (``ca_...``).

        :raises AccountNotFoundError: when there is none.
        """
        found = (
            self._store.console_account_by_email(account)
            if "@" in account
            else self._store.console_account(account)
        )
        if found is None:
            raise AccountNotFoundError()
        return found

    def has_owner(self) -> bool:
        return self._store.console_owner_count() > 0

    def memberships(self, account: str) -> dict[str, str]:
        """An account's workspaces: workspace id -> ``admin`` | ``viewer``."""
        row = self.get(account)
        return {m.workspace_id: m.role for m in self._store.console_memberships(row.id)}

    def reset_password(
        self, account: str, *, password: str | None = None, actor: str = "cli"
    ) -> CreatedAccount:
        """Give an account a new password (generated and returned once, unless given) and
        end its sessions.

        :raises AccountNotFoundError: no such account.
        """
        row = self.get(account)
        generated = generate_password() if password is None else None
        secret = generated or check_password(password or "")
        now = self._clock.now()
        updated = self._store.update_console_account(
            row.id, password_hash=self._passwords.hash(secret), updated_at=now
        )
        if updated is None:
            raise AccountNotFoundError()
        ended = self._store.revoke_console_sessions(now, account_id=row.id)
        self._audit.record(
            "console.account.password_reset",
            workspace_id=None,
            actor=actor,
            subject=row.email,
            sessionsEnded=ended,
        )
        return CreatedAccount(updated, generated, self.memberships(row.id))

    def set_disabled(self, account: str, disabled: bool, *, actor: str = "cli") -> ConsoleAccount:
        """Disable an account (it cannot sign in, its sessions end) or enable it again.

        :raises AccountNotFoundError: no such account.
        """
        row = self.get(account)
        now = self._clock.now()
        updated = self._store.update_console_account(
            row.id, disabled_at=now if disabled else None, updated_at=now
        )
        if updated is None:
            raise AccountNotFoundError()
        if disabled:
            self._store.revoke_console_sessions(now, account_id=row.id)
        action = "console.account.disable" if disabled else "console.account.enable"
        self._audit.record(action, workspace_id=None, actor=actor, subject=row.email)
        return updated

    def set_role(self, account: str, role: str, *, actor: str = "cli") -> ConsoleAccount:
        """Make an account an owner or a member.

        :raises LastOwnerError: it is the last owner and ``role`` is ``member``.
        """
        _choice(role, ACCOUNT_ROLES, "role")
        row = self.get(account)
        updated = self._store.update_console_account(
            row.id, role=role, updated_at=self._clock.now()
        )
        if updated is None:
            raise AccountNotFoundError()
        self._audit.record(
            "console.account.role", workspace_id=None, actor=actor, subject=row.email, role=role
        )
        return updated

    def delete(self, account: str, *, actor: str = "cli") -> ConsoleAccount:
        """Delete an account, its memberships and its sessions (they end at once).

        :raises AccountNotFoundError: no such account.
        :raises LastOwnerError: it is the last owner.
        """
        row = self.get(account)
        if not self._store.delete_console_account(row.id):
            raise AccountNotFoundError()
        self._audit.record(
            "console.account.delete", workspace_id=None, actor=actor, subject=row.email
        )
        return row

    def set_membership(
        self, account: str, workspace_id: str, role: str, *, actor: str = "cli"
    ) -> None:
        """Give an account ``admin`` or ``viewer`` in a workspace (replacing its role there).

        :raises WorkspaceNotFoundError: no such workspace.
        """
        _choice(role, WORKSPACE_ROLES, "workspaceRole")
        row = self.get(account)
        self._check_workspaces({workspace_id: role})
        self._store.set_console_membership(row.id, workspace_id, role, self._clock.now())
        self._audit.record(
            "console.membership.set",
            workspace_id=workspace_id,
            actor=actor,
            subject=row.email,
            role=role,
        )

    def remove_membership(self, account: str, workspace_id: str, *, actor: str = "cli") -> bool:
        """Take an account's role in a workspace away; False when it had none."""
        row = self.get(account)
        removed = self._store.remove_console_membership(row.id, workspace_id)
        if removed:
            self._audit.record(
                "console.membership.remove",
                workspace_id=workspace_id,
                actor=actor,
                subject=row.email,
            )
        return removed

    def _check_workspaces(self, memberships: Mapping[str, str]) -> None:
        if not memberships:
            return
        known = {workspace.id for workspace in self._store.workspaces()}
        for workspace_id in memberships:
            if workspace_id not in known:
                raise WorkspaceNotFoundError(f"No workspace has the id {workspace_id!r}.")

    # --- permissions ----------------------------------------------------------------------------

    def can(self, who: SignedIn | ConsoleAccount, workspace_id: str | None, action: Action) -> bool:
        """Whether an account may do ``action``: owners everything; a member ``read`` and
        (as ``admin``) ``write`` in its workspaces, and never ``accounts``."""
        account = who.account if isinstance(who, SignedIn) else who
        if account.disabled_at is not None:
            return False
        if account.role == "owner":
            return True
        if action == "accounts" or workspace_id is None:
            return False
        memberships = who.memberships if isinstance(who, SignedIn) else self.memberships(account.id)
        role = memberships.get(workspace_id)
        return role == "admin" or (role == "viewer" and action == "read")

    def workspaces(self, who: SignedIn) -> list[Workspace]:
        """The workspaces an account sees: every one for an owner, else its memberships'."""
        every = self._store.workspaces()
        if who.account.role == "owner":
            return list(every)
        return [workspace for workspace in every if workspace.id in who.memberships]
