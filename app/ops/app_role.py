"""`rujukan db app-role NAME` (SPEC §8): the PostgreSQL role the service runs as.

Run as the schema owner after every `rujukan db upgrade`; idempotent. The role may log
in, read and write rows (DML) of the service's tables and use their sequences; it owns
nothing, so it can change no schema (no DDL), and it may only read and append to the
append-only tables: no UPDATE, DELETE or TRUNCATE on audit rows, seals and history, and
only SELECT on Alembic's version table. The triggers of the migrations refuse those
changes too; the grants make the refusal the database's own and independent of them.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

# Tables whose rows are never updated or deleted by the service (SPEC §8).
APPEND_ONLY = ("audit_events", "audit_seals", "referral_history")
# A role name the statements below can quote safely (PostgreSQL's unquoted identifiers).
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
RESERVED = re.compile(r"pg_.*|public|postgres|current_user|session_user|current_role|none")


class AppRoleError(ValueError):
    """The name or the database cannot take an application role (one line, exit 1)."""


def check_name(name: str) -> str:
    if not ROLE_NAME.fullmatch(name) or RESERVED.fullmatch(name):
        raise AppRoleError(
            f"{name!r} is not a usable role name: lower-case letters, digits and _, at most "
            "63, not starting with a digit, not pg_* or a reserved name"
        )
    return name


def statements(name: str, database: str) -> list[str]:
    """The grants, in order: each may run again without harm."""
    role = f'"{check_name(name)}"'
    db = '"' + database.replace('"', '""') + '"'
    return [
        f"GRANT CONNECT ON DATABASE {db} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"REVOKE CREATE ON SCHEMA public FROM {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {', '.join(APPEND_ONLY)} FROM {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}",
        # Tables a later migration creates get DML at once (serve keeps working after an
        # upgrade); rerunning this command takes UPDATE/DELETE off new append-only tables.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]


async def ensure_app_role(database_url: str, name: str) -> dict[str, Any]:
    """Create role `name` (LOGIN, no password: set one with `ALTER ROLE … PASSWORD`) if it
    is missing, and grant it exactly what the service needs, in one transaction."""
    check_name(name)
    if not database_url.startswith("postgresql"):
        raise AppRoleError("RUJUKAN_DATABASE_URL: database roles exist only on PostgreSQL")
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": name}
            )
            if not exists:
                # Roles are cluster-wide: another run may create it meanwhile.
                await connection.execute(
                    text(
                        "DO $$ BEGIN CREATE ROLE "
                        f'"{name}"'
                        " LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                    )
                )
            database = await connection.scalar(text("SELECT current_database()"))
            for statement in statements(name, str(database)):
                await connection.execute(text(statement))
    finally:
        await engine.dispose()
    return {
        "role": name,
        "created": not exists,
        "append_only": list(APPEND_ONLY),
    }
