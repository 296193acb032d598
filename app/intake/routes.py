from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from app.audit import service as audit
from app.auth.principal import Principal
from app.auth.roles import Role
from app.context import AppServices
from app.core.clock import Clock
from app.core.errors import FieldError, ProblemError, validation_failed
from app.core.http import MIB, read_json
from app.core.metrics import INTAKE_OUTCOMES
from app.core.openapi import PROBLEM_RESPONSES, json_body
from app.deps import ClockDep, authenticate, get_services
from app.intake import service
from app.intake.schemas import EXAMPLE_EVENT, EventAccepted

router = APIRouter(prefix="/v1/release-events", tags=["Release events"])
MAX_BATCH = 500


@contextlib.asynccontextmanager
async def _refusal_audited(services: AppServices, principal: Principal) -> AsyncIterator[None]:
    """A request refused as a whole (403 role, 413, 415, a 422 of the body or the batch
    envelope) is an intake too (SPEC §8): audited with its problem code, like a refused
    event. Events that reach `service.receive_events` are audited there."""
    try:
        yield
    except ProblemError as problem:
        row = audit.row(principal, service.AUDIT_ACTION, problem.code)
        await audit.record_rows_apart(services, [row])
        raise


@dataclass(frozen=True, slots=True)
class Sender:
    """Who posts the events, and what intake needs with them."""

    services: AppServices
    principal: Principal
    clock: Clock


async def prison_sender(request: Request, clock: ClockDep) -> Sender:
    """The authenticated prison client (401, 429; 403 for another role, audited).

    One dependency doing what `PrincipalDep` and `ServicesDep` do: FastAPI's dependency
    solving cost ~0.1 ms per request for the five it took, on the path that carries the
    most requests (bench/intake.py)."""
    services = await get_services(request)
    principal = await authenticate(request, services)
    async with _refusal_audited(services, principal):
        if principal.role is not Role.prison:
            raise ProblemError("ROLE_NOT_PERMITTED", "This operation is open to: prison.")
    return Sender(services, principal, clock)


SenderDep = Annotated[Sender, Depends(prison_sender)]


def _examples() -> dict[str, Any]:
    supervised = {
        **EXAMPLE_EVENT,
        "event_id": "SDP-2026-000124",
        "event_type": "release.scheduled",
        "case_ref": "B.I-124/2023",
        "release": {
            "type": "pembebasan_bersyarat",
            "date": "2026-12-20",
            "supervision_end_date": "2027-06-20",
            "bapas_code": "BAPAS-JAKTIM",
        },
    }
    return {
        "completed": {"summary": "Release completed (bebas murni)", "value": EXAMPLE_EVENT},
        "scheduled_parole": {"summary": "Parole scheduled ahead", "value": supervised},
    }


@router.post(
    "",
    summary="Post one release event",
    description=(
        "Creates or updates the referral of the custody episode (`facility.code`, `case_ref`). "
        "201 when a referral was created, else 200. Resending the same `event_id` with the "
        "same body replays the first answer with `Idempotent-Replayed: true`; a different "
        "body under the same id is a 409 `EVENT_ID_CONFLICT`. Checks run in the order of "
        "SPEC §3 (401, 413, 422, 403 facility, idempotency, rules, case semantics); a key of "
        "another role is refused (403 `ROLE_NOT_PERMITTED`) with the authentication, before "
        "the body is read."
    ),
    status_code=201,
    response_model=EventAccepted,
    responses={
        200: {"model": EventAccepted, "description": "Applied to an existing referral"},
        **PROBLEM_RESPONSES,
    },
    openapi_extra=json_body("ReleaseEvent", _examples()),
)
async def post_event(request: Request, sender: SenderDep) -> Response:
    async with _refusal_audited(sender.services, sender.principal):
        raw = await read_json(request, MIB)
    result = await service.receive_event(sender.services, sender.principal, raw, sender.clock)
    INTAKE_OUTCOMES.labels("replayed" if result.replayed else result.body["outcome"]).inc()
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return _json(result.body, result.status_code, headers)


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _batch_events(raw: Any) -> list[Any]:
    """The events of a batch body, or its 422 (the whole request: SPEC §3)."""
    if not isinstance(raw, dict):
        raise validation_failed([FieldError("INVALID_TYPE", "expected an object", pointer="")])
    unknown = [k for k in raw if k != "events"]
    if unknown:
        raise validation_failed(
            [
                FieldError("UNKNOWN_FIELD", "Extra inputs are not permitted", pointer=f"/{k}")
                for k in unknown
            ]
        )
    events = raw.get("events")
    if not isinstance(events, list):
        code = "FIELD_REQUIRED" if events is None else "INVALID_TYPE"
        raise validation_failed([FieldError(code, "a list of events", pointer="/events")])
    if not 1 <= len(events) <= MAX_BATCH:
        raise validation_failed(
            [FieldError("BATCH_SIZE", f"1 to {MAX_BATCH} events", pointer="/events")]
        )
    return events


@router.post(
    "/batch",
    summary="Post up to 500 release events",
    description=(
        "Each event succeeds or fails on its own, in request order. `results[].status` is the "
        "status the event would get on its own and `problem` its problem body; pointers are "
        "prefixed with `/events/<index>`."
    ),
    status_code=207,
    responses=PROBLEM_RESPONSES,
    openapi_extra=json_body(
        "ReleaseEventBatch",
        {"batch": {"summary": "Two events", "value": {"events": [EXAMPLE_EVENT]}}},
    ),
)
async def post_batch(request: Request, sender: SenderDep) -> Response:
    async with _refusal_audited(sender.services, sender.principal):
        events = _batch_events(await read_json(request, 10 * MIB))
    outcomes = await service.receive_events(sender.services, sender.principal, events, sender.clock)
    request_id = getattr(request.state, "request_id", None)
    results: list[dict[str, Any]] = []
    for index, (item, result) in enumerate(zip(events, outcomes, strict=True)):
        event_id = item.get("event_id") if isinstance(item, dict) else None
        entry: dict[str, Any] = {
            "index": index,
            "event_id": event_id if isinstance(event_id, str) else None,
        }
        if isinstance(result, ProblemError):
            entry["status"] = result.status
            entry["problem"] = result.body(request_id)
        else:
            entry["status"] = result.status_code
            entry["outcome"] = result.body["outcome"]
            INTAKE_OUTCOMES.labels("replayed" if result.replayed else result.body["outcome"]).inc()
            entry["referral_id"] = result.body["referral"]["id"]
            # Stored and replayed relative to the event; in a batch, prefixed (SPEC §3).
            entry["warnings"] = [
                {**w, "pointer": f"/events/{index}{w['pointer']}"} if w.get("pointer") else w
                for w in result.body["warnings"]
            ]
            if result.replayed:
                entry["replayed"] = True
        results.append(entry)
    return _json({"results": results}, 207)
