"""Seekable authenticated encryption: any range reads back, any tampering is refused."""

from __future__ import annotations

import io
import os

import pytest

from recording.sealed import (
    HEADER,
    Keyring,
    SealedReader,
    SealError,
    read_header,
    seal,
    sealed_size,
)

OLD = Keyring({"2026a": bytes(range(32))}, "2026a")


def _seal(plain: bytes, keyring: Keyring = OLD, chunk: int = 1000) -> bytes:
    out = io.BytesIO()
    written = seal(io.BytesIO(plain), out, len(plain), keyring, chunk_size=chunk)
    assert written == len(out.getvalue()) == sealed_size(len(plain), chunk)
    return out.getvalue()


def test_sealed_file_hides_the_plaintext_and_names_its_key() -> None:
    plain = b"OggS" + os.urandom(5000)
    sealed = _seal(plain)
    assert plain[:64] not in sealed
    header = read_header(sealed)
    assert (header.key_id, header.plain_size, header.chunk_size) == ("2026a", 5000 + 4, 1000)


@pytest.mark.parametrize(("start", "end"), [
    (0, 5004), (0, 1), (999, 1001), (1000, 2000), (4990, 5004), (2500, 2501), (17, 4321),
    (5000, 9999), (5004, 5004)])
def test_any_byte_range_reads_back_without_decrypting_the_rest(start: int, end: int) -> None:
    plain = os.urandom(5004)
    reader = SealedReader(io.BytesIO(_seal(plain)), OLD)
    assert reader.read(start, end) == plain[start:end]


def test_empty_recording_round_trips() -> None:
    reader = SealedReader(io.BytesIO(_seal(b"")), OLD)
    assert reader.plain_size == 0 and reader.read(0, 10) == b""


def test_a_flipped_bit_in_a_chunk_fails_only_that_chunk() -> None:
    plain = os.urandom(3000)
    sealed = bytearray(_seal(plain))
    sealed[HEADER.size + 1016 + 5] ^= 1  # inside chunk 1
    reader = SealedReader(io.BytesIO(bytes(sealed)), OLD)
    assert reader.read(0, 1000) == plain[:1000]
    with pytest.raises(SealError, match="chunk 1"):
        reader.read(1000, 1001)


def test_swapped_chunks_and_a_truncated_size_are_refused() -> None:
    plain = os.urandom(2000)
    sealed = _seal(plain)
    c0, c1 = sealed[HEADER.size:HEADER.size + 1016], sealed[HEADER.size + 1016:]
    swapped = sealed[:HEADER.size] + c1 + c0
    with pytest.raises(SealError):
        SealedReader(io.BytesIO(swapped), OLD).read(0, 10)
    shorter = bytearray(sealed)
    shorter[28:36] = (1000).to_bytes(8, "big")  # claim half the size
    with pytest.raises(SealError):
        SealedReader(io.BytesIO(bytes(shorter)), OLD).read(0, 10)


def test_rotation_seals_new_files_with_the_new_key_and_still_reads_old_ones() -> None:
    old_file = _seal(b"old call" * 300)
    rotated = Keyring({**OLD.keys, "2026b": os.urandom(32)}, "2026b")
    new_file = _seal(b"new call" * 300, rotated)
    assert read_header(new_file).key_id == "2026b"
    assert SealedReader(io.BytesIO(old_file), rotated).read(0, 8) == b"old call"
    assert SealedReader(io.BytesIO(new_file), rotated).read(0, 8) == b"new call"
    with pytest.raises(SealError, match="no key"):
        SealedReader(io.BytesIO(new_file), OLD)


def test_wrong_key_under_the_same_id_is_refused() -> None:
    sealed = _seal(b"x" * 100)
    impostor = Keyring({"2026a": bytes(32)}, "2026a")
    with pytest.raises(SealError):
        SealedReader(io.BytesIO(sealed), impostor).read(0, 1)


def test_keyring_from_configuration() -> None:
    import base64
    k1, k2 = base64.b64encode(bytes(32)).decode(), base64.b64encode(bytes([1]) * 32).decode()
    ring = Keyring.parse(f"a:{k1}, b:{k2}")
    assert ring is not None and ring.current == "b" and set(ring.keys) == {"a", "b"}
    assert Keyring.parse("") is None
    with pytest.raises(ValueError, match="32 bytes"):
        Keyring.parse("a:" + base64.b64encode(b"short").decode())
