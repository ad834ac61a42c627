"""Slots leased from a shared rate window: this host's stock of them and how many to ask for next.

A lease is a batch of slots the Redis script reserved for this host in one round trip (``redis_limits``);
handing one out is a local step. What a lease holds and how long is the fairness/exactness trade-off,
so every limit on it is here:

- ``LEASE_TTL_S``: a leased slot is handed out within this long of the lease or not at all; the rest
  goes back to the window (``RedisRateLimiter`` returns it).
- ``LEAD_S`` of the recent call rate (``RATE_SPAN_S``): enough that the next lease is asked for in the
  background while this one still lasts, and no more, so an idle host holds nothing.
- ``share`` of every window's limit (1 % by default) at most: a host never holds more than a sliver of
  the fleet's minute (or day), whatever its rate. Below ``MIN_LEASE`` nothing is leased: a limit under
  200 a minute allows too few calls for a round trip each to matter, and stays exactly per call.
- What the window has left is capped on the server (a quarter of it: ``redis_limits``).

    pool = LeasePool(rules, share=0.01, keys=["assistant:rate:groq"])
    pool.note_call(time.monotonic())
    got, expired = pool.take(now)      # a slot without a round trip, and leases that ran out unused
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from .ratelimit import Rule

__all__ = ["Lease", "LeasePool", "LEASE_TTL_S", "LEASE_SHARE", "MIN_LEASE", "MAX_LEASE"]

LEASE_TTL_S = 1.0
LEAD_S = 0.25
RATE_SPAN_S = 1.0
LEASE_SHARE = 0.01
MIN_LEASE = 2
MAX_LEASE = 1024


class Lease:
    """Slots ``member + j`` for j in ``next..last``, reserved in ``keys`` until ``until`` (the caller's clock)."""

    __slots__ = ("member", "until", "next", "last", "keys")

    def __init__(self, member: str, until: float, last: int, keys: Sequence[str]) -> None:
        self.member = member
        self.until = until
        self.next = 1
        self.last = last
        self.keys = keys

    @property
    def unused(self) -> int:
        return self.last - self.next + 1

    def __repr__(self) -> str:
        return f"Lease({self.member!r}, {self.unused} unused, until={self.until:.3f})"


class LeasePool:
    """One rule set's leased slots on this host, and its recent call rate."""

    def __init__(self, rules: Sequence[Rule], *, share: float = LEASE_SHARE, keys: Sequence[str] = (),
                 args: Sequence[object] = ()) -> None:
        self.rules = tuple(rules)
        # What the Redis script is told about these rules: their keys, and their windows in its format.
        self.keys = tuple(keys)
        self.args = tuple(args)
        self.leases: deque[Lease] = deque()
        self.refilling = False
        self._stamps: deque[float] = deque(maxlen=int(MAX_LEASE * RATE_SPAN_S / LEAD_S))
        self._cap = min([MAX_LEASE, *(int(w.limit * share) for rule in rules for w in rule.windows)])

    def note_call(self, mono: float) -> None:
        """One call asked for a slot (``time.monotonic()``)."""
        self._stamps.append(mono)

    def want(self, mono: float) -> int:
        """Slots the next lease should hold: the last ``LEAD_S`` of calls at the recent rate, capped; 0 for none."""
        cut = mono - RATE_SPAN_S
        stamps = self._stamps
        while stamps and stamps[0] < cut:
            stamps.popleft()
        want = min(self._cap, int(len(stamps) * LEAD_S / RATE_SPAN_S))
        return want if want >= MIN_LEASE else 0

    def stock(self) -> int:
        return sum(lease.unused for lease in self.leases)

    def take(self, now: float) -> tuple[bool, list[Lease]]:
        """Hand out one leased slot if one is still valid at ``now``; also the leases found expired
        (removed here, their unused slots for the caller to give back)."""
        expired: list[Lease] = []
        leases = self.leases
        while leases:
            lease = leases[0]
            if lease.until < now:
                expired.append(leases.popleft())
                continue
            lease.next += 1
            if lease.next > lease.last:
                leases.popleft()
            return True, expired
        return False, expired

    def remove(self, lease: Lease) -> bool:
        """Take ``lease`` out of the stock (it expired, or the host is closing); False if it was gone."""
        try:
            self.leases.remove(lease)
        except ValueError:
            return False
        return True
