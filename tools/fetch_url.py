"""fetch_url: a web page as readable text, with the guard rails a model-driven fetch needs.

Only http and https; every address that is not globally routable is refused unless allowed (a model
must not be able to read the cloud metadata endpoint or the router admin page): private, loopback,
link-local, shared (100.64.0.0/10), reserved and multicast ranges, and the IPv6 forms that carry such an
IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64). The check runs on the URL's host, on every address it
resolves to, again when aiohttp connects, and on every redirect hop, which is followed by hand. A URL
holding a configured API key is refused (unless ``allow_secrets``): the model must not send it
elsewhere. The body and the time are capped.

    page = await fetch_url.invoke({"url": "https://example.com"})
    lab = make_fetch_url(allow_private=True, timeout=5)     # for an intranet
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp

from assistant.agent.tools import Tool, ToolError, run_in_thread

from ._secrets import ALLOW_ENV, contains_key, secrets_allowed

__all__ = ["make_fetch_url", "fetch_url", "html_to_text", "check_address"]

MAX_BYTES = 2_000_000
MAX_CHARS = 20_000
TIMEOUT = 15.0
MAX_REDIRECTS = 5
_USER_AGENT = "assistant-fetch_url/0.1"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/ld+json")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


# RFC 6052 well-known NAT64 prefix (global, so the IPv4 address inside decides) and RFC 8215 local-use.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
# Not globally routable, though some Python versions call parts of them global (192.0.0.9 and .10
# in 192.0.0.0/24, for one): shared address space, IETF protocol assignments, benchmarking.
_NOT_GLOBAL_V4 = tuple(ipaddress.ip_network(n) for n in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15"))


def _routable(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address in _NAT64:
        # DNS64 maps IPv4-only hosts into this prefix: the IPv4 address inside decides.
        return _routable(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return not any(address in network for network in _NOT_GLOBAL_V4)
    if address in _LOCAL_NAT64:
        return False
    inner: list[ipaddress.IPv4Address] = []
    if address.sixtofour is not None:
        inner.append(address.sixtofour)
    if address.teredo is not None:
        inner.extend(address.teredo)
    return all(_routable(a) for a in inner)


def check_address(ip: str, *, allow_private: bool = False) -> None:
    """``ToolError`` unless ``ip`` is globally routable (or ``allow_private``); ``ValueError`` for a name.

        check_address("93.184.215.14")    # fine
        check_address("100.64.0.1")        # ToolError
    """
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if allow_private or _routable(address):
        return
    raise ToolError(f"refusing to fetch from {ip}: only globally routable addresses are allowed "
                    "(loopback, private, link-local, shared, reserved and multicast ranges are not)")


def _check_secrets(url: str, allow_secrets: bool | None) -> None:
    if not secrets_allowed(allow_secrets) and (contains_key(url) or contains_key(unquote(url))):
        # Never echo the URL: it holds the key.
        raise ToolError(f"refusing to fetch a URL that contains a configured API key; the user can allow it with {ALLOW_ENV}=1")


async def _check_url(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ToolError(f"only http and https URLs can be fetched, not {parts.scheme or 'a bare path'!r}: {url!r}")
    host = parts.hostname
    if not host:
        raise ToolError(f"{url!r} has no host")
    try:
        check_address(host, allow_private=allow_private)
        return
    except ValueError:
        pass  # a name, not an IP literal
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ToolError(f"cannot resolve {host!r}: {exc}") from None
    for info in infos:
        check_address(str(info[4][0]), allow_private=allow_private)


class _GuardedResolver(aiohttp.ThreadedResolver):
    """Checks the addresses aiohttp connects to, so a name cannot re-resolve to an internal address."""

    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        infos = await super().resolve(host, port, family)
        for info in infos:
            check_address(info["host"], allow_private=self._allow_private)
        return infos


def make_fetch_url(
    *,
    allow_private: bool = False,
    allow_secrets: bool | None = None,
    max_bytes: int = MAX_BYTES,
    max_chars: int = MAX_CHARS,
    timeout: float = TIMEOUT,
) -> Tool:
    """A ``fetch_url`` tool with its own limits (``allow_private=True`` for intranet pages;
    ``allow_secrets`` None follows ``ASSISTANT_ALLOW_SECRETS``)."""

    async def fetch_url(url: str) -> str:
        """Fetch a web page (http or https) and return its readable text, with its title and final URL.

        Args:
            url: The full URL, e.g. "https://example.com/page".
        """
        return await _fetch(url.strip(), allow_private=allow_private, allow_secrets=allow_secrets,
                            max_bytes=max_bytes, max_chars=max_chars, timeout=timeout)

    # The tool's own limit is a little longer than the request's, so the clearer request error wins.
    return Tool(fetch_url, timeout=timeout + 5)


async def _fetch(
    url: str, *, allow_private: bool, allow_secrets: bool | None, max_bytes: int, max_chars: int, timeout: float
) -> str:
    connector = aiohttp.TCPConnector(resolver=_GuardedResolver(allow_private), limit=4)
    client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=client_timeout,
                                         headers={"User-Agent": _USER_AGENT}) as session:
            for _ in range(MAX_REDIRECTS + 1):
                _check_secrets(url, allow_secrets)
                await _check_url(url, allow_private)
                async with session.get(url, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    if response.status >= 400:
                        raise ToolError(f"HTTP {response.status} {response.reason or ''} from {url}".strip())
                    body, cut = await _read_capped(response, max_bytes)
                    # Parsing 2 MB of HTML takes seconds: off the event loop.
                    return await run_in_thread(_render, url, response.headers.get("Content-Type", ""), body, cut,
                                               response.get_encoding() if response.charset else "utf-8", max_chars)
            raise ToolError(f"more than {MAX_REDIRECTS} redirects from {url}")
    except asyncio.TimeoutError:
        raise ToolError(f"fetching {url} took longer than {timeout:g}s") from None
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, ToolError):
            raise exc.os_error from None
        raise ToolError(f"cannot connect to {url}: {exc.os_error}") from None
    except aiohttp.ClientError as exc:
        raise ToolError(f"fetching {url} failed: {type(exc).__name__}: {exc}") from None


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], True
    return b"".join(chunks), False


def _render(url: str, content_type: str, body: bytes, cut: bool, encoding: str, max_chars: int) -> str:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind and not kind.startswith(_TEXT_TYPES) and kind not in _HTML_TYPES:
        raise ToolError(f"{url} is {kind}, not a text page")
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    title = ""
    if kind in _HTML_TYPES or (not kind and "<html" in text[:1000].lower()):
        title, text = html_to_text(text)
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n[... cut at {max_chars} characters ...]"
    elif cut:
        text += "\n[... the page was larger than the download limit; the rest is missing ...]"
    head = f"Title: {title}\n" if title else ""
    return f"{head}URL: {url}\n\n{text}"


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "noscript", "svg", "template", "iframe", "head", "nav", "footer", "form", "button"}
    _BLOCK = {"p", "div", "section", "article", "main", "header", "br", "tr", "table", "ul", "ol", "li", "pre",
              "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "figure", "figcaption", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self.parts.append("#" * int(tag[1]) + " ")
            elif tag == "li":
                self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """``(title, readable text)`` of an HTML page: scripts, styles and navigation dropped.

        html_to_text("<title>T</title><p>Hello <b>world</b></p>")   # ("T", "Hello world")
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = "\n".join(line for line in lines if line and line not in ("-", "#"))
    return " ".join("".join(parser.title).split()), text


fetch_url = make_fetch_url()
