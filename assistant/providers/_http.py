"""The wire layer every client stands on: one aiohttp session, one request, error translation.

Foreign exceptions are translated here and nowhere else: aiohttp errors and ``asyncio.TimeoutError``
become ``TransientError``; every non-2xx answer goes to ``classify_error``. Provider modules never
catch ``aiohttp.*`` themselves. Cutting a streamed body into events is ``_framing``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from ..errors import LLMError, TransientError, UsageError, classify_error
from ..errors.redact import register_secret
from ._watch import StallGuard, Watchdog
from .timeouts import Timeouts

if TYPE_CHECKING:
    from .specs import ProviderSpec

__all__ = ["HTTPClient", "SpecClient", "drain", "loads", "translate_errors"]

_JSON = {"Content-Type": "application/json"}  # aiohttp copies request headers: never mutated
# Above this a request body may take a while to send: aiohttp's own read timer, which starts once the
# body is written, bounds that call instead of the watchdog.
_WATCHED_BODY = 1 << 18


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


# A local server answers one request at a time; clients for the same local URL share one limit.
_shared_limits: dict[str, tuple[weakref.ref[asyncio.AbstractEventLoop], asyncio.Semaphore]] = {}


def _shared_semaphore(key: str, size: int) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    entry = _shared_limits.get(key)
    if entry is None or entry[0]() is not loop:
        entry = (weakref.ref(loop), asyncio.Semaphore(size))
        _shared_limits[key] = entry
    return entry[1]


class HTTPClient:
    """Owns one ``aiohttp.ClientSession`` (made lazily, remade if the event loop changed)."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        max_concurrency: int | None = None,
        share_limit: bool = False,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        register_secret(api_key)
        self._headers = dict(headers or {})
        self.timeouts = timeouts or Timeouts()
        self.max_concurrency = max_concurrency
        self._share_limit = share_limit
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._watchdog: Watchdog | None = None
        self._untimed = aiohttp.ClientTimeout()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, base_url={self.base_url!r})"

    @property
    def has_key(self) -> bool:
        return bool(self._api_key)

    def _auth_headers(self) -> dict[str, str]:
        """Headers that carry the key; each wire format says how."""
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _session_now(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            timeout = aiohttp.ClientTimeout(
                total=self.timeouts.total, sock_connect=self.timeouts.connect, sock_read=self.timeouts.read
            )
            self._session = aiohttp.ClientSession(
                timeout=timeout,
                headers={**self._headers, **self._auth_headers()},
                json_serialize=lambda o: orjson.dumps(o).decode(),
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            )
            self._session_loop = loop
            self._semaphore = None
            if self._watchdog is not None:
                self._watchdog.close()
            self._watchdog = Watchdog(self.timeouts.read, self.timeouts.total, self.timeouts.connect)
            self._untimed = aiohttp.ClientTimeout(sock_connect=self.timeouts.connect)  # the watchdog's calls
        return self._session

    def _limit(self) -> asyncio.Semaphore | None:
        if not self.max_concurrency:
            return None
        if self._share_limit:
            return _shared_semaphore(self.base_url, self.max_concurrency)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._semaphore

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        model: str = "",
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        limit: bool = True,
        stream: bool = False,
    ) -> _Exchange:
        """Send one request: ``async with client.request("POST", path, json=body) as response`` gives the
        2xx response; any other status raises a classified ``LLMError``, and foreign exceptions raised
        while the body is read inside the block are translated too.

        ``limit=False`` bypasses the concurrency limit (metadata calls must not queue behind a
        generation on a local server that answers one request at a time). ``stream=True`` for a body
        read as it arrives: ``timeouts.read`` then bounds the server's silences with one ``StallGuard``
        instead of aiohttp re-arming a timer on every network read."""
        url = path if path.startswith("http") else self.base_url + path
        data = orjson.dumps(json) if json is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
        kwargs: dict[str, Any] = {"data": data, "headers": hdrs, "params": params}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, self.timeouts.connect))
        return _Exchange(self, method, url, kwargs, model, self._limit() if limit else None, stream)

    async def get_json(self, path: str, *, params: Mapping[str, str] | None = None, timeout: float | None = None) -> Any:
        """GET metadata (model lists, health); never queued behind generations."""
        async with self.request("GET", path, params=params, timeout=timeout, limit=False) as response:
            return loads(await response.read())

    async def post_json(self, path: str, body: Any, *, model: str = "", params: Mapping[str, str] | None = None) -> Any:
        """POST a JSON body and read a whole JSON answer: ``request()``'s contract (a non-2xx status
        raises classified, foreign errors are translated, malformed JSON too) in one flat coroutine,
        since this is every non-streamed call's path. Its time limits are the session's ``Watchdog``'s
        instead of aiohttp's timers (a body too big to send at once keeps aiohttp's)."""
        data = orjson.dumps(body)
        # Every call runs between aiohttp's, its code and data out of the CPU caches: a function call,
        # an object or (on Python 3.11, a getpid() each) a running-loop lookup fewer here shows.
        loop = asyncio.get_running_loop()
        session = self._session if self._session_loop is loop else self._session_now()
        watchdog = self._watchdog
        assert session is not None and watchdog is not None
        if len(data) > _WATCHED_BODY or not watchdog.active:
            async with self.request("POST", path, json=body, model=model, params=params) as response:
                raw = await response.read()
                return loads(raw) if raw.strip() else {}
        url = path if path.startswith("http") else self.base_url + path
        semaphore = self._limit() if self.max_concurrency else None
        if semaphore is not None:
            await semaphore.acquire()
        call = watchdog.watch(asyncio.current_task(loop))  # type: ignore[arg-type]
        try:
            response = await session.request("POST", url, data=data, headers=_JSON, params=params,
                                             timeout=self._untimed)
            try:
                call.response = response
                raw = await response.read()
                if response.status >= 400:
                    raise _with_model(classify_error(self.provider, response.status, raw, response.headers), model)
            finally:
                response.release()
                await response.wait_for_close()
            return orjson.loads(raw) if raw.strip() else {}
        except BaseException as exc:
            # translate_errors' rule as a handler: free when nothing is raised, unlike a ``with`` block.
            if call.timed_out(exc):
                raise _translated(TimeoutError(), self.provider, model) from None
            failure = None if isinstance(exc, LLMError) else _translated(exc, self.provider, model)
            if failure is None:
                raise
            raise failure from None
        finally:
            watchdog.forget(call)
            if semaphore is not None:
                semaphore.release()

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.close()
        session, self._session = self._session, None
        self._session_loop = None  # post_json takes the session made on the running loop as open
        if session is not None and not session.closed:
            with contextlib.suppress(RuntimeError):
                await session.close()


