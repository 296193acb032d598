"""The `rujukan` command. Results go to stdout as JSON; logs and progress go to stderr.

Configuration comes from RUJUKAN_* environment variables (docs/operations.md). A
configuration mistake stops a command with one line naming the variable, exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from pydantic import SecretStr, ValidationError

from app.auth.roles import Role
from app.clients.schemas import ClientCreate
from app.core.config import ConfigError, Settings, get_settings
from app.core.dbfaults import is_database_unavailable, is_schema_missing
from app.core.errors import FieldError, ProblemError
from app.core.logging import configure_logging
from app.core.validation import body_errors

EXIT_CONFIG = 1
EXIT_USAGE = 2
EXIT_TAMPERED = 3


class UsageError(Exception):
    """A command's arguments break a rule: one line on stderr, exit 2 (as argparse does)."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"rujukan {command}: error: {message}")


class CommandError(Exception):
    """The command could not do its work for a reason the operator can act on: one line,
    exit 1 (a configuration mistake, an unreachable database, an unusable input file)."""


def _print_json(value: Any, *, indent: int | None = None) -> None:
    print(json.dumps(value, indent=indent, ensure_ascii=False, default=str))


# -- start-up checks ------------------------------------------------------------------------


def _settings() -> Settings:
    settings = get_settings()
    path = settings.sqlite_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return settings


