"""Trusted users: identify's profile in a table of its own, one email per user.

- ``user_profiles`` holds what identify stores (``name``, ``photoUrl``, other members); the
  users' ``name``, ``photo_url`` and ``profile`` columns move there and are dropped, so that
  ``users`` holds only what authenticated callers wrote.
- ``email_key`` is recomputed under the new rule (ASCII letters without case, every other
  character exactly, in NFC: no Unicode case folding, which merged distinct mailboxes) and made unique
  per workspace.  Users that already share a key keep their email, but their key moves to
  ``email_conflict``: minting by that email answers ``email_ambiguous`` until an admin gives all
  but one of them another email (``idmint users duplicates`` lists them).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The comparison rule as of this revision (idmint.store.email_key may change later; a
# migration must not).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _email_key(email: str) -> str:
    # ASCII letters lowered as written, then NFC (see idmint.store.email_key).
    return unicodedata.normalize("NFC", email.translate(_ASCII_LOWER))


_users = sa.table(
    "users",
    sa.column("workspace_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("email", sa.String),
    sa.column("email_key", sa.String),
    sa.column("email_conflict", sa.String),
    sa.column("name", sa.String),
    sa.column("photo_url", sa.String),
    sa.column("profile", sa.JSON),
    sa.column("updated_at", sa.Float),
)
_profiles = sa.table(
    "user_profiles",
    sa.column("workspace_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("profile", sa.JSON),
    sa.column("updated_at", sa.Float),
)


def upgrade() -> None:
    connection = op.get_bind()
    op.create_table(
        "user_profiles",
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "user_id"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_conflict", sa.String(length=320), nullable=True))

    rows = connection.execute(
        sa.select(
            _users.c.workspace_id,
            _users.c.user_id,
            _users.c.email,
            _users.c.name,
            _users.c.photo_url,
            _users.c.profile,
            _users.c.updated_at,
        )
    ).all()
    profiles: list[dict[str, Any]] = []
    keys: dict[tuple[str, str], list[str]] = defaultdict(list)
    for workspace_id, user_id, email, name, photo_url, profile, updated_at in rows:
        moved = dict(profile or {})
        if name is not None:
            moved.setdefault("name", name)
        if photo_url is not None:
            moved.setdefault("photoUrl", photo_url)
        if moved:
            profiles.append(
                {
                    "workspace_id": workspace_id,
                    "user_id": user_id,
                    "profile": moved,
                    "updated_at": updated_at,
                }
            )
        if email is not None:
            keys[workspace_id, _email_key(email)].append(user_id)
    if profiles:
        connection.execute(sa.insert(_profiles), profiles)

    # The old (case-folded) keys go; each user gets the new key, or a conflict mark.
    connection.execute(sa.update(_users).values(email_key=None))
    keyed = sa.update(_users).where(
        _users.c.workspace_id == sa.bindparam("ws"), _users.c.user_id == sa.bindparam("uid")
    )
    unique = [
        {"ws": ws, "uid": users[0], "email_key": key}
        for (ws, key), users in keys.items()
        if len(users) == 1
    ]
    shared = [
        {"ws": ws, "uid": uid, "email_conflict": key}
        for (ws, key), users in keys.items()
        if len(users) > 1
        for uid in users
    ]
    if unique:
        connection.execute(keyed.values(email_key=sa.bindparam("email_key")), unique)
    if shared:
        connection.execute(keyed.values(email_conflict=sa.bindparam("email_conflict")), shared)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_email_key")
        batch_op.create_index("uq_users_email_key", ["workspace_id", "email_key"], unique=True)
        batch_op.create_index(
            "ix_users_email_conflict", ["workspace_id", "email_conflict"], unique=False
        )
        batch_op.drop_column("name")
        batch_op.drop_column("photo_url")
        batch_op.drop_column("profile")


def downgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("photo_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(
            sa.Column("profile", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    for workspace_id, user_id, profile in connection.execute(
        sa.select(_profiles.c.workspace_id, _profiles.c.user_id, _profiles.c.profile)
    ).all():
        rest = dict(profile or {})
        name, photo_url = rest.pop("name", None), rest.pop("photoUrl", None)
        connection.execute(
            sa.update(_users)
            .where(_users.c.workspace_id == workspace_id, _users.c.user_id == user_id)
            .values(
                name=name if isinstance(name, str) else None,
                photo_url=photo_url if isinstance(photo_url, str) else None,
                profile=rest,
            )
        )
    # Case-folded keys again; conflicted users get theirs back (the old index was not unique).
    for workspace_id, user_id, email in connection.execute(
        sa.select(_users.c.workspace_id, _users.c.user_id, _users.c.email).where(
            _users.c.email.is_not(None)
        )
    ).all():
        connection.execute(
            sa.update(_users)
            .where(_users.c.workspace_id == workspace_id, _users.c.user_id == user_id)
            .values(email_key=email.casefold())
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_email_conflict")
        batch_op.drop_index("uq_users_email_key")
        batch_op.create_index("ix_users_email_key", ["workspace_id", "email_key"], unique=False)
        batch_op.drop_column("email_conflict")
    op.drop_table("user_profiles")
