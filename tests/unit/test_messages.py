from __future__ import annotations

import json

import pytest

from cryptostats.messages import InvalidMessage, UpdateTrigger, parse_trigger


def test_round_trip() -> None:
    wire = UpdateTrigger().encode()
    assert json.loads(wire) == {"trigger": "update"}
    assert parse_trigger(wire.encode()) == UpdateTrigger()


@pytest.mark.parametrize(
    "raw",
    [b"update", b"", b"\xff\xfe", b"[]", b'{"trigger": "delete"}', b'{"trigger": null}', b"{}"],
)
def test_anything_else_is_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidMessage):
        parse_trigger(raw)


def test_extra_fields_are_tolerated() -> None:
    assert parse_trigger('{"trigger": "update", "sentAt": 1}') == UpdateTrigger()


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 1000 + b"]" * 1000,  # nested past the recursion limit, over the cap
        b'{"trigger": "update", "pad": "' + b"x" * 2000 + b'"}',  # a trigger, but oversized
        "[" * 1000 + "]" * 1000,
    ],
)
def test_oversized_messages_are_rejected_unread(raw: bytes | str) -> None:
    with pytest.raises(InvalidMessage, match="over the 1024-byte limit"):
        parse_trigger(raw)


def test_nesting_under_the_cap_is_rejected_as_not_a_trigger() -> None:
    with pytest.raises(InvalidMessage):
        parse_trigger(b"[" * 500 + b"]" * 500)
