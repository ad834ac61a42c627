"""Per-request time limits: one frozen object every client and the token counter take."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Timeouts"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-request time limits in seconds; ``read`` bounds the gap between two chunks of a stream."""

    connect: float = 10.0
    read: float = 120.0
    total: float | None = 600.0

    def scaled(self, **changes: float | None) -> Timeouts:
        values = {"connect": self.connect, "read": self.read, "total": self.total}
        values.update(changes)
        return Timeouts(**values)  # type: ignore[arg-type]
