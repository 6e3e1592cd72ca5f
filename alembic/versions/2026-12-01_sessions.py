"""sessions: auth_session table; ids never reused on SQLite (AUTOINCREMENT)

Revision ID: 2026_12_01_sessions
Revises: 0001
Create Date: 2026-12-01

SQLite hands the highest id out again after a delete unless the table is declared
AUTOINCREMENT, which only a rebuild can add (batch "recreate"). PostgreSQL's sequences
never reuse ids, so there only the new table is created. The rebuilt tables are described
here as revision 0001 made them (`copy_from`), so no reflection is needed and the
offline SQL renders too.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from service.database import NAMING_CONVENTION, UTCDateTime

revision: str = "2026_12_01_sessions"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tables_of_0001() -> tuple[sa.Table, sa.Table]:
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    users = sa.Table(
        "user_account",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("token_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("email", name="uq_user_account_email"),
    )
    products = sa.Table(
        "products",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey(
                "user_account.id",
                name="fk_products_owner_id_user_account",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("sku", name="uq_products_sku"),
        sa.Index("ix_products_name_id", "name", "id"),
        sa.Index("ix_products_price_cents_id", "price_cents", "id"),
        sa.Index("ix_products_created_at_id", "created_at", "id"),
        sa.Index("ix_products_owner_id", "owner_id"),
    )
    return users, products


def _rebuild_sqlite_tables(*, autoincrement: bool) -> None:
    # env.py turns SQLite's foreign keys off for migrations: dropping the old
    # user_account during the rebuild would otherwise cascade-delete every product.
    for table in _tables_of_0001():
        with op.batch_alter_table(
            table.name,
            recreate="always",
            copy_from=table,
            table_kwargs={"sqlite_autoincrement": autoincrement},
        ):
            pass


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _rebuild_sqlite_tables(autoincrement=True)
    op.create_table(
        "auth_session",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("refresh_jti", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_auth_session_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_session")),
    )
    op.create_index(op.f("ix_auth_session_user_id"), "auth_session", ["user_id"])
    op.create_index(op.f("ix_auth_session_expires_at"), "auth_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_session_expires_at"), table_name="auth_session")
    op.drop_index(op.f("ix_auth_session_user_id"), table_name="auth_session")
    op.drop_table("auth_session")
    if op.get_context().dialect.name == "sqlite":
        _rebuild_sqlite_tables(autoincrement=False)
