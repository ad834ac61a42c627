"""Where the routing state lives: a file on this machine (default) or a Redis server shared by a fleet.

``ASSISTANT_STATE_URL=redis://host:6379/0`` (or ``[state] url = "redis://..."`` in config.toml) puts
cooldowns, breakers, auto-disables, client-side rate windows, key-rotation positions and the catalog's
learned context windows in Redis, so a 429 learned by one host stops the others and N hosts at an RPM
limit of L send at most L a minute together. Without it, every process on the machine shares the health
file under ``ASSISTANT_HOME`` (and the catalog snapshot there).

    health, limiter = open_state(clock=time.time, breaker=Breaker(), catalog=router.catalog)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from .health import HealthStore
from .policies import Breaker
from .ratelimit import RateLimiter

__all__ = ["state_url", "open_state", "describe_state"]

STATE_ENV = "ASSISTANT_STATE_URL"


def state_url() -> str | None:
    """The configured shared-state URL (environment first, then ``[state] url``), or None for the file."""
    url = os.environ.get(STATE_ENV, "").strip()
    if not url:
        from ..free_models.roles import config_section

        value = config_section("state").get("url")
        url = str(value).strip() if value else ""
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise UsageError(f"state url {url!r} is not a Redis URL: use redis://host:6379/0 (or rediss://, unix://), "
                         f"or unset {STATE_ENV} to keep state in a file")
    return url


def open_state(*, clock: Callable[[], float], breaker: Breaker, catalog: Any = None) -> tuple[HealthStore, RateLimiter]:
    """The health store and rate limiter for this process, on the configured backend; on Redis,
    ``catalog`` (a ``ModelCatalog``) shares its learned windows there too."""
    url = state_url()
    if url is None:
        health = HealthStore(clock=clock, breaker=breaker)
        return health, RateLimiter(health)
    from .redis_limits import RedisRateLimiter
    from .redis_state import RedisHealthStore

    redis_health = RedisHealthStore(url, clock=clock, breaker=breaker)
    share = getattr(catalog, "share_windows", None)
    if share is not None:
        share(redis_health.windows)
    return redis_health, RedisRateLimiter(redis_health)


def describe_state(health: Any) -> str:
    """One line for ``doctor``: which backend and where (never a password)."""
    describe = getattr(health, "describe", None)
    return describe() if describe is not None else f"file {health.path}"
