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

    def with_actor(self, actor: str) -> Principal:
        """The same client, acting for the human named in `X-Actor`."""
        return dataclasses.replace(self, actor=actor)

    def may_post_for(self, facility_code: str) -> bool:
        return self.role is Role.prison and (
            ANY in self.facility_codes or facility_code in self.facility_codes
        )

    def may_read(self, facility_code: str, sentra_code: str | None) -> bool:
        """Object-level visibility of a referral (SPEC §2)."""
        if self.role is Role.kemensos:
            return True
        if self.role is Role.prison:
            return ANY in self.facility_codes or facility_code in self.facility_codes
        if self.role is Role.sentra:
            return sentra_code is not None and (
                ANY in self.sentra_codes or sentra_code in self.sentra_codes
            )
        return False

    def may_see_health(self, facility_code: str, sentra_code: str | None) -> bool:
        """needs.health and the full NIK: Kemensos, the assigned sentra, the originating prison."""
        return self.may_read(facility_code, sentra_code)
