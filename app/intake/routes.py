"""Release events from prison systems (SPEC §3): one, or a batch of up to 500."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Request, Response

from app.auth.deps import ApiRoute, current_principal, require_role
from app.auth.roles import Role
from app.core.deps import ClockDep
from app.core.errors import MAX_BATCH_ERRORS, MAX_ERRORS, ProblemError
from app.core.http import MIB, problem_response
from app.core.i18n import language_var
from app.core.metrics import INTAKE_OUTCOMES
from app.core.openapi import PROBLEM_RESPONSES
from app.intake import service
from app.intake.schemas import (
    EXAMPLE_EVENT,
    BatchResults,
    EventAccepted,
    RawReleaseEvent,
    ReleaseEventBatch,
)


class IntakeRoute(ApiRoute):
    """Intake reads its own body after the key (SPEC §3: 401 before 413), and every
    intake is audited (SPEC §8): a request refused as a whole (403, 413, 415, a 422 of
    the body or the batch envelope) with its problem code; its events are audited one by
    one by the service."""

    body_limit = MIB

    def refusal_action(self, body: Any) -> str | None:
        return service.AUDIT_ACTION


class BatchRoute(IntakeRoute):
    body_limit = 10 * MIB


router = APIRouter(prefix="/v1/release-events", tags=["Release events"], route_class=IntakeRoute)


async def prison_sender(
    request: Request, _: Annotated[Any, Depends(require_role(Role.prison))], clock: ClockDep
) -> service.Sender:
    """The prison client, the process's intake and the moment."""
    return service.Sender(
        principal=current_principal(request), intake=request.app.state.intake, clock=clock
    )


SenderDep = Annotated[service.Sender, Depends(prison_sender)]


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
)
async def post_event(
    request: Request,
    event: Annotated[RawReleaseEvent, Body(openapi_examples=_examples())],
    sender: SenderDep,
) -> Response:
    raw: Any = event  # the JSON as received (RawReleaseEvent): validated by the service
    [result] = await service.receive_events(sender, [raw], prefixes=[()])
    if isinstance(result, ProblemError):
        # The event's answer, audited with it by the service (not a refusal of the request).
        return problem_response(result, getattr(request.state, "request_id", None))
    INTAKE_OUTCOMES.labels("replayed" if result.replayed else result.body["outcome"]).inc()
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return _json(result.body, result.status_code, headers)


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


_BATCH_EXAMPLES = {"batch": {"summary": "One event", "value": {"events": [EXAMPLE_EVENT]}}}
_BATCH_ANSWER: dict[str, Any] = {
    "description": "One result per event, in request order",
    "content": {
        "application/json": {
            "example": {
                "results": [
                    {
                        "index": 0,
                        "event_id": "SDP-2026-000123",
                        "status": 201,
                        "outcome": "created",
                        "referral_id": "0d5c9f1e-8a8e-4c1f-9d5e-3b1f2a7c6e10",
                        "warnings": [],
                    },
                    {
                        "index": 1,
                        "event_id": "SDP-2026-000098",
                        "status": 200,
                        "outcome": "updated",
                        "referral_id": "5b0e6a2c-1f3d-4e8a-b7c9-2d4f6a8b0c1e",
                        "warnings": [],
                        "replayed": True,
                    },
                    {
                        "index": 2,
                        "event_id": "SDP-2026-000124",
                        "status": 422,
                        "problem": {
                            "type": "urn:rujukan:problem:validation-failed",
                            "title": "Validation failed",
                            "status": 422,
                            "detail": "1 validation error(s); see errors[].",
                            "code": "VALIDATION_FAILED",
                            "request_id": "9fd8c8a91970433480a9fb9f90dc192d",
                            "errors": [
                                {
                                    "pointer": "/events/2/pas_categories/1",
                                    "code": "PAS_LANSIA_AGE",
                                    "detail": "age at release under 60",
                                }
                            ],
                        },
                    },
                ]
            }
        }
    },
}


async def post_batch(
    request: Request,
    batch: Annotated[
        ReleaseEventBatch,
        Body(openapi_examples=_BATCH_EXAMPLES),
    ],
    sender: SenderDep,
) -> Response:
    events: list[Any] = list(batch.events)  # each as received (RawReleaseEvent)
    outcomes = await service.receive_events(sender, events)
    request_id = getattr(request.state, "request_id", None)
    results: list[dict[str, Any]] = []
    budget = MAX_BATCH_ERRORS
    for index, (item, result) in enumerate(zip(events, outcomes, strict=True)):
        event_id = item.get("event_id") if isinstance(item, dict) else None
        entry: dict[str, Any] = {
            "index": index,
            "event_id": event_id if isinstance(event_id, str) else None,
        }
        if isinstance(result, ProblemError):
            entry["status"] = result.status
            problem = result.body(request_id, max_errors=max(1, min(MAX_ERRORS, budget)))
            budget -= len(problem.get("errors", ()))
            entry["problem"] = problem
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
    # Its problems are in the negotiated language (SPEC §9), like a problem response's.
    language = {"Content-Language": language_var.get(), "Vary": "Accept-Language"}
    return _json({"results": results}, 207, language)


router.add_api_route(
    "/batch",
    post_batch,
    methods=["POST"],
    summary="Post up to 500 release events",
    description=(
        "Each event succeeds or fails on its own, in request order. `results[].status` is the "
        "status the event would get on its own and `problem` its problem body; pointers are "
        "prefixed with `/events/<index>`. A body that is no batch (no `events`, an unknown "
        "member, 0 or more than 500 events) is refused as a whole (422). A result that "
        "replays the first answer to its `event_id` and body carries `replayed: true` (the "
        "batch's `Idempotent-Replayed` header); a 4xx stores nothing, so a corrected event "
        "may be resent under the same id."
    ),
    status_code=207,
    response_model=BatchResults,
    responses={207: _BATCH_ANSWER, **PROBLEM_RESPONSES},
    route_class_override=BatchRoute,
)
