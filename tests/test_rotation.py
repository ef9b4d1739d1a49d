"""The rotation protocol as a state object: no sockets, no waiting; time is a number.

End to end (real connections to a local server) it is covered by
test_connection.py and test_faults.py.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binmon.rotation import Phase, Rotation

CONNECT_TIMEOUT, STALE_AFTER, GRACE = 10.0, 5.0, 1.0


def rotation(now: float = 100.0, *, periodic: bool = True) -> Rotation[str]:
    return Rotation(
        now,
        periodic=periodic,
        connect_timeout=CONNECT_TIMEOUT,
        stale_after=STALE_AFTER,
        takeover_grace=GRACE,
    )


def frame(event_time: int) -> str:
    return json.dumps({"stream": "!assetIndex@arr", "data": [{"e": "x", "E": event_time}]})


def caught_up(start: float = 100.0) -> Rotation[str]:
    """A periodic rotation whose replacement connected at ``start + 1`` and starts at event 50."""
    r = rotation(start)
    r.connected("new", start + 1)
    r.hold(frame(50))
    r.hold(frame(51))
    return r


def test_connecting_then_catching_up_then_switched_when_the_old_one_has_caught_up() -> None:
    r = rotation()
    assert r.phase is Phase.CONNECTING and r.deadline() == 100 + CONNECT_TIMEOUT
    assert r.step(105.0, delivered_ms=40) is Phase.CONNECTING
    r.connected("new", 106.0)
    assert r.phase is Phase.CATCHING_UP and r.replacement == "new"
    r.hold(frame(50))
    r.hold(frame(51))
    assert r.first_event_ms == 50
    # The old connection has delivered up to 49: what it still has in flight
    # would be lost if the replacement took over now.
    assert r.step(107.0, delivered_ms=49) is Phase.CATCHING_UP
    assert r.step(107.1, delivered_ms=50) is Phase.SWITCHED
    assert r.held == [frame(50), frame(51)] and r.done


def test_the_first_event_time_is_the_first_message_that_has_one() -> None:
    r = rotation()
    r.connected("new", 100.0)
    r.hold('{"result":null,"id":1}')
    r.hold(frame(7))
    r.hold(frame(8))
    assert r.first_event_ms == 7 and len(r.held) == 3


def test_an_old_connection_that_never_catches_up_is_not_waited_on_forever() -> None:
    r = caught_up()
    deadline = r.deadline()
    assert deadline == 101 + STALE_AFTER
    assert r.step(deadline - 0.001, delivered_ms=10) is Phase.CATCHING_UP
    assert r.step(deadline, delivered_ms=10) is Phase.SWITCHED


def test_a_replacement_that_sends_nothing_fails_at_its_deadline() -> None:
    r = rotation()
    r.connected("new", 101.0)
    deadline = r.deadline()
    assert deadline is not None
    assert r.step(deadline - 0.001, delivered_ms=10) is Phase.CATCHING_UP
    assert r.step(deadline, delivered_ms=10) is Phase.FAILED
    assert r.reason is not None and r.held == []


def test_an_event_driven_replacement_takes_over_after_the_grace_period() -> None:
    # Contract info may be silent for hours: time, not data, decides.
    r = rotation(periodic=False)
    r.connected("new", 101.0)
    assert r.deadline() == 101 + GRACE
    assert r.step(101.5, delivered_ms=None) is Phase.CATCHING_UP
    assert r.step(101 + GRACE, delivered_ms=None) is Phase.SWITCHED


def test_a_deadline_reached_exactly_is_due_whatever_the_rounding() -> None:
    # 1.7383208620197436 - 0.7383208620197436 < 1.0 in floating point: a
    # comparison done as a difference would leave the rotation waiting on a
    # deadline that has passed.
    r = rotation(0.0, periodic=False)
    r.connected("new", 0.7383208620197436)
    deadline = r.deadline()
    assert deadline is not None and deadline - 0.7383208620197436 < GRACE
    assert r.step(deadline, delivered_ms=None) is Phase.SWITCHED


def test_connecting_too_long_fails() -> None:
    r = rotation()
    assert r.step(100 + CONNECT_TIMEOUT, delivered_ms=None) is Phase.FAILED
    assert r.replacement is None and r.reason is not None
    assert r.deadline() is None


def test_a_failed_connect_fails_and_a_late_report_changes_nothing() -> None:
    r = rotation()
    r.connect_failed("cannot connect to x:1 (connection refused)")
    assert r.phase is Phase.FAILED and r.reason is not None
    assert "connection refused" in r.reason
    with pytest.raises(RuntimeError):
        r.connected("late", 101.0)


def test_a_replacement_closing_early_keeps_what_it_received_until_the_handover() -> None:
    # Its messages exist nowhere else, but the old connection may still be
    # delivering older ones: they are released when the handover would have been.
    r = caught_up()
    r.closed()
    assert r.step(102.0, delivered_ms=49) is Phase.CATCHING_UP
    assert r.step(102.1, delivered_ms=50) is Phase.FAILED
    assert r.held == [frame(50), frame(51)]


def test_a_replacement_closing_with_nothing_held_fails_at_once() -> None:
    r = rotation()
    r.connected("new", 101.0)
    r.closed()
    assert r.step(101.1, delivered_ms=None) is Phase.FAILED


@pytest.mark.parametrize("periodic", [True, False])
def test_when_the_old_connection_ends_a_live_replacement_takes_over_at_once(
    periodic: bool,
) -> None:
    r = rotation(periodic=periodic)
    r.connected("new", 101.0)
    r.old_connection_ended()
    assert r.step(101.0, delivered_ms=None) is Phase.SWITCHED


def test_when_both_end_what_the_replacement_held_is_still_delivered() -> None:
    r = caught_up()
    r.closed()
    r.old_connection_ended()
    assert r.step(101.5, delivered_ms=10) is Phase.FAILED
    assert r.held == [frame(50), frame(51)]


def test_the_old_connection_ending_while_connecting_waits_for_the_connect() -> None:
    # The replacement about to connect is the natural successor.
    r = rotation()
    r.old_connection_ended()
    assert r.step(103.0, delivered_ms=None) is Phase.CONNECTING
    r.connected("new", 104.0)
    assert r.step(104.0, delivered_ms=None) is Phase.SWITCHED


# --- any order of events: every rotation ends, and nothing held is lost ----------

EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(0.0, 4.0)),
        st.tuples(st.just("connected"), st.none()),
        st.tuples(st.just("connect_failed"), st.none()),
        st.tuples(st.just("hold"), st.integers(0, 100)),
        st.tuples(st.just("closed"), st.none()),
        st.tuples(st.just("old_ended"), st.none()),
        st.tuples(st.just("delivered"), st.integers(0, 100)),
    ),
    max_size=30,
)

ALLOWED = {
    Phase.CONNECTING: {Phase.CONNECTING, Phase.CATCHING_UP, Phase.FAILED},
    Phase.CATCHING_UP: {Phase.CATCHING_UP, Phase.SWITCHED, Phase.FAILED},
    Phase.SWITCHED: {Phase.SWITCHED},
    Phase.FAILED: {Phase.FAILED},
}


@settings(max_examples=300)
@given(EVENTS, st.booleans())
def test_every_rotation_ends_by_its_deadlines_and_keeps_what_it_holds(
    events: list[tuple[str, float | int | None]], periodic: bool
) -> None:
    now, delivered = 0.0, None
    r = rotation(now, periodic=periodic)
    received: list[str] = []
    for kind, value in events:
        before = r.phase
        if kind == "advance":
            assert isinstance(value, float)
            now += value
        elif kind == "connected" and r.phase is Phase.CONNECTING:
            r.connected("new", now)
        elif kind == "connect_failed":
            r.connect_failed("refused")
        elif kind == "hold" and r.phase is Phase.CATCHING_UP and not r.replacement_closed:
            assert isinstance(value, int)
            received.append(frame(value))
            r.hold(received[-1])
        elif kind == "closed" and r.phase is Phase.CATCHING_UP:
            r.closed()
        elif kind == "old_ended":
            r.old_connection_ended()
        elif kind == "delivered":
            assert isinstance(value, int)
            delivered = value
        assert r.phase in ALLOWED[before]
        before = r.phase
        r.step(now, delivered)
        assert r.phase in ALLOWED[before]
        assert r.held == received
        if r.phase is Phase.SWITCHED:
            assert not r.replacement_closed
    # Liveness: with nothing else happening, its next deadline ends it.
    deadline = r.deadline()
    if deadline is not None:
        r.step(max(now, deadline), delivered)
    assert r.done
    assert r.phase is Phase.SWITCHED or r.reason is not None
