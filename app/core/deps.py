"""Request-scoped dependencies of the kernel: settings, the clock, the cipher, cursors and
the request's unit of work.

The process-wide pieces are set on `app.state` by `app.main.create_app` (see
`app/runtime.py`); these read them, so routes and tests can override any one of them.

`SessionDep` is the unit of work of a request: one transaction, committed when the
endpoint has returned (before the response is sent: a commit that fails is the request's
failure, never a success that did not happen) and rolled back when anything was raised.
Services take the session and never begin, commit or roll back themselves. On the
embedded SQLite a writing unit of work queues on the process's write lock (app/core/db.py);
`ReadSessionDep` is for requests that write nothing (no lock).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock, utcnow
from app.core.config import Settings
from app.core.crypto import DataCipher
from app.core.cursor import CursorCodec
from app.core.db import Database


# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
# dependency in the thread pool, a thread hop on every request.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_cipher(request: Request) -> DataCipher:
    cipher: DataCipher = request.app.state.cipher
    return cipher


async def get_cursors(request: Request) -> CursorCodec:
    cursors: CursorCodec = request.app.state.cursors
    return cursors


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
CipherDep = Annotated[DataCipher, Depends(get_cipher)]
CursorsDep = Annotated[CursorCodec, Depends(get_cursors)]


async def get_clock(settings: SettingsDep) -> Clock:
    return Clock(now=utcnow(), tz=settings.tz)


ClockDep = Annotated[Clock, Depends(get_clock)]


async def write_session(db: DatabaseDep) -> AsyncIterator[AsyncSession]:
    async with db.transaction() as session:
        yield session


async def read_session(db: DatabaseDep) -> AsyncIterator[AsyncSession]:
    async with db.read_session() as session:
        yield session


# scope="function": the transaction ends when the endpoint returns, before the response.
SessionDep = Annotated[AsyncSession, Depends(write_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(read_session, scope="function")]
