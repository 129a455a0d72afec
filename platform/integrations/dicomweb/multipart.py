"""multipart/related (RFC 2387) as DICOMweb uses it: read a STOW-RS request body, write WADO-RS answers.

The request body is spooled to a temporary file (memory-mapped) once it is larger than a few megabytes, so a
STOW-RS request of many instances costs the web process one instance in memory at a time, not the whole study.
"""
from __future__ import annotations

import mmap
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_CHUNK = 1024 * 1024
_IN_MEMORY_MAX = 8 * 1024 * 1024
_PARAM = re.compile(r';\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')


class BodyTooLarge(Exception):
    """The request body is larger than the configured limit."""


class MalformedMultipart(Exception):
    """The body is not a multipart/related message with the declared boundary."""


@dataclass(frozen=True)
class MediaType:
    type: str  # lower case, e.g. "multipart/related"
    params: dict[str, str]  # names lower case, values unquoted


def parse_media_type(value: str) -> MediaType:
    """`multipart/related; type="application/dicom"; boundary=x` -> MediaType (unquoted parameter values)."""
    main, _, rest = (value or "").partition(";")
    params = {}
    for name, raw in _PARAM.findall(";" + rest):
        if raw.startswith('"'):
            raw = raw[1:-1].replace('\\"', '"')
        params[name.lower()] = raw
    return MediaType(type=main.strip().lower(), params=params)


def split_accept(value: str) -> list[MediaType]:
    """The media ranges of an Accept header (commas inside quoted parameters are kept)."""
    ranges, current, quoted = [], [], False
    for char in value or "":
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            ranges.append("".join(current))
            current = []
        else:
            current.append(char)
    ranges.append("".join(current))
    return [parse_media_type(item) for item in ranges if item.strip()]


class SpooledBody:
    """The request body read from `stream` (at most `limit` bytes), as a bytes-like buffer.

    Small bodies stay in memory; larger ones go to an anonymous temporary file that is memory-mapped. Use as a
    context manager so the file and the map are closed. Raises BodyTooLarge past `limit`.
    """

    def __init__(self, stream, *, limit: int):
        self._file = None
        self._map = None
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                self.close()
                raise BodyTooLarge()
            if self._file is None and size > _IN_MEMORY_MAX:
                self._file = tempfile.TemporaryFile()
                for earlier in chunks:
                    self._file.write(earlier)
                chunks = []
            if self._file is not None:
                self._file.write(chunk)
            else:
                chunks.append(chunk)
        if self._file is not None:
            self._file.flush()
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self.buffer = self._map
        else:
            self.buffer = b"".join(chunks)
        self.size = size

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "SpooledBody":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Part:
    headers: dict[str, str]  # names lower case
    start: int
    end: int

    @property
    def content_type(self) -> MediaType:
        return parse_media_type(self.headers.get("content-type", "application/dicom"))


def iter_parts(buffer, boundary: str) -> Iterator[Part]:
    """The parts of a multipart body (their offsets in `buffer`; read each with `bytes(buffer[p.start:p.end])`).

    Raises MalformedMultipart when the first boundary, a part's header block or the closing boundary is missing.
    """
    if not boundary or len(boundary) > 200:
        raise MalformedMultipart("missing or overlong boundary")
    marker = b"--" + boundary.encode("latin-1")
    delimiter = b"\r\n" + marker
    if buffer[: len(marker)] == marker:
        position = len(marker)
    else:
        first = buffer.find(delimiter)
        if first < 0:
            raise MalformedMultipart("the boundary does not occur in the body")
        position = first + len(delimiter)
    while True:
        if buffer[position:position + 2] == b"--":
            return  # the closing delimiter
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            raise MalformedMultipart("a boundary line is not terminated")
        header_end = buffer.find(b"\r\n\r\n", line_end)
        if header_end < 0:
            raise MalformedMultipart("a part has no header block")
        headers = {}
        for line in bytes(buffer[line_end + 2:header_end]).split(b"\r\n"):
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        start = header_end + 4
        end = buffer.find(delimiter, start)
        if end < 0:
            raise MalformedMultipart("a part is not closed by the boundary")
        yield Part(headers=headers, start=start, end=end)
        position = end + len(delimiter)


def new_boundary() -> str:
    return "mip-" + secrets.token_hex(16)


def multipart_chunks(parts: Iterable[tuple[str, bytes]], boundary: str) -> Iterator[bytes]:
    """Encode (content type, bytes) pairs as the body of a multipart/related message, one part at a time."""
    for content_type, data in parts:
        yield f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        yield data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()
