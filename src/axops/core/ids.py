import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """Time-ordered UUID (RFC 9562 version 7): index-friendly primary keys."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def parse_uuid(value: object) -> uuid.UUID | None:
    """The UUID a stored value names (route specs keep ids as text), or None when it names none."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
