"""The migrations build exactly the schema the models declare, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import app.models  # noqa: F401  (every table on the metadata)
from app.core.db import Base


async def test_the_migrated_schema_is_the_models(database_url: str) -> None:
    engine = create_async_engine(database_url)

    def declared(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
        # The GIN index on a function of the name lives in migration 0002 alone (an
        # expression over a PL/pgSQL function the models do not declare).
        return not (kind == "index" and name == "ix_referrals_name_prefixes")

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "include_object": declared}
        )
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        found = await connection.run_sync(differences)
    await engine.dispose()
    assert found == []