def _database_at(settings: Settings) -> str:
    """Where the database is, for a message: never the password."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if settings.is_sqlite:
        return str(settings.sqlite_path or ":memory:")
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


async def _reach(settings: Settings) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(settings.database_url, connect_args=_connect_timeout(settings))
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def _connect_timeout(settings: Settings) -> dict[str, Any]:
    return {} if settings.is_sqlite else {"timeout": 5}


def preflight(settings: Settings, *, key: bool = True, audit: bool = False) -> None:
    """The data key (and for what seals the audit log or serves its seals, the audit
    signing key) is usable and the database answers, before any work starts."""
    if key:
        settings.resolve_data_key()
        settings.resolve_previous_keys()
    if audit:
        settings.resolve_audit_signing_key()
    try:
        asyncio.run(_reach(settings))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommandError(
            f"RUJUKAN_DATABASE_URL: cannot connect to the database at {_database_at(settings)}"
            f" ({reason[:200]})"
        ) from None


def _upgrade(settings: Settings) -> tuple[str | None, str | None]:
    from app.core.migrate import current_revision, head_revision, upgrade

    before = current_revision(settings.database_url)
    upgrade(settings.database_url)
    return before, head_revision()


def _port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"RUJUKAN_PORT / --port: cannot listen on {host}:{port} ({exc.strerror}); "
                "another process uses it — stop it or choose another port"
            ) from None


# -- commands --------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    preflight(settings, key=False)
    before, after = _upgrade(settings)
    _print_json({"upgraded": before != after, "from": before, "to": after})
    return 0


def cmd_db_app_role(args: argparse.Namespace) -> int:
    from app.ops.app_role import AppRoleError, check_name, ensure_app_role

    try:
        check_name(args.name)
    except AppRoleError as exc:
        raise UsageError("db app-role", str(exc)) from None
    settings = _settings()
    if settings.is_sqlite:
        raise CommandError(
            "RUJUKAN_DATABASE_URL: database roles exist only on PostgreSQL (the embedded "
            "database has none to grant)"
        )
    preflight(settings, key=False)
    _print_json(asyncio.run(ensure_app_role(settings.database_url, args.name)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    host = args.host or settings.host
    port = args.port or settings.port
    preflight(settings, audit=True)
    _port_free(host, port)
    if settings.is_sqlite:
        _upgrade(settings)  # the embedded default migrates itself; PostgreSQL is migrated apart
    uvicorn.run(
        "app.main:app_factory",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=30,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from app.runtime import build_runtime, sealer_of
    from app.webhooks.worker import run_worker

    settings = _settings()
    preflight(settings, audit=True)
    if settings.is_sqlite:
        _upgrade(settings)
    runtime = build_runtime(settings)
    asyncio.run(run_worker(runtime.db, runtime.cipher, settings, sealer=sealer_of(runtime)))
    return 0


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
        parts.append(f"{flag}: {error.detail}" if flag else str(error.detail))
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


async def _create_client(settings: Settings, body: ClientCreate) -> dict[str, Any]:
    from sqlalchemy import select

    from app.clients.service import create_client
    from app.core.db import Database
    from app.reference.models import Sentra

    db = Database(settings)
    try:
        async with db.transaction() as session:
            try:
                # Like `POST /v1/clients`; no principal: the operator.
                issued = await create_client(session, None, body)
            except ProblemError as exc:  # role and bindings disagree
                if exc.errors:
                    raise _client_usage_error(exc.errors) from None
                raise UsageError("clients create", str(exc.detail or exc.code)) from None
            known = set(
                (
                    await session.execute(
                        select(Sentra.code).where(Sentra.code.in_(body.sentra_codes))
                    )
                ).scalars()
            )
        # Allowed (SPEC §2: codes need not be registered first), but worth a word.
        for code in body.sentra_codes:
            if code not in known:
                print(
                    f"rujukan clients create: note: sentra {code} is not in the registry yet "
                    "(`rujukan sentra import`)",
                    file=sys.stderr,
                )
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
    settings = _settings()
    preflight(settings, key=False)
    if settings.is_sqlite:
        _upgrade(settings)
    _print_json(asyncio.run(_create_client(settings, body)))
    return 0


async def _load_sentra(settings: Settings, rows: list[Any]) -> dict[str, int]:
    from datetime import UTC, datetime

    from app.core.db import Database
    from app.reference.sentra import load_registry

    db = Database(settings)
    try:
        async with db.transaction() as session:
            return await load_registry(session, rows, datetime.now(UTC))
    finally:
        await db.dispose()


def cmd_sentra_import(args: argparse.Namespace) -> int:
    from app.ops.sentra_csv import RegistryFileError, parse_registry

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"sentra import: cannot read {path} ({exc.strerror})") from None
    try:
        rows, refused = parse_registry(data)
    except RegistryFileError as exc:
        raise CommandError(f"sentra import: {path}: {exc}") from None
    if refused:
        _print_json({"loaded": False, "rows": len(rows) + len(refused),
                     "refused": [r.as_dict() for r in refused]})  # fmt: skip
        print(
            f"rujukan sentra import: {len(refused)} row(s) refused; nothing was loaded",
            file=sys.stderr,
        )
        return 1
    settings = _settings()
    preflight(settings, key=False)
    if settings.is_sqlite:
        _upgrade(settings)
    counts = asyncio.run(_load_sentra(settings, rows))
    _print_json({"loaded": True, "rows": len(rows), **counts})
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    _print_json(openapi_document(), indent=2)
    return 0


def openapi_document() -> dict[str, Any]:
    """The served document. Built on a throwaway in-memory database and key: printing it
    needs no secrets, no database and writes no files."""
    import base64
    import os

    from app.main import create_app
    from app.openapi import build_openapi

    settings = get_settings().model_copy(
        update={
            "data_key": SecretStr(base64.b64encode(os.urandom(32)).decode()),
            "audit_signing_key": SecretStr(base64.b64encode(os.urandom(32)).decode()),
            "database_url": "sqlite+aiosqlite:///:memory:",
        }
    )
    return build_openapi(create_app(settings))


def cmd_demo(args: argparse.Namespace) -> int:
    from app.ops.demo import seed_demo

    settings = _settings()
    preflight(settings)
    _upgrade(settings)
    _print_json(asyncio.run(seed_demo(settings)), indent=2)
    return 0


def _progress(label: str, unit: str, total: int | None = None) -> Any:
    from app.ops.progress import Progress

    return Progress(label, total=total, unit=unit)


async def _maintenance(job: str, settings: Settings, dry_run: bool) -> dict[str, Any]:
    from datetime import UTC, datetime

    from app.ops import maintenance
    from app.runtime import build_runtime

    runtime = build_runtime(settings)
    try:
        with _progress(f"{job}", "referrals") as progress:
            if job == "keys rotate":
                report = await maintenance.rotate_keys(
                    runtime.db, runtime.cipher, on_batch=progress.advance
                )
            else:
                report = await maintenance.anonymise_ended(
                    runtime.db,
                    runtime.cipher,
                    datetime.now(UTC),
                    retention_days=settings.retention_days,
                    dry_run=dry_run,
                    on_batch=progress.advance,
                )
        out: dict[str, Any] = {"job": job.replace("keys ", ""), **report.as_dict()}
        if job == "retention":
            out["dry_run"] = dry_run
        return out
    finally:
        await runtime.db.dispose()


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    settings = _settings()
    preflight(settings)
    _print_json(asyncio.run(_maintenance("keys rotate", settings, dry_run=False)))
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    settings = _settings()
    preflight(settings)
    _print_json(asyncio.run(_maintenance("retention", settings, dry_run=args.dry_run)))
    return 0


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            count += chunk.count(b"\n")
    return count


async def _import(
    settings: Settings, client_id: str, source: IO[bytes], rejects: IO[bytes], total: int | None
) -> dict[str, Any]:
    from app.ops.importer import ImportRefusedError, read_lines, run_import, sender_for
    from app.runtime import build_runtime

    runtime = build_runtime(settings)
    try:
        try:
            sender = await sender_for(runtime, client_id)
        except ImportRefusedError as exc:
            raise CommandError(f"import: {exc}") from None
        with _progress("import", "events", total) as progress:
            summary = await run_import(
                sender, read_lines(source), rejects, on_batch=progress.advance
            )
        return summary.as_dict()
    finally:
        await runtime.db.dispose()


def cmd_import(args: argparse.Namespace) -> int:
    if args.file == "-":
        source_path, rejects_path = None, Path("rejects.jsonl")
    else:
        source_path = Path(args.file)
        rejects_path = source_path.with_name(source_path.name + ".rejects.jsonl")
        if not source_path.is_file():
            raise CommandError(f"import: {source_path} is not a readable file")
    settings = _settings()
    preflight(settings)
    if settings.is_sqlite:
        _upgrade(settings)
    with contextlib.ExitStack() as stack:
        if source_path is None:
            source: IO[bytes] = sys.stdin.buffer
            total = None
        else:
            source = stack.enter_context(source_path.open("rb"))
            total = _count_lines(source_path)
        rejects = stack.enter_context(rejects_path.open("wb"))  # rewritten each run
        summary = asyncio.run(_import(settings, args.client, source, rejects, total))
    _print_json(summary)
    if summary["refused"]:
        print(
            f"rujukan import: {summary['refused']} event(s) refused; see {rejects_path}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _verify_audit(settings: Settings, public_keys: str | None) -> dict[str, Any]:
    from app.audit.seals import parse_public_keys, signing_key, verify
    from app.core.db import Database

    if public_keys is None:
        keys = [signing_key(settings.resolve_audit_signing_key()).public_key()]
    else:
        keys = parse_public_keys(public_keys)
    db = Database(settings)
    try:
        report = await verify(db, keys)
    finally:
        await db.dispose()
    return report.as_json()


def cmd_audit_verify(args: argparse.Namespace) -> int:
    settings = _settings()
    public_keys = None
    if args.public_key is not None:
        try:
            public_keys = Path(args.public_key).read_text(encoding="utf-8")
            from app.audit.seals import parse_public_keys

            if not parse_public_keys(public_keys):
                raise ValueError("no key in it")
        except (OSError, ValueError) as exc:
            raise UsageError(
                "audit verify",
                f"--public-key {args.public_key}: not a file of base64 Ed25519 public keys "
                f"({type(exc).__name__})",
            ) from None
    preflight(settings, key=False)
    report = asyncio.run(_verify_audit(settings, public_keys))
    _print_json(report)
    if report["problem"] is not None:
        print(f"rujukan audit verify: {report['problem']['detail']}", file=sys.stderr)
        return EXIT_TAMPERED
    return 0


# -- the parser ------------------------------------------------------------------------------


def _version() -> str:
    try:
        return metadata.version("rujukan")
    except metadata.PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown"


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default beside its help, unless it has none worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def _command(
    sub: Any, name: str, help_text: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, description=help_text, formatter_class=_Formatter
    )
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rujukan", description=__doc__, formatter_class=_Formatter
    )
    parser.add_argument("--version", action="version", version=f"rujukan {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _command(sub, "serve", "run the HTTP API", cmd_serve)
    serve.add_argument(
        "--host", default=None, help="address to listen on (default: RUJUKAN_HOST, 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: RUJUKAN_PORT, 8000)"
    )

    _command(
        sub,
        "worker",
        "run the webhook relay and the moment scheduler until SIGTERM/SIGINT (several "
        "may run at once)",
        cmd_worker,
    )

    db = sub.add_parser("db", help="the database schema", formatter_class=_Formatter)
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    _command(db_sub, "upgrade", "migrate the database to this release's schema", cmd_db_upgrade)
    app_role = _command(
        db_sub,
        "app-role",
        "PostgreSQL, as the schema owner: create the role the service runs as (if missing) "
        "and grant it row access only: no DDL, no UPDATE/DELETE on audit rows, seals and "
        "history; rerun after every db upgrade",
        cmd_db_app_role,
    )
    app_role.add_argument("name", metavar="NAME", help="the role, e.g. rujukan_app")

    clients = sub.add_parser("clients", help="API clients", formatter_class=_Formatter)
    clients_sub = clients.add_subparsers(dest="clients_command", required=True, metavar="COMMAND")
    create = _command(
        clients_sub, "create", "create a client and print its API key (shown once)",
        cmd_clients_create,
    )  # fmt: skip
    create.add_argument("--name", required=True, help="who the client is, e.g. the SDP of a Lapas")
    create.add_argument(
        "--role", required=True, choices=[r.value for r in Role], help="what it may do (SPEC §2)"
    )
    create.add_argument(
        "--facility", action="append", default=[], metavar="CODE",
        help="a facility a prison client posts for (repeat for more; `*`: all)",
    )  # fmt: skip
    create.add_argument(
        "--sentra", action="append", default=[], metavar="CODE",
        help="a sentra a sentra client works for (repeat for more)",
    )  # fmt: skip
    create.add_argument(
        "--bapas", action="append", default=[], metavar="CODE",
        help="a Bapas a bapas client supervises for (repeat for more; `*`: all)",
    )  # fmt: skip

    sentra = sub.add_parser("sentra", help="the sentra registry", formatter_class=_Formatter)
    sentra_sub = sentra.add_subparsers(dest="sentra_command", required=True, metavar="COMMAND")
    sentra_import = _command(
        sentra_sub,
        "import",
        "load or update the sentra registry from a UTF-8 CSV with the header "
        "code,name,province_code,regency_code,coverage_regency_codes,active (coverage codes "
        "separated by spaces); nothing is written if any row is refused",
        cmd_sentra_import,
    )
    sentra_import.add_argument("file", metavar="FILE.csv", help="the registry file")

    importer = _command(
        sub,
        "import",
        "load a prison's backlog of release events (JSON Lines, one event per line) through "
        "the API's intake; safe to rerun",
        cmd_import,
    )
    importer.add_argument(
        "file", metavar="FILE", help="the JSON Lines file, or - for standard input"
    )
    importer.add_argument(
        "--client", required=True, metavar="UUID",
        help="the prison client the events are posted as (its facilities bound)",
    )  # fmt: skip

    audit = sub.add_parser("audit", help="the audit log", formatter_class=_Formatter)
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    verify = _command(
        audit_sub,
        "verify",
        "recompute every audit seal from the rows and check its signature; exit 3 naming "
        "the first row or seal changed, removed or inserted (rows newer than the last seal "
        "are reported as unsealed)",
        cmd_audit_verify,
    )
    verify.add_argument(
        "--public-key", default=None, metavar="FILE",
        help="base64 Ed25519 public keys, one a line (GET /v1/audit-seals' public_key, and "
        "the keys before a rotation); default: the key of RUJUKAN_AUDIT_SIGNING_KEY",
    )  # fmt: skip

    keys = sub.add_parser("keys", help="data encryption keys", formatter_class=_Formatter)
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    _command(
        keys_sub,
        "rotate",
        "re-encrypt every row under RUJUKAN_DATA_KEY (old keys in RUJUKAN_PREVIOUS_DATA_KEYS)",
        cmd_keys_rotate,
    )

    retention = _command(
        sub,
        "retention",
        "anonymise referrals that ended more than RUJUKAN_RETENTION_DAYS ago",
        cmd_retention,
    )
    retention.add_argument("--dry-run", action="store_true", help="count them, change nothing")

    _command(sub, "openapi", "print the OpenAPI document (writes no files)", cmd_openapi)
    _command(
        sub,
        "demo",
        "seed demo clients, sentra and referrals and print their keys (rerun: nothing added, "
        "keys renewed)",
        cmd_demo,
    )
    return parser


# -- errors at the top -----------------------------------------------------------------------


def settings_problem(exc: ValidationError) -> str:
    """A settings error as one line naming the variable (never its value: it may be a key)."""
    parts = []
    for error in exc.errors():
        loc = error.get("loc") or ()
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if loc:
            parts.append(f"RUJUKAN_{str(loc[0]).upper()}: {message}")
        else:
            parts.append(message)
    return "; ".join(parts)


def _fail(message: str) -> int:
    print(f"rujukan: {message}", file=sys.stderr)
    return EXIT_CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        return _fail(settings_problem(exc))
    configure_logging(settings.log_level)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except (CommandError, ConfigError) as exc:
        return _fail(str(exc))
    except ValidationError as exc:  # a setting checked when it is first used
        return _fail(settings_problem(exc))
    except KeyboardInterrupt:
        print("rujukan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (`rujukan openapi | head`): not an error
        sys.stderr.close()
        return 0
    except Exception as exc:
        if is_schema_missing(exc):
            return _fail("the database is not migrated to this release: run `rujukan db upgrade`")
        if is_database_unavailable(exc):
            return _fail(
                "RUJUKAN_DATABASE_URL: the database became unreachable; nothing after the "
                "last completed step was written, rerun the command"
            )
        raise
    return code


if __name__ == "__main__":
    sys.exit(main())
