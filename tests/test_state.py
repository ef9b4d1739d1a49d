from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from binmon.jsonl import change_json, encode_contract
from binmon.protocol import Bracket, ContractInfo, decode_message
from binmon.state import Change, Contract, ContractBook, contracts_from_exchange_info


def event(
    symbol: str = "BTCUSDT",
    time: int = 1,
    status: str | None = "TRADING",
    brackets: list[Bracket] | None = None,
    **fields: object,
) -> ContractInfo:
    base: dict[str, object] = {
        "pair": symbol,
        "contract_type": "PERPETUAL",
        "delivery_time": 4133404800000,
        "onboard_time": 1569398400000,
        "market": None,
    }
    base.update(fields)
    return ContractInfo(symbol=symbol, event_time=time, status=status, brackets=brackets, **base)  # type: ignore[arg-type]


def bracket(n: int, ma: str = "50", mmr: str = "0.01", cap: str = "5000") -> Bracket:
    return Bracket(n, "0", cap, mmr, "0", "1", ma)


def test_nothing_known_gives_no_changes() -> None:
    book = ContractBook()
    assert book.apply(event(brackets=[bracket(1)])) == []


def test_symbol_first_seen_after_the_snapshot_is_listed() -> None:
    book = ContractBook()
    book.seed([])
    assert book.apply(event("NEWUSDT", status="PENDING_TRADING")) == [
        Change("listed", None, "PENDING_TRADING")
    ]
    assert book.apply(event("NEWUSDT", time=2, status="TRADING")) == [
        Change("status", "PENDING_TRADING", "TRADING")
    ]


def test_duplicate_frames_yield_no_second_change() -> None:
    book = ContractBook()
    book.seed([Contract("X", status="PENDING_TRADING")])
    assert book.apply(event("X", time=1)) == [Change("status", "PENDING_TRADING", "TRADING")]
    assert book.apply(event("X", time=2)) == []


def test_scalar_fields_are_named_as_json_keys() -> None:
    book = ContractBook()
    book.apply(event(contract_type="NEXT_QUARTER", delivery_time=10, pair="A"))
    changes = book.apply(
        event(time=2, contract_type="CURRENT_QUARTER", delivery_time=11, pair="B", onboard_time=3)
    )
    assert {c.field for c in changes} == {"pair", "contract_type", "delivery_time", "onboard_time"}


def test_missing_fields_say_nothing() -> None:
    book = ContractBook()
    book.apply(event(pair="BTCUSDT"))
    assert book.apply(event(time=2, pair=None, status=None)) == []
    assert book.contracts["BTCUSDT"].pair == "BTCUSDT"


def test_bracket_changes() -> None:
    book = ContractBook()
    book.apply(event(brackets=[bracket(1, ma="75"), bracket(2)]))
    changes = book.apply(event(time=2, brackets=[bracket(1, ma="50"), bracket(3)]))
    assert changes == [
        Change("max_leverage", "75", "50", 1),
        Change("bracket", bracket(2), None, 2),
        Change("bracket", None, bracket(3), 3),
    ]
    as_json = [json.loads(msgspec.json.encode(change_json(c))) for c in changes]
    assert as_json[0] == {"field": "max_leverage", "bracket": 1, "old": 75, "new": 50}
    assert as_json[1]["bracket"] == 2 and as_json[1]["new"] is None
    assert as_json[1]["old"] == {
        "bracket": 2,
        "notional_floor": 0,
        "notional_cap": 5000,
        "maint_margin_ratio": 0.01,
        "cum": 0,
        "min_leverage": 1,
        "max_leverage": 50,
    }
    assert as_json[2]["old"] is None and as_json[2]["new"]["bracket"] == 3


def test_empty_bracket_list_never_removes_known_ones() -> None:
    book = ContractBook()
    book.apply(event(brackets=[bracket(1)]))
    assert book.apply(event(time=2, brackets=[])) == []
    assert book.apply(event(time=3, brackets=None)) == []
    assert book.contracts["BTCUSDT"].brackets == {1: bracket(1)}


