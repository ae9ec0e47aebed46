"""Every event type of the schema, built as a producer builds it and sent as the Gateway sends it, reaches the desk.

The event types come from the schema's discriminated union itself (not a
list kept here). For each: documents drawn from its JSON schema are built
into the event model (what the pipeline does), encoded by the Gateway hub's
encoder, then read by the desk's parser and applied to the Live model; any
unknown field or type mismatch on that path fails the test. The other way
round, a frame with an unknown type, an unknown field or a wrong field type
is refused: counted by the Live model, named (type and first problem) in
the Live panel's status line and in the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import typing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve

from app.models.live_model import LiveModel
from app.models.profile import LOCAL, Profile
from app.qt.panels.live import LivePanel
from app.session import Session
from backend.schema.events import EVENT_TYPES, AnyEvent, Event, FrameRefused, Hello, InitialState, parse_frame
from backend.schema.state import ServerState
from gateway.hub import encode_event
from tests.support.schema_strategies import from_model
from tests.support.waiting import until

# The members of the union the desk parses with, read from the union.
UNION_MEMBERS: tuple[type[Event], ...] = typing.get_args(typing.get_args(AnyEvent)[0])
SETTINGS = settings(max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Values of every JSON type: for any field, one of them is of a type the field does not take.
WRONG_VALUES: tuple[Any, ...] = ([1], {"x": 1}, "not-this", 1.5, True, 12345)


def _type_of(model: type[Event]) -> str:
    return model.model_fields["type"].default


def test_the_union_holds_one_model_per_event_type() -> None:
    assert len(UNION_MEMBERS) == len(EVENT_TYPES) >= 28
    assert {_type_of(m): m for m in UNION_MEMBERS} == EVENT_TYPES
    assert {"hello", "initial_state", "pipeline_stage", "approval_requested", "run_status"} <= set(EVENT_TYPES)


@pytest.mark.parametrize("model", UNION_MEMBERS, ids=_type_of)
@SETTINGS
@given(data=st.data())
def test_every_event_the_gateway_can_send_is_read_by_the_desk(model: type[Event], data: st.DataObject) -> None:
    event = model.model_validate(data.draw(from_model(model)))  # as a producer builds it
    wire = encode_event(event)  # as the hub sends it (and events.jsonl stores it)
    parsed = parse_frame(wire)
    assert type(parsed) is model
    assert parsed.wire_json().encode() == wire  # read back whole: nothing dropped, nothing added
    live = LiveModel()
    assert live.apply_frame(wire) is not None
    assert (live.applied, live.refused, live.last_refusal) == (1, 0, None)


@pytest.mark.parametrize("model", UNION_MEMBERS, ids=_type_of)
@settings(SETTINGS, max_examples=5)
@given(data=st.data())
def test_an_unknown_field_is_refused_and_named(model: type[Event], data: st.DataObject) -> None:
    frame = json.loads(encode_event(model.model_validate(data.draw(from_model(model)))))
    frame["surprise_field"] = 1
    live = LiveModel()
    assert live.apply_frame(frame) is None
    assert live.refused == 1 and live.applied == 0
    assert live.last_refusal.event_type == _type_of(model)
    assert live.last_refusal.problem == "surprise_field: unknown field (not in the schema)"


@pytest.mark.parametrize("model", UNION_MEMBERS, ids=_type_of)
@settings(SETTINGS, max_examples=5)
@given(data=st.data())
def test_a_wrong_field_type_is_refused_and_named(model: type[Event], data: st.DataObject) -> None:
    valid = json.loads(encode_event(model.model_validate(data.draw(from_model(model)))))
    required = [name for name, info in model.model_fields.items() if info.is_required()]
    assert required, f"{_type_of(model)} has no required field"
    for name in required:
        refusals = []
        for wrong in WRONG_VALUES:
            try:
                parse_frame({**valid, name: wrong})
            except FrameRefused as refusal:
                refusals.append(refusal)
        assert refusals, f"{_type_of(model)}.{name} took a value of every JSON type"
        assert all(r.event_type == _type_of(model) and r.problem.startswith(name) for r in refusals), refusals


def test_an_unknown_type_and_garbage_are_refused() -> None:
    live = LiveModel()
    for frame in ('{"type": "brand_new", "x": 1}', "not json", "[1, 2]", '{"no_type": 1}'):
        assert live.apply_frame(frame) is None
    assert live.refused == 4 and live.applied == 0
    kinds = []
    live.changed.connect(lambda kind, payload: kinds.append((kind, type(payload).__name__)))
    live.apply_frame({"type": "brand_new"})
    assert kinds == [("brand_new", "FrameRefused")]
    assert live.last_refusal.problem == "unknown event type 'brand_new'"


# -- refused frames from a real WebSocket server reach the panel and the log ------------------------

async def _greet_then(connection: ServerConnection, frames: list[str]) -> None:
    await connection.send(Hello(run_id="drift", server_mode="backtest", read_only=False, role="admin").wire_json())
    await connection.send(InitialState(state=ServerState(run_id="drift", status="running")).wire_json())
    for frame in frames:
        await connection.send(frame)
    await connection.wait_closed()


def test_a_drifted_gateway_is_shown_not_hidden(qtbot: Any, arun: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A server that sends frames the desk cannot parse: the desk keeps going and says so."""
    drifted = [
        '{"type":"team_summary","balance":1.0,"pnlPct":0.0,"equity":[{"t":1,"v":"high"}],'
        '"baseline":[],"baseline_vw":[],"momentum":[]}',
        '{"type":"system","content":"still fine"}',
        '{"type":"day_start","date":"2025-01-02","progress":0.5,"weather":"sunny"}',
    ]
    session = Session(Profile(LOCAL))
    panel = LivePanel()
    qtbot.addWidget(panel)
    panel.attach(session)

    async def scenario() -> None:
        async with serve(lambda c: _greet_then(c, drifted), "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            client = session.watch_gateway(f"ws://127.0.0.1:{port}/")
            await client.wait_connected(15)
            await until(lambda: client.refused == 2 and panel.model.refused == 2, 15, "both drifted frames refused")
            assert client.received == 5  # hello, initial_state, three frames: none dropped silently
            panel.flush()
            await session.close()

    with caplog.at_level(logging.WARNING, logger="app.net.gateway_client"):
        arun(scenario(), 60)
    assert panel.model.run_id == "drift" and [i.text for i in panel.model.feed] == ["still fine"]
    assert panel.refused_label.isVisibleTo(panel)
    assert panel.refused_label.text() == "2 refused: day_start (weather: unknown field (not in the schema))"
    assert "team_summary" in panel.refused_label.toolTip() or "day_start" in panel.refused_label.toolTip()
    logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert any("refused team_summary frame: equity.0.v: Input should be a valid number" in m for m in logged), logged
    assert any("refused day_start frame: weather: unknown field" in m for m in logged), logged
