"""`Principal.may_read` (SPEC §2) as a SQL condition, for any table that carries a
referral's facility, sentra and Bapas codes (referrals, the outbox)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, true
from sqlalchemy.orm import QueryableAttribute

from app.auth.principal import Principal
from app.auth.roles import ANY, Role


def visible_where(
    principal: Principal,
    facility_code: QueryableAttribute[str],
    sentra_code: QueryableAttribute[str | None],
    bapas_code: QueryableAttribute[str | None] | None = None,
) -> ColumnElement[bool]:
    if principal.role is Role.kemensos:
        return true()
    if principal.role is Role.prison:
        if ANY in principal.facility_codes:
            return true()
        if not principal.facility_codes:
            return false()
        return facility_code.in_(sorted(principal.facility_codes))
    if principal.role is Role.sentra:
        # Never `*` (SPEC §2): a stored `*` matches no sentra code (UNIT_CODE has none).
        if not principal.sentra_codes:
            return false()
        return sentra_code.in_(sorted(principal.sentra_codes))
    if principal.role is Role.bapas and bapas_code is not None:
        if ANY in principal.bapas_codes:
            return bapas_code.is_not(None)
        if not principal.bapas_codes:
            return false()
        return bapas_code.in_(sorted(principal.bapas_codes))
    return false()