def test_brackets_first_seen_are_not_a_change() -> None:
    book = ContractBook()
    book.seed([Contract("BTCUSDT", status="TRADING")])
    assert book.apply(event(brackets=[bracket(1)])) == []


def test_numbers_compare_by_value() -> None:
    book = ContractBook()
    book.apply(event(brackets=[bracket(1, mmr="0.03")]))
    assert book.apply(event(time=2, brackets=[bracket(1, mmr="0.030")])) == []


def test_late_snapshot_does_not_override_newer_event_state() -> None:
    book = ContractBook()
    book.apply(event("X", status="TRADING"))
    book.seed([Contract("X", status="PENDING_TRADING"), Contract("Y", status="TRADING")])
    assert book.contracts["X"].status == "TRADING"
    assert book.apply(event("X", time=2)) == []
    assert book.apply(event("Z", time=3)) == [Change("listed", None, "TRADING")]


def test_seeded_brackets_are_compared_with_the_first_event() -> None:
    # REST ladders may arrive before or after the exchangeInfo snapshot.
    book = ContractBook()
    book.seed_brackets(
        {"BTCUSDT": [bracket(1, ma="125")], "LATE": [bracket(1)], "NEW": [bracket(1)]}
    )
    book.seed([Contract("BTCUSDT", status="TRADING"), Contract("LATE", status="TRADING")])
    book.seed_brackets({"ETHUSDT": [], "LATE": [bracket(1, ma="20")]})  # known: kept
    assert book.contracts["BTCUSDT"].brackets == {1: bracket(1, ma="125")}
    assert book.contracts["LATE"].brackets == {1: bracket(1)}
    assert book.apply(event(brackets=[bracket(1, ma="100")])) == [
        Change("max_leverage", "125", "100", 1)
    ]
    # A symbol only the bracket snapshot named is listed, and still compared.
    assert book.apply(event("NEW", brackets=[bracket(1, mmr="0.02")])) == [
        Change("listed", None, "TRADING"),
        Change("maint_margin_ratio", "0.01", "0.02", 1),
    ]


def test_min_leverage_a_rest_ladder_cannot_know_is_not_a_change() -> None:
    book = ContractBook()
    rest = Bracket(1, "0", "5000", "0.01", "0", None, "75")
    book.seed([Contract("BTCUSDT", status="TRADING")])
    book.seed_brackets({"BTCUSDT": [rest]})
    assert book.apply(event(brackets=[bracket(1, ma="75")])) == []
    # From then on the stream's own ladder is the reference, min leverage included.
    assert book.apply(
        event(time=2, brackets=[Bracket(1, "0", "5000", "0.01", "0", "2", "75")])
    ) == [Change("min_leverage", "1", "2", 1)]


def test_brackets_from_events_win_over_a_late_bracket_snapshot() -> None:
    book = ContractBook()
    book.apply(event(brackets=[bracket(1, ma="75")]))
    book.seed_brackets({"BTCUSDT": [bracket(1, ma="125")]})
    assert book.apply(event(time=2, brackets=[bracket(1, ma="75")])) == []


def test_last_change_is_remembered() -> None:
    book = ContractBook()
    book.seed([Contract("X", status="TRADING")])
    book.apply(event("X", time=42, status="SETTLING"))
    assert book.contracts["X"].last_change == (Change("status", "TRADING", "SETTLING"),)
    assert book.contracts["X"].last_change_time == 42


def test_seeding_leaves_the_callers_snapshot_as_it_was() -> None:
    # Found by fuzzing: the book used to keep (and update) the caller's
    # objects, so a second book seeded from the same snapshot saw no change.
    snapshot = [Contract("X", status="TRADING")]
    for _ in range(2):
        book = ContractBook()
        book.seed(snapshot)
        assert book.apply(event("X", status="SETTLING")) == [
            Change("status", "TRADING", "SETTLING")
        ]
    assert snapshot[0].status == "TRADING"


