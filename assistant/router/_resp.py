"""One pipelined Redis connection per event loop, for the one command on the router's call path.

The exact rate window costs one ``EVALSHA`` per call. redis-py's asyncio client takes a pooled
connection for each command and holds it for the round trip, so a hundred concurrent calls queue for
connections; here every command is written to one open socket as it comes and the replies, which Redis
sends in order, resolve the callers in order: no pool, no executor hop, concurrent calls share round
trips. It speaks only what that needs (RESP2: AUTH, SELECT, EVALSHA/EVAL and their replies). Anything
unexpected - a reply later than ``timeout``, a closed socket, a reply it cannot read - breaks the
connection: every waiting command fails with ``ConnectionError`` and the next command opens a new one.

    conn = await RespConnection.open("redis://127.0.0.1:6379/0", timeout=1.0)
    await conn.call("PING")                      # b"PONG"
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any

__all__ = ["RespConnection", "ReplyError"]


class ReplyError(Exception):
    """Redis answered with an error (``-NOSCRIPT ...``, ``-WRONGPASS ...``); the connection stays usable."""


class _Incomplete(Exception):
    pass


def _pack(args: tuple[Any, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _parse(buf: bytearray, at: int) -> tuple[Any, int]:
    """One reply from ``buf[at:]`` and where the next begins; ``_Incomplete`` until it is all there."""
    end = buf.find(b"\r\n", at)
    if end < 0:
        raise _Incomplete
    kind, line, after = buf[at], bytes(buf[at + 1 : end]), end + 2
    if kind == 43:  # +
        return line, after
    if kind == 45:  # -
        return ReplyError(line.decode(errors="replace")), after
    if kind == 58:  # :
        return int(line), after
    if kind == 36:  # $
        size = int(line)
        if size < 0:
            return None, after
        if len(buf) < after + size + 2:
            raise _Incomplete
        return bytes(buf[after : after + size]), after + size + 2
    if kind == 42:  # *
        count = int(line)
        items = []
        for _ in range(max(count, 0)):
            item, after = _parse(buf, after)
            items.append(item)
        return (items if count >= 0 else None), after
    raise ValueError(f"unreadable reply type {chr(kind)!r}")


class RespConnection(asyncio.Protocol):
    """One connection; ``call`` may be awaited by many tasks at once (see the module docstring)."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiting: deque[tuple[asyncio.Future[Any], asyncio.TimerHandle | None]] = deque()
        self._broken: BaseException | None = None

    @classmethod
    async def open(cls, url: str, *, timeout: float) -> RespConnection:
        """Connect to a ``redis://``, ``rediss://`` or ``unix://`` URL (user, password and db as redis-py reads them)."""
        from redis.connection import parse_url

        options = parse_url(url)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            if "path" in options:
                _, conn = await loop.create_unix_connection(cls, options["path"])
            else:
                tls = _tls(options) if url.startswith("rediss://") else None
                _, conn = await loop.create_connection(cls, options.get("host", "localhost"), options.get("port", 6379),
                                                       ssl=tls)
            try:
                if options.get("password"):
                    user = [options["username"]] if options.get("username") else []
                    await conn.call("AUTH", *user, options["password"], timeout=timeout)
                if options.get("db"):
                    await conn.call("SELECT", options["db"], timeout=timeout)
            except BaseException:
                conn.close()
                raise
        return conn

    @property
    def usable(self) -> bool:
        return self._broken is None and self._transport is not None and not self._transport.is_closing()

    def call(self, *args: Any, timeout: float) -> asyncio.Future[Any]:
        """Send one command; the future holds its reply (``ReplyError`` raised for an error reply)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self.usable:
            future.set_exception(ConnectionError(f"Redis connection closed: {self._broken!r}"))
            return future
        timer = loop.call_later(timeout, self._break, TimeoutError(f"no reply from Redis within {timeout}s"))
        self._waiting.append((future, timer))
        assert self._transport is not None
        self._transport.write(_pack(args))
        return future

    def close(self) -> None:
        self._break(ConnectionError("Redis connection closed"))

    # --- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._break(exc or ConnectionError("Redis closed the connection"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        at = 0
        try:
            while self._waiting:
                reply, at = _parse(self._buffer, at)
                future, timer = self._waiting.popleft()
                if timer is not None:
                    timer.cancel()
                if future.done():  # its caller gave up (cancelled): the reply still had to be read
                    continue
                if isinstance(reply, ReplyError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except _Incomplete:
            pass
        except (ValueError, IndexError) as exc:
            self._break(ConnectionError(f"unreadable reply from Redis: {exc}"))
            return
        del self._buffer[:at]
        if self._buffer and not self._waiting:
            self._break(ConnectionError("Redis sent a reply nobody asked for"))

    def _break(self, exc: BaseException) -> None:
        if self._broken is None:
            self._broken = exc
        if self._transport is not None:
            self._transport.abort()
        waiting, self._waiting = self._waiting, deque()
        for future, timer in waiting:
            if timer is not None:
                timer.cancel()
            if not future.done():
                error = exc if isinstance(exc, (ConnectionError, TimeoutError)) else ConnectionError(str(exc))
                future.set_exception(error)


def _tls(options: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    if options.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
