"""The `rujukan` command. Results go to stdout as JSON; logs go to stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr, ValidationError

from app.auth.roles import Role
from app.clients.schemas import ClientCreate
from app.core.config import Settings, get_settings
from app.core.errors import FieldError, ProblemError
from app.core.logging import configure_logging
from app.core.validation import body_errors


def _upgrade(settings: Settings) -> None:
    from app.core.migrate import upgrade

    path = settings.sqlite_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    _upgrade(get_settings())
    print(json.dumps({"upgraded": True}))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    if settings.is_sqlite:
        _upgrade(settings)  # the embedded default migrates itself; PostgreSQL is migrated apart
    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=args.host,
        port=args.port,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=30,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from app.runtime import build_runtime
    from app.webhooks.worker import run_worker

    settings = get_settings()
    if settings.is_sqlite:
        _upgrade(settings)
    runtime = build_runtime(settings)
    asyncio.run(run_worker(runtime.db, runtime.cipher, settings))
    return 0


class UsageError(Exception):
    """A command's arguments break a rule: one line on stderr, exit 2 (as argparse does)."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"rujukan {command}: error: {message}")


# `errors[].pointer` of a client body → the `rujukan clients create` option it came from.
_CLIENT_FLAGS = {
    "name": "--name",
    "role": "--role",
    "facility_codes": "--facility",
    "sentra_codes": "--sentra",
    "bapas_codes": "--bapas",
}


def _client_usage_error(errors: list[FieldError]) -> UsageError:
    parts = []
    for error in errors:
        field = (error.pointer or "").strip("/").split("/", 1)[0]
        flag = _CLIENT_FLAGS.get(field)
        parts.append(f"{flag}: {error.detail}" if flag else error.detail)
    return UsageError("clients create", "; ".join(parts) or "invalid arguments")


def _client_request(args: argparse.Namespace) -> ClientCreate:
    """The same body rules as `POST /v1/clients` (name, codes), before anything is written."""
    try:
        return ClientCreate.model_validate(
            {
                "name": args.name,
                "role": args.role,
                "facility_codes": args.facility,
                "sentra_codes": args.sentra,
                "bapas_codes": args.bapas,
            }
        )
    except ValidationError as exc:
        raise _client_usage_error(body_errors(exc.errors())) from None


async def _create_client(body: ClientCreate) -> dict[str, Any]:
    from app.clients.service import create_client
    from app.core.db import Database

    db = Database(get_settings())
    try:
        async with db.transaction() as session:
            try:
                # Like `POST /v1/clients`; no principal: the operator.
                issued = await create_client(session, None, body)
            except ProblemError as exc:  # role and bindings disagree
                if exc.errors:
                    raise _client_usage_error(exc.errors) from None
                raise UsageError("clients create", exc.detail or exc.code) from None
        return {
            "client_id": str(issued.client.id),
            "api_key": issued.api_key,
            "name": issued.client.name,
            "role": issued.client.role,
            "facility_codes": issued.client.facility_codes,
            "sentra_codes": issued.client.sentra_codes,
            "bapas_codes": issued.client.bapas_codes,
        }
    finally:
        await db.dispose()


def cmd_clients_create(args: argparse.Namespace) -> int:
    body = _client_request(args)
    settings = get_settings()
    if settings.is_sqlite:
        _upgrade(settings)
    print(json.dumps(asyncio.run(_create_client(body))))
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    print(json.dumps(openapi_document(), indent=2, ensure_ascii=False))
    return 0


def openapi_document() -> dict[str, Any]:
    """The served document; built with a throwaway key so printing it needs no secrets."""
    import base64
    import os

    from app.main import create_app
    from app.openapi import build_openapi

    settings = get_settings().model_copy(
        update={"data_key": SecretStr(base64.b64encode(os.urandom(32)).decode())}
    )
    return build_openapi(create_app(settings))


def cmd_demo(args: argparse.Namespace) -> int:
    from app.ops.demo import seed_demo

    settings = get_settings()
    _upgrade(settings)
    result = asyncio.run(seed_demo(settings))
    print(json.dumps(result, indent=2))
    return 0


async def _with_services(job: str, **kwargs: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    from app.ops import maintenance
    from app.runtime import build_runtime

    settings = get_settings()
    runtime = build_runtime(settings)
    try:
        if job == "rotate":
            report = await maintenance.rotate_keys(runtime.db, runtime.cipher)
        else:
            report = await maintenance.anonymise_ended(
                runtime.db,
                runtime.cipher,
                datetime.now(UTC),
                retention_days=settings.retention_days,
                dry_run=kwargs["dry_run"],
            )
        return {"job": job, **report.as_dict(), **kwargs}
    finally:
        await runtime.db.dispose()


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    print(json.dumps(asyncio.run(_with_services("rotate"))))
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    print(json.dumps(asyncio.run(_with_services("retention", dry_run=args.dry_run))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rujukan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser(
        "worker", help="run the webhook relay until SIGTERM/SIGINT (several may run at once)"
    ).set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate to the newest schema").set_defaults(
        func=cmd_db_upgrade
    )

    clients = sub.add_parser("clients", help="API clients")
    clients_sub = clients.add_subparsers(dest="clients_command", required=True)
    create = clients_sub.add_parser("create", help="create a client and print its key once")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--facility", action="append", default=[], metavar="CODE")
    create.add_argument("--sentra", action="append", default=[], metavar="CODE")
    create.add_argument("--bapas", action="append", default=[], metavar="CODE")
    create.set_defaults(func=cmd_clients_create)

    keys = sub.add_parser("keys", help="data encryption keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser(
        "rotate",
        help="re-encrypt every row under RUJUKAN_DATA_KEY (old keys in RUJUKAN_PREVIOUS_DATA_KEYS)",
    ).set_defaults(func=cmd_keys_rotate)

    retention = sub.add_parser(
        "retention", help="anonymise referrals ended more than RUJUKAN_RETENTION_DAYS ago"
    )
    retention.add_argument("--dry-run", action="store_true", help="count, change nothing")
    retention.set_defaults(func=cmd_retention)

    sub.add_parser("openapi", help="print the OpenAPI document").set_defaults(func=cmd_openapi)
    sub.add_parser("demo", help="seed demo clients, sentra and referrals").set_defaults(
        func=cmd_demo
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(get_settings().log_level)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