# --- the real difference between two exchangeInfo snapshots ----------------


def _events_from_snapshot(info: dict[str, object]) -> list[ContractInfo]:
    return [
        event(
            c.symbol,
            time=1,
            status=c.status,
            pair=c.pair,
            contract_type=c.contract_type,
            delivery_time=c.delivery_time,
            onboard_time=c.onboard_time,
        )
        for c in contracts_from_exchange_info(info)
    ]


def test_real_snapshot_transitions(shared_data: Path) -> None:
    before = json.loads((shared_data / "exchange_info_2025-11-26.json").read_text())
    after = json.loads((shared_data / "exchange_info.json").read_text())
    book = ContractBook()
    book.seed(contracts_from_exchange_info(before))
    changes = {e.symbol: book.apply(e) for e in _events_from_snapshot(after)}

    listed = sorted(s for s, cs in changes.items() if cs and cs[0].field == "listed")
    assert len(listed) == 13
    settled = {s for s, cs in changes.items() if Change("status", "TRADING", "SETTLING") in cs}
    for base in ("ALPHA", "BAKE", "HIFI", "OMNI", "BSW", "NEIROETH", "UXLINK"):
        assert f"{base}USDT" in settled
    assert Change("status", "PENDING_TRADING", "SETTLING") in changes["LITUSDT"]
    for symbol in ("BTCUSDT_251226", "ETHUSDT_251226"):
        assert Change("status", "TRADING", "DELIVERING") in changes[symbol]
        assert (
            Change("contract_type", "CURRENT_QUARTER", "CURRENT_QUARTER DELIVERING")
            in changes[symbol]
        )
    assert Change("status", "PENDING_TRADING", "TRADING") in changes["BTCUSDT_260327"]
    assert Change("contract_type", "NEXT_QUARTER", "CURRENT_QUARTER") in changes["BTCUSDT_260327"]
    # Replaying the same snapshot again is a duplicate: nothing changes.
    assert all(book.apply(e) == [] for e in _events_from_snapshot(after))


def test_a_usd_m_snapshot_says_nothing_about_coin_m_symbols() -> None:
    book = ContractBook()
    book.seed([Contract("BTCUSDT", status="TRADING", market="UM")])
    assert book.apply(event("BTCUSD_PERP", market="CM")) == []
    assert book.apply(event("NEWUSDT", market="UM")) == [Change("listed", None, "TRADING")]
    assert book.apply(event("OLDUSDT")) == [Change("listed", None, "TRADING")]


def test_coin_m_symbols_in_a_snapshot_are_labelled_cm() -> None:
    info = {
        "symbols": [
            {"symbol": "BTCUSD_PERP", "quoteAsset": "USD", "status": "TRADING"},
            {"symbol": "BTCUSDT", "quoteAsset": "USDT", "status": "TRADING"},
        ]
    }
    markets = {c.symbol: c.market for c in contracts_from_exchange_info(info)}
    assert markets == {"BTCUSD_PERP": "CM", "BTCUSDT": "UM"}
    book = ContractBook()
    book.seed(contracts_from_exchange_info(info))
    assert book.apply(event("ETHUSD_PERP", market="CM")) == [Change("listed", None, "TRADING")]


# --- fuzzing: any event sequence against a reference model -----------------
#
# Events are made as the exchange would send them and decoded by
# binmon.protocol, as the feed does; snapshots go through
# contracts_from_exchange_info. The reference model below reads the wire
# dicts directly and follows SPEC.md ("JSON lines", `changes`) rule by rule.
# Where SPEC leaves the order of `changes` open, the model lists scalar
# fields in SPEC's order, then brackets by number, each bracket's fields in
# the order of the `brackets` JSON keys.

