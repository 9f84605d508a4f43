"""JSON text for the store: orjson where it can, `json.dumps` for what orjson refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailrep.store.encoded import EncodedJson, dumps, serialize

CASES = [
    {"source": {"ip": "192.0.2.1", "reason": "first untrusted hop"}, "hops": [], "urls": ["http://x.example/"]},
    {"text": "Grüße, 日本, emoji \U0001f600"},
    {"big": 2**70, "neg": -(2**65)},           # beyond 64 bits: orjson refuses, json.dumps takes it
    {"lone": "\udcff surrogate"},              # surrogateescape leftovers: orjson refuses them
    {1: "int key", "2": "str key"},            # non-str keys: json.dumps turns them into strings
    [None, True, False, 0, 1.5, "", [], {}],
]


@pytest.mark.parametrize("value", CASES)
def test_dumps_reads_back_as_json_dumps_would(value):
    text = dumps(value)
    assert isinstance(text, str)
    assert json.loads(text) == json.loads(json.dumps(value))


def test_encoded_json_is_stored_as_is_and_other_values_are_encoded():
    enc = EncodedJson.of({"a": [1, 2]})
    assert serialize(enc) is enc
    assert json.loads(serialize({"a": [1, 2]})) == {"a": [1, 2]}


def test_an_unencodable_value_still_fails_loudly():
    with pytest.raises(TypeError):
        dumps({"x": object()})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_any_json_value_round_trips(value):
    assert json.loads(dumps(value)) == value
