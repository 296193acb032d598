"""Who is calling, and what they may see. Pure: used by routes, services and queries."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

from app.auth.roles import ANY, Role


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: uuid.UUID
    name: str
    role: Role
    facility_codes: frozenset[str]
    sentra_codes: frozenset[str]
    actor: str | None = None
    bapas_codes: frozenset[str] = frozenset()

    def with_actor(self, actor: str) -> Principal:
        """The same client, acting for the human named in `X-Actor`."""
        return dataclasses.replace(self, actor=actor)

    def may_post_for(self, facility_code: str) -> bool:
        return self.role is Role.prison and (
            ANY in self.facility_codes or facility_code in self.facility_codes
        )

    def may_read(
        self, facility_code: str, sentra_code: str | None, bapas_code: str | None = None
    ) -> bool:
        """Object-level visibility of a referral (SPEC §2): Kemensos all; a prison those of
        its facilities; a sentra those assigned to it; a Bapas those it supervises."""
        if self.role is Role.kemensos:
            return True
        if self.role is Role.prison:
            return ANY in self.facility_codes or facility_code in self.facility_codes
        if self.role is Role.sentra:
            # Never `*` (SPEC §2): a sentra reads the referrals assigned to its own codes.
            return sentra_code is not None and sentra_code in self.sentra_codes
        if self.role is Role.bapas:
            return bapas_code is not None and (
                ANY in self.bapas_codes or bapas_code in self.bapas_codes
            )
        return False

    def sees_everything(self, facility_code: str) -> bool:
        """Kemensos and the originating prison read a referral whole; the assigned sentra
        and the supervising Bapas what the person's consent scope discloses (SPEC §5)."""
        return self.role is Role.kemensos or (
            self.role is Role.prison
            and (ANY in self.facility_codes or facility_code in self.facility_codes)
        )