SYMBOLS = ("AUSDT", "BUSDT", "CUSD_PERP", "D")
SCALARS = {
    "cs": "status",
    "ps": "pair",
    "ct": "contract_type",
    "dt": "delivery_time",
    "ot": "onboard_time",
}
BRACKET_FIELDS = {
    "bnf": "notional_floor",
    "bnc": "notional_cap",
    "mmr": "maint_margin_ratio",
    "cf": "cum",
    "mi": "min_leverage",
    "ma": "max_leverage",
}
# Each group is one value in several spellings, so "by value, not text" is tried.
NUMBER_GROUPS = (
    ("0", "0.0", "0e0", "-0"),
    ("0.01", "0.010", "1e-2", "0.0100"),
    ("0.03", "0.030", "3E-2"),
    ("5000", "5000.0", "5e3", "5E+3"),
    ("20", "20.00"),
    ("50",),
)


# The exchange sends JSON numbers; decimal strings are taken too.
numbers = st.builds(
    lambda text, as_number: msgspec.Raw(text.encode()) if as_number else text,
    st.sampled_from([text for group in NUMBER_GROUPS for text in group]),
    st.booleans(),
)
bracket_wires = st.fixed_dictionaries(
    {"bs": st.integers(1, 3), **{key: numbers for key in BRACKET_FIELDS if key != "mi"}},
    optional={"mi": st.one_of(numbers, st.none())},
)


def nullable(*values: object) -> st.SearchStrategy[object]:
    """A field that is sent, or sent as null (and, as an optional key, left out)."""
    return st.one_of(st.sampled_from(values), st.none())


ladders = st.lists(bracket_wires, min_size=1, max_size=3)
contract_wires = st.fixed_dictionaries(
    {"e": st.just("contractInfo"), "E": st.integers(0, 2 * 10**12), "s": st.sampled_from(SYMBOLS)},
    optional={
        "ps": nullable(*SYMBOLS, "OTHER"),
        "ct": nullable("PERPETUAL", "CURRENT_QUARTER DELIVERING", "NEW_TYPE"),
        "cs": nullable("PENDING_TRADING", "TRADING", "SETTLING", "NEW ✓"),
        "dt": nullable(4133404800000, 4133404802000, 1),
        "ot": nullable(1569398400000, 2),
        "st": st.sampled_from([1, 2, 3]),
        "bks": st.one_of(st.sampled_from([None, []]), ladders),
        "unknown": st.just({"x": [1.5]}),
    },
)
exchange_infos = st.builds(
    lambda symbols: {"symbols": symbols},
    st.lists(
        st.fixed_dictionaries(
            {"symbol": st.sampled_from(SYMBOLS)},
            optional={
                "pair": nullable(*SYMBOLS, "OTHER"),
                "contractType": nullable("PERPETUAL", "NEXT_QUARTER"),
                "status": nullable("TRADING", "PENDING_TRADING", "SETTLING"),
                "deliveryDate": nullable(4133404800000, 1),
                "onboardDate": nullable(1569398400000, 2),
                "quoteAsset": st.sampled_from(["USDT", "USD"]),
            },
        ),
        max_size=4,
    ),
)


@dataclass(frozen=True)
class Step:
    wire: dict[str, Any]  # an event's payload, or an exchangeInfo snapshot
    event: ContractInfo | None = None  # decoded from `wire`, as the feed would
    seeds: list[Contract] | None = None  # the snapshot's seeds, made once


@st.composite
def sequences(draw: st.DrawFn) -> list[Step]:
    steps: list[Step] = []
    for kind in draw(st.lists(st.sampled_from(["event"] * 9 + ["seed"]), min_size=1, max_size=24)):
        if kind == "seed" or (not steps and draw(st.booleans())):
            info = draw(exchange_infos)
            steps.append(Step(info, seeds=contracts_from_exchange_info(info)))
        wire = draw(contract_wires)
        frame = decode_message(msgspec.json.encode({"stream": "!contractInfo", "data": wire}))
        assert frame.malformed == 0, frame.problem
        [decoded] = frame.events
        assert isinstance(decoded, ContractInfo)
        steps.append(Step(wire, event=decoded))
    return steps


