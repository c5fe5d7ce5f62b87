"""The one source of "now", so tests and the playground can move time without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Real wall-clock time, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class AdjustableClock(Clock):
    """A clock that can be put at an instant; `JobScheduler.retime` steps it through jobs."""

    def set(self, at: datetime) -> None:
        raise NotImplementedError

    def advance(self, delta: timedelta) -> None:
        self.set(self.now() + delta)


class FrozenClock(AdjustableClock):
    """A clock that stays where it is put; used by tests."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)


class MovableClock(AdjustableClock):
    """Real time plus an offset: it runs like a watch and can be moved (the playground)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("MovableClock needs an aware datetime")
        self._offset = at.astimezone(UTC) - datetime.now(UTC)
