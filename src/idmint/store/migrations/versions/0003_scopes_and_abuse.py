"""Scoped auth tokens, a workspace's mint quota, and audit rows that name the client.

- ``auth_tokens.scopes``: what a token may do, ``mint`` and/or ``admin`` (space-separated).
  Every token made before it keeps what it could do: both.
- ``workspaces.mint_rate_limit``: an optional quota of mints (``100/second``, ``limits``
  syntax); none by default.
- ``audit_events.client_address``: the address the request came from, where there was one;
  and an index on ``at`` for the retention purge.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scopes", sa.String(length=64), nullable=False, server_default="mint admin")
        )
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mint_rate_limit", sa.String(length=64), nullable=True))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_address", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_audit_at", ["at"])


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_at")
        batch_op.drop_column("client_address")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("mint_rate_limit")
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.drop_column("scopes")