Row = tuple[str, Any, Any, int | None]  # (field, old, new, bracket); brackets as dicts


def text_of(value: object) -> str | None:
    if isinstance(value, msgspec.Raw):
        return bytes(value).decode()
    assert value is None or isinstance(value, str)
    return value


def same_value(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return Fraction(a) == Fraction(b)


class Model:
    """What `changes` should be, straight from SPEC.md."""

    def __init__(self) -> None:
        self.known: dict[str, dict[str, Any]] = {}
        self.markets: set[str] = set()

    def seed(self, info: dict[str, Any]) -> None:
        self.markets.add("UM")  # the snapshot binmon fetches is USD-M's
        for entry in info["symbols"]:
            self.markets.add("CM" if entry.get("quoteAsset") == "USD" else "UM")
            # What events taught is newer than any snapshot.
            self.known.setdefault(
                entry["symbol"],
                {
                    "status": entry.get("status"),
                    "pair": entry.get("pair"),
                    "contract_type": entry.get("contractType"),
                    "delivery_time": entry.get("deliveryDate"),
                    "onboard_time": entry.get("onboardDate"),
                    "brackets": None,
                },
            )

    def apply(self, wire: dict[str, Any]) -> list[Row]:
        carried = {name: wire.get(key) for key, name in SCALARS.items()}
        ladder = None
        if wire.get("bks"):  # null, missing or [] say nothing about brackets
            # A bracket number sent twice: the later one stands.
            ladder = {
                b["bs"]: {"bracket": b["bs"]}
                | {name: text_of(b.get(key)) for key, name in BRACKET_FIELDS.items()}
                for b in wire["bks"]
            }
        known = self.known.get(wire["s"])
        if known is None:
            self.known[wire["s"]] = carried | {"brackets": ladder}
            # No `st`: USD-M. A first sight is a listing only where a snapshot looked.
            market = {None: "UM", 1: "UM", 2: "CM"}.get(wire.get("st"), str(wire.get("st")))
            return [("listed", None, carried["status"], None)] if market in self.markets else []
        rows: list[Row] = [
            (name, known[name], value, None)
            for name, value in carried.items()
            if value is not None and known[name] is not None and value != known[name]
        ]
        if ladder is not None and known["brackets"] is not None:
            for n in sorted(known["brackets"].keys() | ladder.keys()):
                before, after = known["brackets"].get(n), ladder.get(n)
                if before is None or after is None:
                    rows.append(("bracket", before, after, n))
                    continue
                for name in BRACKET_FIELDS.values():
                    if not same_value(before[name], after[name]):
                        rows.append((name, before[name], after[name], n))
        known.update({name: value for name, value in carried.items() if value is not None})
        if ladder is not None:
            known["brackets"] = ladder
        return rows


def bracket_dict(b: Bracket) -> dict[str, Any]:
    return {"bracket": b.bracket} | {name: getattr(b, name) for name in BRACKET_FIELDS.values()}


def rows(changes: list[Change]) -> list[Row]:
    def side(value: object) -> object:
        return bracket_dict(value) if isinstance(value, Bracket) else value

    return [(c.field, side(c.old), side(c.new), c.bracket) for c in changes]


def run(book: ContractBook, steps: list[Step]) -> list[list[Change]]:
    out: list[list[Change]] = []
    for step in steps:
        if step.event is None:
            assert step.seeds is not None
            book.seed(step.seeds)
            out.append([])
        else:
            out.append(book.apply(step.event))
    return out


def json_side(value: object) -> object:
    """A row's side as ``json.loads(..., parse_int=str, parse_float=str)`` reads it."""
    if isinstance(value, dict):
        return {k: json_side(v) for k, v in value.items()}
    return str(value) if isinstance(value, int) else value


class Chain:
    """Each change's `old` is what the previous change (if any) said was `new`."""

    def __init__(self) -> None:
        self.scalars: dict[tuple[str, str], object] = {}
        # Per (symbol, bracket): whether it exists, and its field values, as reported.
        self.present: dict[tuple[str, int], bool] = {}
        self.fields: dict[tuple[str, int], dict[str, str | None]] = {}

    def check(self, symbol: str, change: Change) -> None:
        if change.field == "listed":
            if change.new is not None:
                self.scalars[symbol, "status"] = change.new
            return
        if change.bracket is None:
            assert change.old != change.new
            key = (symbol, change.field)
            if key in self.scalars:
                assert change.old == self.scalars[key]
            self.scalars[key] = change.new
            return
        where = (symbol, change.bracket)
        if change.field == "bracket":
            assert (change.old is None) != (change.new is None)
            appears = change.old is None
            if where in self.present:
                assert self.present[where] is not appears
            for name, value in self.fields.get(where, {}).items():
                assert not appears and same_value(getattr(change.old, name), value)
            self.present[where] = appears
            self.fields[where] = bracket_dict(change.new) if appears else {}
            self.fields[where].pop("bracket", None)
            return
        assert not same_value(change.old, change.new)
        assert self.present.setdefault(where, True)
        known = self.fields.setdefault(where, {})
        if change.field in known:
            assert same_value(change.old, known[change.field])
        known[change.field] = change.new


@given(sequences())
@settings(max_examples=200, deadline=None)
def test_any_sequence_gives_the_changes_of_the_reference_model(steps: list[Step]) -> None:
    book, model, chain = ContractBook(), Model(), Chain()
    for step in steps:
        if step.event is None:
            assert step.seeds is not None
            book.seed(step.seeds)
            model.seed(step.wire)
            continue
        changes = book.apply(step.event)
        expected = model.apply(step.wire)
        assert rows(changes) == expected
        for change in changes:
            chain.check(step.event.symbol, change)
        contract = book.contracts[step.event.symbol]
        if changes:
            assert contract.last_change == tuple(changes)
            assert contract.last_change_time == step.event.event_time
        # The JSON line says the same, with the exchange's digits.
        line = json.loads(encode_contract(step.event, changes), parse_int=str, parse_float=str)
        assert line["changes"] == [
            {"field": field, "old": json_side(old), "new": json_side(new)}
            | ({} if n is None else {"bracket": str(n)})
            for field, old, new, n in expected
        ]
    # And the book ends where the model does.
    for symbol, known in model.known.items():
        contract = book.contracts[symbol]
        for name in SCALARS.values():
            assert getattr(contract, name) == known[name]
        brackets = contract.brackets
        got = None if brackets is None else {n: bracket_dict(b) for n, b in brackets.items()}
        assert got == known["brackets"]
    assert book.contracts.keys() == model.known.keys()


@given(sequences(), st.data())
@settings(max_examples=150, deadline=None)
def test_changes_depend_on_the_sequence_only(steps: list[Step], data: st.DataObject) -> None:
    whole = run(ContractBook(), steps)
    # Replayed from scratch, from the very same objects: the same changes.
    assert run(ContractBook(), steps) == whole
    # Cut anywhere: a book built from nothing but the state the first part
    # left (its contracts and covered markets) goes on exactly the same way.
    cut = data.draw(st.integers(0, len(steps)), label="cut")
    first = ContractBook()
    head = run(first, steps[:cut])
    second = ContractBook()
    second.contracts = copy.deepcopy(first.contracts)
    second.seeded_markets = set(first.seeded_markets)
    assert head + run(second, steps[cut:]) == whole
