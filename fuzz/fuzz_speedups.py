#!/usr/bin/env python3
"""Differential fuzzing of the C accelerator against the pure-Python path (``make fuzz``).

For every input, binmon._speedups must either decline (None) or return exactly
what the Python path makes of it (tests/speedups_oracle.py): the same JSON
lines byte for byte, the same count, event times and stream. The first input
byte picks what is fuzzed (bit 0: a recording line rather than a live message;
bit 1: handed over as str rather than bytes; bit 2: the valued encoder, which
must also append exactly Python's collateral line or none, with the holdings
and the known event time picked by bits 3-5); the rest is the input itself.

The corpus starts from the frames of tests/test_speedups.py and tests/exchange.py
(written to fuzz/.corpus/, where libFuzzer also keeps what it finds). Coverage
guidance comes from the instrumented Python path only (the extension is built
by gcc, without libFuzzer's instrumentation), so half the mutations are JSON
aware (``mutate``): a value swapped for a near miss ("01", "1e3", a stream the
fast path must refuse), a member dropped or repeated, whitespace added; byte
mutations alone rarely turn one valid frame into another that differs in a
single digit. libFuzzer flags pass through: ``-max_total_time=60``, ``-runs=N``.
A mismatch stops the run with the input saved as ``fuzz/.artifacts/crash-*``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # Run as a script: make ``tests`` importable.
    sys.path.insert(0, str(ROOT))

# Only the Python path is instrumented: its branches are the coverage that guides.
with atheris.instrument_imports(include=["binmon", "tests.speedups_oracle"]):
    import msgspec

    from binmon._speedups import (
        asset_index_lines,
        recorded_asset_index_lines,
        valued_asset_index_lines,
        valued_recorded_asset_index_lines,
    )
    from binmon.collateral import fast_holdings, parse_holds
    from binmon.protocol import AssetIndex
    from tests import speedups_oracle
    from tests.exchange import ASSET, asset_frame, contract_frame
    from tests.test_speedups import DECLINED, LEADING_ZERO

CORPUS = ROOT / "fuzz" / ".corpus"
DICTIONARY = ROOT / "fuzz" / "speedups.dict"
ARTIFACTS = ROOT / "fuzz" / ".artifacts"

RECORDED, TEXT, VALUED = 1, 2, 4
# The valued encoder's holdings (bits 3-4 of the mode) and known event time (bit 5).
HOLDINGS = [
    parse_holds(["BTC=1", "USDT=-1000"]),
    parse_holds(["BTC=-0.00012345", "ADA=0", "ETHUSD=1"]),
    parse_holds(["BTC=123456789012345678", "USDT=-0.000000000000000000000000000001"]),
    parse_holds(["X=-0", "BTC=2.50"]),
]
FLOORS = [0, 1_700_000_000_000]
Check = tuple[
    Callable[[bytes | str], speedups_oracle.FastResult | None],
    Callable[[bytes | str], speedups_oracle.FastResult | None],
]
CHECKS: dict[int, Check] = {
    0: (asset_index_lines, speedups_oracle.live),
    RECORDED: (recorded_asset_index_lines, speedups_oracle.recorded),
}


VALUING = {0: valued_asset_index_lines, RECORDED: valued_recorded_asset_index_lines}


def check_valued(mode: int, message: bytes | str) -> None:
    holdings = HOLDINGS[(mode >> 3) & 3]
    floor = FLOORS[(mode >> 5) & 1]
    prepared = fast_holdings(holdings)
    assert prepared is not None
    got = VALUING[mode & RECORDED](message, prepared, floor)
    # Always asked, declined or not: its branches are what guides the fuzzer.
    expected = CHECKS[mode & RECORDED][1](message)
    collateral = None
    if expected is not None:
        collateral = speedups_oracle.collateral(expected[0], holdings, floor)
    if got is None:
        return
    lines, newest = got[0], got[5]
    plain = lines if newest is None or expected is None else lines[: len(expected[0])]
    made = lines[len(plain) :]
    if (plain, *got[1:5]) != expected or (newest is not None and made != collateral):
        raise AssertionError(
            f"C and Python disagree on {message!r}:\n  C:      {got!r}\n"
            f"  Python: {expected!r}, {collateral!r}"
        )


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0], data[1:]
    # surrogateescape: bytes that are not UTF-8 become lone surrogates, which
    # must be declined (C) and rejected (Python) alike.
    message: bytes | str = body.decode("utf-8", "surrogateescape") if mode & TEXT else body
    if mode & VALUED:
        check_valued(mode, message)
        return
    fast, reference = CHECKS[mode & RECORDED]
    got = fast(message)
    # Always asked, declined or not: its branches are what guides the fuzzer.
    expected = reference(message)
    if got is not None and got != expected:
        raise AssertionError(
            f"C and Python disagree on {message!r}:\n  C:      {got!r}\n  Python: {expected!r}"
        )


# Values one step away from what the fast path takes, or what it must refuse.
NEAR_MISSES = [
    b"0",
    b"01",
    b"00",
    b"-0",
    b"-1",
    b"1.0",
    b"1e3",
    b"1E+3",
    b"0.5",
    b"9" * 18,
    b"9" * 19,
    b"18446744073709551616",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b"[1]",
    b'""',
    b'"01"',
    b'"0.1"',
    b'"-"',
    b'"1e5"',
    b'" 1"',
    b'"1 "',
    b'"0x1"',
    b'"1."',
    b'".1"',
    b'"-.1"',
    b'"!contractInfo"',
    b'"!assetIndex@arr"',
    b'"binmon:exchangeInfo"',
    b'"x@assetIndex"',
    b'"@assetIndex"',
    b'"x@assetindex"',
    b'"\\u0041"',
    b'"A\\"B"',
    b'"\xff"',
    b'"\xc3\xa9"',
    b'"assetIndexUpdate"',
    b'"contractInfo"',
    b'"BTCUSD"',
    b'"a-b"',
    b'"[b]"',
    b'"\x1b"',
]
TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|null|true|false')
MEMBER = re.compile(rb'"(?:[^"\\]|\\.)*"\s*:\s*(?:"(?:[^"\\]|\\.)*"|[-0-9.eE+]+|null),?')


def mutate(data: bytes, max_size: int, seed: int) -> bytes:
    """libFuzzer's custom mutator: half the time a JSON-aware change, else a byte one.

    The JSON-aware half starts from a seed now and then: after a few byte
    mutations an input is rarely valid JSON any more, and a near miss matters
    most next to a frame the fast path takes.
    """
    rng = random.Random(seed)
    if rng.random() < 0.5:
        return atheris.Mutate(data, max_size)
    if len(data) < 2 or rng.random() < 0.3:
        data = rng.choice(SEEDS)
    mode, body = data[:1], data[1:]
    if rng.random() < 0.05:
        mode = bytes([rng.randrange(64)])
    choice = rng.random()
    tokens = list(TOKEN.finditer(body))
    members = list(MEMBER.finditer(body))
    if choice < 0.6 and tokens:
        m = rng.choice(tokens)
        body = body[: m.start()] + rng.choice(NEAR_MISSES) + body[m.end() :]
    elif choice < 0.75 and members:
        m = rng.choice(members)
        body = body[: m.start()] + body[m.end() :]
    elif choice < 0.9 and members:
        m = rng.choice(members)
        member = m.group().rstrip(b",") + b","
        body = body[: m.start()] + member + body[m.start() :]
    else:
        at = rng.randrange(len(body) + 1)
        body = body[:at] + rng.choice([b" ", b"\n", b"\t", b"\r", b"  "]) + body[at:]
    return (mode + body)[:max_size]


def seed_frames() -> Iterator[bytes]:
    """Live messages: the frames the tests use, good and bad."""
    yield asset_frame(1_700_000_000_000, ("ADAUSD", "BTCUSD", "1000SHIBUSD")).encode()
    yield asset_frame(5, ("X",)).encode()
    yield json.dumps({"stream": "btcusd@assetIndex", "data": dict(ASSET, E=5, s="BTCUSD")}).encode()
    element = dict(reversed(list(dict(ASSET, E=7, s="ETHUSD").items())))
    yield json.dumps({"data": [element, element], "stream": "!assetIndex@arr"}, indent=1).encode()
    yield contract_frame(3, "BTCUSDT").encode()
    yield from DECLINED


def seed_lines() -> Iterator[bytes]:
    """Recording lines: each envelope with a receive time, good and bad."""
    yield LEADING_ZERO.encode()
    for frame in seed_frames():
        yield frame
        if frame.startswith(b'{"'):
            yield b'{"recv_time":1700000000123,' + frame[1:]
            yield frame[:-1] + b',"recv_time":9}'
    yield b'{"recv_time":1,"stream":"binmon:exchangeInfo","data":{"symbols":[]}}'


def seed_valued() -> Iterator[bytes]:
    """Frames for the valued encoder: held entries, repeats, and odd numbers."""
    for symbols in (("BTCUSD", "USDTUSD"), ("ADAUSD", "BTCUSD", "ETHUSDUSD", "XUSD", "USDTUSD")):
        yield asset_frame(1_700_000_000_000, symbols).encode()
    numbers = ["0", "-0", "0.000", "1e3", "99999999999999999999999999999.9", "-1.5", "7"]
    events = [
        AssetIndex(s, 1_700_000_000_000 + k, n, "0", "0", n, m, "0", "0", n, m)
        for k, (s, n, m) in enumerate(
            (s, n, m) for s in ("BTCUSD", "USDTUSD", "XUSD") for n in numbers for m in numbers[:3]
        )
    ]
    yield msgspec.json.encode({"stream": "!assetIndex@arr", "data": events})
    yield msgspec.json.encode({"stream": "!assetIndex@arr", "data": events[::-7]})


def seeds() -> list[bytes]:
    found = [bytes([mode]) + f for f in seed_frames() for mode in (0, TEXT)]
    found += [bytes([mode]) + f for f in seed_lines() for mode in (RECORDED, RECORDED | TEXT)]
    valued = [*seed_valued(), *seed_frames()]
    found += [
        bytes([VALUED | recorded | holdings << 3 | floor << 5]) + frame
        for frame in [*valued, *(b'{"recv_time":1,' + f[1:] for f in valued if f[:2] == b'{"')]
        for recorded in (0, RECORDED)
        for holdings in range(4)
        for floor in range(2)
    ]
    return found


SEEDS = seeds()


def write_seeds() -> None:
    CORPUS.mkdir(parents=True, exist_ok=True)
    for seed in SEEDS:
        (CORPUS / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


def main() -> None:
    write_seeds()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    args = list(sys.argv)
    if not any(a.startswith("-max_len=") for a in args):
        args.append("-max_len=4096")
    if not any(a.startswith("-keep_seed=") for a in args):
        args.append("-keep_seed=1")  # every seed, even one adding no Python coverage
    if not any(a.startswith("-dict=") for a in args):
        args.append(f"-dict={DICTIONARY}")
    if not any(a.startswith("-artifact_prefix=") for a in args):
        args.append(f"-artifact_prefix={ARTIFACTS}/")
    if not any(not a.startswith("-") for a in args[1:]):
        args.append(str(CORPUS))
    atheris.Setup(args, test_one_input, custom_mutator=mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
