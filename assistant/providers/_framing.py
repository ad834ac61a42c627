"""Cutting streamed bodies into events, a network read at a time: server-sent events, NDJSON lines and
the elements of a growing JSON array. Plain (sync) objects: a client's own read loop feeds each read
in and gets back what that read completed, with no async-generator layer per event.

    decoder = SSEDecoder()
    while read := await response.content.readany():
        for event, data in decoder.feed(read): ...
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import TransientError

__all__ = ["SSEDecoder", "NDJSONDecoder", "JSONArrayDecoder"]


class SSEDecoder:
    """Server-sent events from bytes as they arrive: ``feed(read)`` returns the ``(event, data)`` pairs
    that read completed, ``close()`` what the body's end completes. Comments, ``id:`` and ``retry:`` are
    skipped, multi-line data joined by LF, LF or CRLF line endings, no line-length limit.

    A plain (sync) object, so a client's own read loop can frame events without an async-generator layer
    per event: it runs once per network read. ``messages(read)`` is the fast path for a stream whose
    events are unnamed one-line ``data:`` (OpenAI-shape, Gemini): the payloads alone, no pairs.
    """

    __slots__ = ("_buffer", "_event", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        payloads = self.messages(chunk)
        if payloads is not None:
            return [("message", data) for data in payloads]
        buffer = self._buffer + chunk if self._buffer else chunk
        out: list[tuple[str, bytes]] = []
        if self._data or self._event or buffer.find(b"\r") >= 0:
            # CRLF framing with a stray CR, or an event begun in an earlier read: line by line.
            lines = buffer.split(b"\n")
            self._buffer = lines.pop()
            self._lines(lines, out)
            return out
        # LF framing between events (``messages`` keeps what completes no event): whole events at once.
        cut = buffer.rfind(b"\n\n")
        self._buffer = buffer[cut + 2 :]
        for block in buffer[:cut].split(b"\n\n"):
            if block[:6] == b"data: " and block.find(b"\n") < 0:
                out.append(("message", block[6:]))
                continue
            if block[:6] == b"event:":
                # "event: name\ndata: {...}" (Anthropic, Cohere): two lines, no look at each.
                name, sep, data = block.partition(b"\ndata: ")
                if sep and name.find(b"\n") < 0 and data.find(b"\n") < 0:
                    out.append((name[6:].strip().decode("utf-8", "replace"), data))
                    continue
            if block:
                self._lines(block.split(b"\n"), out)
                self._lines([b""], out)
        return out

    def messages(self, chunk: bytes) -> list[bytes] | None:
        """The data of the events ``chunk`` completes when each is one ``data: ...`` line without an event
        name (nearly every read of an OpenAI-shape or Gemini stream); None when they are not, and then
        nothing was taken: ``feed(chunk)`` gives them with their names."""
        if self._data or self._event:
            return None
        buffer = self._buffer + chunk if self._buffer else chunk
        # str.find, not ``in``: ``bytes in bytes`` first tries the needle as an int and formats the
        # TypeError it throws away (about as dear as the search).
        if buffer.find(b"\r") >= 0:
            # CRLF (Gemini) is LF here: a CR may only end a line, and JSON takes either as whitespace.
            buffer = buffer.replace(b"\r\n", b"\n")
            if buffer.find(b"\r", 0, len(buffer) - 1) >= 0:
                return None
        cut = buffer.rfind(b"\n\n")
        if cut < 0:
            self._buffer = buffer
            return []
        if buffer[:6] != b"data: ":
            return None
        payloads = buffer[6:cut].split(b"\n\ndata: ")
        # Each event one line: one pass in C over the whole read rather than a look at each event.
        if (payloads[0] if len(payloads) == 1 else b"".join(payloads)).find(b"\n") >= 0:
            return None
        self._buffer = buffer[cut + 2 :]
        return payloads

    def close(self) -> list[tuple[str, bytes]]:
        """The events the end of the body completes: a last event without its blank line is delivered."""
        out: list[tuple[str, bytes]] = []
        lines = self._buffer.split(b"\n")
        last = lines.pop().rstrip(b"\r")
        self._buffer = b""
        self._lines(lines, out)
        if last[:5] == b"data:":
            self._data.append(last[6:] if last[5:6] == b" " else last[5:])
        if self._data:
            out.append((self._event or "message", b"\n".join(self._data)))
        self._event, self._data = "", []
        return out

    def _lines(self, lines: list[bytes], out: list[tuple[str, bytes]]) -> None:
        data = self._data
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            if not line:
                if data:
                    out.append((self._event or "message", data[0] if len(data) == 1 else b"\n".join(data)))
                    data = self._data = []
                self._event = ""
            elif line[:5] == b"data:":
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line[:6] == b"event:":
                self._event = line[6:].strip().decode("utf-8", "replace")
            # ":" comments, id: and retry: carry nothing a chat client needs.


class NDJSONDecoder:
    """Lines of an NDJSON body (Ollama): ``feed(read)`` returns the lines that read completed, ``close()``
    the last one when the body ends without a newline. Blank lines are left in (the reader skips what
    does not parse and is blank: cheaper than a look at every line)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = (self._buffer + chunk if self._buffer else chunk).split(b"\n")
        self._buffer = lines.pop()
        return lines

    def close(self) -> list[bytes]:
        last, self._buffer = self._buffer, b""
        return [last] if last else []


class JSONArrayDecoder:
    """Elements of one streamed JSON array as each completes (Gemini ``streamGenerateContent`` without
    SSE): ``feed(read)`` returns the elements that read completed, parsed; ``feed(b\"\", final=True)`` at
    the end of the body. Finds them by tracking depth and strings, a byte at a time."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._start = -1
        self._top: int | None = None

    def feed(self, chunk: bytes, final: bool = False) -> list[Any]:
        self._buf += chunk
        out: list[Any] = []
        buf = self._buf
        i = self._pos
        n = len(buf)
        while i < n:
            c = buf[i]
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif c == 0x5C:  # backslash
                    self._escape = True
                elif c == 0x22:
                    self._in_string = False
            elif c == 0x22:
                self._in_string = True
            elif c in (0x7B, 0x5B):  # { [
                if self._depth == 0 and self._top is None:
                    self._top = c
                self._depth += 1
                if self._start < 0 and self._depth == (2 if self._top == 0x5B else 1):
                    self._start = i
            elif c in (0x7D, 0x5D):
                self._depth -= 1
                if self._start >= 0 and self._depth == (1 if self._top == 0x5B else 0):
                    out.append(orjson.loads(bytes(buf[self._start : i + 1])))
                    self._start = -1
            i += 1
        if self._start < 0:
            del buf[:i]
            i = 0
        elif self._start > 0:
            del buf[: self._start]
            i -= self._start
            self._start = 0
        self._pos = i
        if final and self._start >= 0 and buf.strip():
            raise TransientError("stream ended inside a JSON element")
        return out