class SpecClient(HTTPClient):
    """An ``HTTPClient`` built from a provider row: the base of every wire family's client.
    ``default_headers`` are the family's own (a caller's ``headers=`` may override them)."""

    default_headers: Mapping[str, str] = {}

    def __init__(
        self,
        spec: ProviderSpec,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeouts: Timeouts | None = None,
        max_concurrency: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            spec.name,
            base_url or spec.base_url,
            api_key=api_key,
            headers={**self.default_headers, **dict(spec.extra_headers), **(headers or {})},
            timeouts=timeouts,
            max_concurrency=max_concurrency,
            share_limit=spec.local,
        )
        self.spec = spec


def _with_model(err: LLMError, model: str) -> LLMError:
    if model and not err.model:
        err.model = model
    return err


class _Exchange:
    """One request as an async context manager (what ``HTTPClient.request`` returns). A class rather than
    an ``asynccontextmanager`` generator: that costs every call and every stream several frames more."""

    __slots__ = ("_client", "_method", "_url", "_kwargs", "_model", "_semaphore", "_stream", "_response", "_guard")

    def __init__(self, client: HTTPClient, method: str, url: str, kwargs: dict[str, Any], model: str,
                 semaphore: asyncio.Semaphore | None, stream: bool) -> None:
        self._client = client
        self._method = method
        self._url = url
        self._kwargs = kwargs
        self._model = model
        self._semaphore = semaphore
        self._stream = stream
        self._response: aiohttp.ClientResponse | None = None
        self._guard: StallGuard | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        client = self._client
        semaphore = self._semaphore
        with translate_errors(client.provider, self._model):
            session = client._session_now()
            if semaphore is not None:
                await semaphore.acquire()
            try:
                response = await session.request(self._method, self._url, **self._kwargs)
                try:
                    await response.__aenter__()
                    if response.status >= 400:
                        body = await response.read()
                        raise _with_model(classify_error(client.provider, response.status, body, response.headers),
                                          self._model)
                except BaseException as exc:
                    await response.__aexit__(type(exc), exc, exc.__traceback__)
                    raise
            except BaseException:
                if semaphore is not None:
                    semaphore.release()
                raise
        self._response = response
        limit = client.timeouts.read
        connection = response.connection
        if (self._stream and limit and "timeout" not in self._kwargs and connection is not None
                and connection.protocol is not None):
            # aiohttp's sock_read (which bounded the wait for these headers) cancels and re-arms a timer
            # on every network read of the body; the guard looks a few times per limit instead. The same
            # switch aiohttp makes itself once a websocket handshake is done.
            connection.protocol.read_timeout = None
            self._guard = StallGuard(response.content, connection.transport, limit)
        return response

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        response = self._response
        assert response is not None
        if self._guard is not None:
            self._guard.close()
        try:
            with translate_errors(self._client.provider, self._model):
                await response.__aexit__(exc_type, exc, tb)
        finally:
            if self._semaphore is not None:
                self._semaphore.release()
        if exc is not None and not isinstance(exc, LLMError):
            translated = _translated(exc, self._client.provider, self._model)
            if translated is not None:
                raise translated from None


