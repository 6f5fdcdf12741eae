"""Recordings at rest: authenticated encryption in fixed-size chunks, so a byte range can be
read (and a player can seek) by decrypting only the chunks that hold it.

Layout of a sealed file::

    header (48 bytes)  magic "CCSEAL01" | key id (16 bytes, ASCII, NUL-padded)
                       | chunk size (u32) | plain size (u64) | file nonce (8 bytes) | 4 reserved
    chunk 0            AES-256-GCM(plain[0 : chunk]) + 16-byte tag
    chunk 1            AES-256-GCM(plain[chunk : 2*chunk]) + tag
    ...                the last chunk holds the rest (shorter, never empty unless the file is)

Rules that make this safe to seek in:

1. Each chunk's nonce is the file's random 8-byte nonce followed by the chunk index (u32, big
   endian): chunks cannot be swapped or moved without failing authentication, and a nonce is
   never reused under one key (a new file draws a new random nonce; 2**32 chunks of 64 KiB is
   far beyond any recording).
2. Every chunk authenticates the whole header as associated data: a changed key id, chunk size
   or plain size (a truncation) fails on the first chunk read.
3. The key id names the key in the :class:`Keyring`; rotating means adding a key and making it
   current. Files keep the key they were sealed with, so old keys stay until the files are
   re-sealed or purged.

The cipher is ``cryptography``'s AESGCM (OpenSSL); nothing here is a hand-made primitive.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from recording.errors import RecordingError

MAGIC = b"CCSEAL01"
HEADER = struct.Struct(">8s16sIQ8s4x")
TAG_SIZE = 16
DEFAULT_CHUNK = 64 * 1024


class SealError(RecordingError):
    """A sealed file that is damaged, tampered with, or sealed with a key we do not have."""

    error_id = "recording_seal_error"
    status = 500


@dataclass(frozen=True, slots=True)
class Keyring:
    """The recording keys by id and the one new files are sealed with."""

    keys: Mapping[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"current key id {self.current!r} is not in the keyring")
        for key_id, key in self.keys.items():
            if not key_id or len(key_id.encode()) > 16 or not key_id.isascii():
                raise ValueError(f"key id must be 1-16 ASCII characters: {key_id!r}")
            if len(key) != 32:
                raise ValueError(f"key {key_id!r} must be 32 bytes (AES-256)")

    @classmethod
    def parse(cls, spec: str, current: str = "") -> Keyring | None:
        """``"2026a:<base64 32 bytes>,2026b:<…>"`` → a keyring (the last listed is current unless
        ``current`` names one); an empty spec means encryption is off (None)."""
        keys: dict[str, bytes] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep:
                raise ValueError("each key is <id>:<base64 of 32 bytes>")
            keys[key_id.strip()] = base64.b64decode(encoded.strip(), validate=True)
        if not keys:
            return None
        return cls(keys, current or list(keys)[-1])

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise SealError(f"no key with id {key_id!r} in the keyring") from None


@dataclass(frozen=True, slots=True)
class Header:
    key_id: str
    chunk_size: int
    plain_size: int
    nonce: bytes
    raw: bytes

    @property
    def chunks(self) -> int:
        return -(-self.plain_size // self.chunk_size)

    def chunk_offset(self, index: int) -> int:
        return HEADER.size + index * (self.chunk_size + TAG_SIZE)


def _header(key_id: str, chunk_size: int, plain_size: int, nonce: bytes) -> bytes:
    return HEADER.pack(MAGIC, key_id.encode().ljust(16, b"\0"), chunk_size, plain_size, nonce)


def read_header(data: bytes) -> Header:
    """Parse the 48-byte header; raises :class:`SealError` when it is not a sealed file."""
    if len(data) < HEADER.size:
        raise SealError("sealed file shorter than its header")
    magic, key_id, chunk_size, plain_size, nonce = HEADER.unpack(data[:HEADER.size])
    if magic != MAGIC or chunk_size <= 0:
        raise SealError("not a sealed recording")
    return Header(key_id.rstrip(b"\0").decode("ascii"), chunk_size, plain_size, nonce,
                  data[:HEADER.size])


def _nonce(header: Header, index: int) -> bytes:
    return header.nonce + struct.pack(">I", index)


def seal(src: BinaryIO, dst: BinaryIO, plain_size: int, keyring: Keyring, *,
         chunk_size: int = DEFAULT_CHUNK, nonce: bytes | None = None) -> int:
    """Encrypt ``plain_size`` bytes from ``src`` into ``dst``; returns the bytes written.
    ``nonce`` (8 bytes) is drawn at random unless a test passes one."""
    nonce = nonce if nonce is not None else os.urandom(8)
    raw = _header(keyring.current, chunk_size, plain_size, nonce)
    header = read_header(raw)
    aead = AESGCM(keyring.key(keyring.current))
    dst.write(raw)
    written = len(raw)
    for index in range(header.chunks):
        plain = src.read(min(chunk_size, plain_size - index * chunk_size))
        if not plain:
            raise SealError("source ended before its announced size")
        sealed = aead.encrypt(_nonce(header, index), plain, raw)
        dst.write(sealed)
        written += len(sealed)
    return written


class SealedReader:
    """Random access to the plaintext of a sealed file: :meth:`read` decrypts only the chunks
    that hold the asked range. Raises :class:`SealError` on any damaged or foreign chunk."""

    def __init__(self, f: BinaryIO, keyring: Keyring) -> None:
        self._f = f
        f.seek(0)
        self.header = read_header(f.read(HEADER.size))
        self._aead = AESGCM(keyring.key(self.header.key_id))

    @property
    def plain_size(self) -> int:
        return self.header.plain_size

    def chunk(self, index: int) -> bytes:
        h = self.header
        self._f.seek(h.chunk_offset(index))
        length = min(h.chunk_size, h.plain_size - index * h.chunk_size) + TAG_SIZE
        data = self._f.read(length)
        try:
            return self._aead.decrypt(_nonce(h, index), data, h.raw)
        except InvalidTag as exc:
            raise SealError(f"chunk {index} failed authentication") from exc

    def iter_range(self, start: int, end: int) -> Iterator[bytes]:
        """The plaintext bytes ``start`` … ``end - 1``, chunk by chunk."""
        end = min(end, self.plain_size)
        size = self.header.chunk_size
        index = start // size
        while start < end:
            block = self.chunk(index)
            lo = start - index * size
            hi = min(end - index * size, len(block))
            yield block[lo:hi]
            start = index * size + hi
            index += 1

    def read(self, start: int, end: int) -> bytes:
        return b"".join(self.iter_range(start, end))


def sealed_size(plain_size: int, chunk_size: int = DEFAULT_CHUNK) -> int:
    """The size of the sealed file for ``plain_size`` plaintext bytes."""
    chunks = -(-plain_size // chunk_size)
    return HEADER.size + plain_size + chunks * TAG_SIZE
