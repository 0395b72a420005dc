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