class translate_errors:  # noqa: N801 - used like contextlib.suppress
    """``with translate_errors(provider, model):`` turns aiohttp's and asyncio's exceptions into our
    ``TransientError`` (by ``_translated``, the one rule; ``post_json`` applies it in a handler); our own
    errors and anything else pass unchanged."""

    __slots__ = ("_provider", "_model")

    def __init__(self, provider: str, model: str = "") -> None:
        self._provider = provider
        self._model = model

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, LLMError):
            return
        translated = _translated(exc, self._provider, self._model)
        if translated is not None:
            raise translated from None


def _translated(exc: BaseException, provider: str, model: str) -> Exception | None:
    """Our error for a foreign exception, or None to let it pass (cancellation, our own bugs)."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return TransientError(f"request timed out ({type(exc).__name__})", provider=provider, model=model)
    if isinstance(exc, aiohttp.InvalidURL):
        return UsageError(f"invalid base URL for provider {provider!r}: {exc}. Fix <PROVIDER>_BASE_URL or base_url=.")
    if isinstance(exc, aiohttp.ClientConnectorError):
        # code "connect_failed": nothing answered at all (a local server that is not running); the
        # router moves on at once instead of backing off.
        return TransientError(f"cannot connect to {exc.host}:{exc.port} ({exc.strerror or exc})", provider=provider,
                              model=model, code="connect_failed")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return TransientError(f"response body broken off: {exc}", provider=provider, model=model)
    if isinstance(exc, aiohttp.ClientError):
        return TransientError(f"connection failed: {type(exc).__name__}: {exc}", provider=provider, model=model)
    if isinstance(exc, orjson.JSONDecodeError):
        return TransientError(f"provider sent malformed JSON: {exc}", provider=provider, model=model)
    if isinstance(exc, (ConnectionError, OSError)):
        return TransientError(f"connection failed: {exc}", provider=provider, model=model)
    return None


async def drain(response: aiohttp.ClientResponse, within: float = 0.1) -> None:
    """Read what is left of a body whose last event has arrived (the end of a chunked body often comes
    in a later packet than ``data: [DONE]``), so aiohttp can reuse the connection instead of closing it.
    Bounded, and quiet: the answer is already whole, so a server that holds the body open or breaks
    it off now costs at most ``within`` seconds and one connection."""
    content = response.content
    if content.at_eof():
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(within):
            while await content.readany():
                pass
