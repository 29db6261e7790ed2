"""The bulk UUIDs are version 4 UUIDs like `uuid.uuid4()`'s: same version, variant, text round trip."""

from __future__ import annotations

import uuid

from shared.platform.ids import uuid4s


def test_bulk_ids_are_version_4_and_behave_as_uuids() -> None:
    ids = uuid4s(5000)
    assert len(set(ids)) == 5000
    for made in ids:
        assert made.version == 4 and made.variant == uuid.RFC_4122
        again = uuid.UUID(str(made))
        assert again == made and hash(again) == hash(made) and again.bytes == made.bytes
    assert uuid4s(0) == []


def test_every_random_bit_varies() -> None:
    """The 122 bits that are not version or variant come from the randomness: each takes both values."""
    ids = [u.int for u in uuid4s(512)]
    fixed = (0xF000 << 64) | (0xC000 << 48)
    ones = 0
    zeros = 0
    for value in ids:
        ones |= value
        zeros |= ~value
    assert ones & zeros & ~fixed & ((1 << 128) - 1) == ((1 << 128) - 1) & ~fixed
