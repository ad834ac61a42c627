"""AWS event-stream framing (``application/vnd.amazon.eventstream``), as Bedrock's ConverseStream sends it.

Each message: total length (u32 BE), headers length (u32 BE), CRC32 of those 8 bytes, headers, payload,
CRC32 of everything before it. A header is ``name_len u8 | name | type u8 | value``; Bedrock uses type 7
(u16 length + UTF-8 string). Frames straddle HTTP chunks, so the decoder buffers until a whole message is
there. Sources: AWS "Event stream encoding" (Transcribe/Lex docs); CRC vectors in tests.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from ..errors import TransientError

__all__ = ["EventStreamDecoder", "encode_message"]

_PRELUDE = 12
# Sizes of the fixed-width header value types (0/1 are booleans without a value).
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


class EventStreamDecoder:
    """Feed bytes; get back ``(headers, payload)`` for every complete message."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[dict[str, object], bytes]]:
        self._buffer += data
        while len(self._buffer) >= _PRELUDE:
            total, header_len, prelude_crc = struct.unpack_from(">III", self._buffer)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise TransientError("event stream prelude checksum mismatch (corrupted stream)")
            if total < _PRELUDE + 4 + header_len:
                raise TransientError(f"event stream message length {total} is impossible")
            if len(self._buffer) < total:
                return
            message = bytes(self._buffer[:total])
            del self._buffer[:total]
            (message_crc,) = struct.unpack_from(">I", message, total - 4)
            if zlib.crc32(message[:-4]) != message_crc:
                raise TransientError("event stream message checksum mismatch (corrupted stream)")
            headers = _headers(message[_PRELUDE : _PRELUDE + header_len])
            yield headers, message[_PRELUDE + header_len : -4]

    @property
    def pending(self) -> int:
        """Bytes of an unfinished message (non-zero at end of body means the stream was cut)."""
        return len(self._buffer)


def _headers(raw: bytes) -> dict[str, object]:
    out: dict[str, object] = {}
    i = 0
    while i < len(raw):
        n = raw[i]
        name = raw[i + 1 : i + 1 + n].decode("utf-8", "replace")
        kind = raw[i + 1 + n]
        i += 2 + n
        if kind in (6, 7):
            (size,) = struct.unpack_from(">H", raw, i)
            value = raw[i + 2 : i + 2 + size]
            out[name] = value.decode("utf-8", "replace") if kind == 7 else value
            i += 2 + size
        elif kind in _FIXED:
            width = _FIXED[kind]
            out[name] = kind == 0 if kind in (0, 1) else raw[i : i + width]
            i += width
        else:
            raise TransientError(f"event stream header {name!r} has unknown value type {kind}")
    return out


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message with string headers (tests and fakes build Bedrock streams with it)."""
    raw = b"".join(
        bytes([len(k.encode())]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
        for k, v in headers.items()
    )
    total = _PRELUDE + len(raw) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + raw + payload
    return body + struct.pack(">I", zlib.crc32(body))
