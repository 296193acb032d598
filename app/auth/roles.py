"""Who a client is (SPEC §2): its role, and the binding that means every facility."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    prison = "prison"
    kemensos = "kemensos"
    sentra = "sentra"
    bapas = "bapas"
    auditor = "auditor"
    admin = "admin"


# A prison bound to every facility (`--facility '*'`).
ANY = "*"
REFERRAL_READERS = frozenset({Role.prison, Role.kemensos, Role.sentra, Role.bapas})
