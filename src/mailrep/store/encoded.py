"""JSON encoded once, where it is made: `EncodedJson(json.dumps(value))` is written as is.

The intake's trace workers encode each trace (a few KB of nested dicts) in their own process;
the writer then stores the text without decoding or re-encoding it, and the worker sends a
string back over the pipe instead of a tree of dicts. `serialize` is the engine's JSON
serializer (SQLite and PostgreSQL): other values are encoded with `json.dumps` as before.
"""

from __future__ import annotations

import json
from typing import Any


class EncodedJson(str):
    """A str that already holds a JSON document."""

    __slots__ = ()

    @classmethod
    def of(cls, value: Any) -> EncodedJson:
        return cls(json.dumps(value))


def serialize(value: Any) -> str:
    return value if isinstance(value, EncodedJson) else json.dumps(value)
