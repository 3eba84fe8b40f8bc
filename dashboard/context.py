"""What every page needs, built once in create_app and handed to the views: the engine, the
settings, the price table and a clock (the test seam for "today")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from core.pricing import PriceTable
from dashboard.auth import AccessDeniedError, SignedInUser, signed_in_user
from dashboard.settings import DashboardSettings


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class DashboardContext:
    engine: Engine
    settings: DashboardSettings
    prices: PriceTable
    clock: Callable[[], datetime] = utc_now  # naive UTC, like the store

    def now(self) -> datetime:
        return self.clock()

    def user(self) -> SignedInUser:
        """The signed-in user of the current request (the gate has already refused anyone else)."""
        user = signed_in_user(self.settings)
        if user is None:
            raise AccessDeniedError("not signed in")
        return user
