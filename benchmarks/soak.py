#!/usr/bin/env python3
"""binmon's soak test (``make soak``): ``watch --json`` against a chaotic ``serve``, checked.

``binmon serve`` runs at 100 times the real rate with random faults (about
every 8 s each connection is dropped without a close frame, closed with
1000/1001/1011, or goes silent) and writes a log of every data frame it
really sent (``--log``). ``binmon watch --json`` runs against it with a 1 s
staleness watchdog and a replacement connection every 5 s. Afterwards the
server's log is held against binmon's output:

- lost: an event (kind, symbol, event time) the server sent that binmon
  never wrote. The server only sends while a client is connected, so this
  is "no event lost while connected". A late resend (older than an event
  of the same symbol sent before it on that connection) is not owed: a
  client that keeps each symbol's events in order must drop it;
- duplicated: an event binmon wrote twice (the scenario resends some
  contract frames unchanged: same key, so once is right);
- out of order: an event time not strictly after the previous one of the
  same kind and symbol, in binmon's output order;
- flat: binmon's RSS and open file descriptors, the median of the first
  third of the samples (after a warm-up) against the median of the last third.

Duration: ``SOAK_SECONDS`` (default 300, at most 570 so that a whole run
stays within 10 minutes) or ``--seconds``. Exit status 0 when every check
passes, 1 when one fails or the run could not be made. The server's log,
binmon's output and both stderr streams (each line stamped with the wall
time it was read) are kept under benchmarks/.work/soak-*/ when a check
fails, or with ``--keep``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Final

if __package__ in (None, ""):
    # Run as a script (``python benchmarks/soak.py``): make ``benchmarks`` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from benchmarks.harness import ROOT, WORK, binmon_command, child_env, git_revision, memory_kb
from binmon.server.sentlog import SentRecord, read_sent_log

DEFAULT_SECONDS: Final = 300.0
# The whole run (start, soak, drain, checks) must stay within 10 minutes.
MAX_SECONDS: Final = 570.0
# Samples taken before this are not judged: imports, REST seeding, first buffers.
WARM_UP: Final = (10.0, 30.0)  # at least, at most; 10 % of the run in between
# "Flat": the last third's median may exceed the first third's by this much.
RSS_TOLERANCE_KB: Final = 8 * 1024
RSS_TOLERANCE_FRACTION: Final = 0.10
FD_TOLERANCE: Final = 2

ASSET, CONTRACT = "asset_index", "contract_info"
Key = tuple[str, str, int]  # (kind, symbol, event time)


class SoakError(Exception):
    """The soak could not be run as designed (not a finding about binmon)."""


# --- processes -----------------------------------------------------------------------


class Stamped:
    """Copies a child's stderr to a file, each line prefixed with the wall ms it was read."""

    def __init__(self, stream: IO[bytes], path: Path) -> None:
        self.path = path
        self._stream = stream
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with open(self.path, "wb") as out:
            for line in self._stream:
                out.write(b"%d " % (time.time_ns() // 1_000_000) + line)
                out.flush()

    def join(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)


def stamped_lines(path: Path) -> list[tuple[int, str]]:
    """A :class:`Stamped` file read back: (wall ms, line)."""
    out = []
    for raw in path.read_text(errors="replace").splitlines():
        stamp, _, text = raw.partition(" ")
        if stamp.isdigit():
            out.append((int(stamp), text))
    return out


def start_server(args: argparse.Namespace, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    cmd = [
        *binmon_command(),
        "serve",
        *("--port", "0", "--rate", f"{args.rate:g}", "--seed", str(args.seed)),
        *("--chaos", f"{args.chaos:g}", "--log", str(work / "sent.jsonl")),
    ]
    banner = work / "serve.out"
    with open(banner, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=child_env(),
        )
    assert proc.stderr is not None
    Stamped(proc.stderr, work / "serve.err")
    # The banner is written (and flushed) at start; its WebSocket line has the port.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        match = re.search(r"^WebSocket: (ws://[^/]+)/", banner.read_text(), re.MULTILINE)
        if match:
            return proc, match.group(1)
        time.sleep(0.05)
    stop(proc)
    raise SoakError(f"`{' '.join(cmd)}` printed no WebSocket line: {banner.read_text()!r}")


def start_watch(
    args: argparse.Namespace, ws_url: str, work: Path
) -> tuple[subprocess.Popen[bytes], Stamped, IO[bytes]]:
    out = open(work / "watch.jsonl", "wb")  # noqa: SIM115 (closed in stop)
    cmd = [
        *binmon_command(),
        "watch",
        "--json",
        # Every alert kind: each change the server sent must be alerted exactly once.
        *("--alert", "all"),
        *("--ws-url", ws_url, "--rest-url", ws_url.replace("ws://", "http://")),
        *("--stale-after", f"{args.stale_after:g}"),
        *("--max-connection-age", f"{args.max_connection_age:g}"),
    ]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, cwd=ROOT, env=child_env()
    )
    assert proc.stderr is not None
    return proc, Stamped(proc.stderr, work / "watch.err"), out


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9
    return proc.returncode


def wait_quiet(path: Path, quiet: float = 1.0, timeout: float = 15.0) -> None:
    """Until ``path`` stopped growing for ``quiet`` seconds: binmon wrote what it received."""
    deadline = time.monotonic() + timeout
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_size = path.stat().st_size
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


# --- the run -------------------------------------------------------------------------


@dataclass
class Sample:
    at: float  # seconds since binmon started
    rss_kb: int
    fds: int
    server_rss_kb: int


@dataclass
class Run:
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    server_rc: int = 0
    watch_rc: int = 0
    died: str | None = None


def soak(args: argparse.Namespace, work: Path) -> Run:
    server, ws_url = start_server(args, work)
    watch = None
    out = None
    stamped = None
    run = Run(0.0)
    try:
        watch, stamped, out = start_watch(args, ws_url, work)
        started = time.monotonic()
        next_sample, next_report = started, started + 30
        print(f"soak: serve at {ws_url}, binmon pid {watch.pid}; {args.seconds:g}s", flush=True)
        while (now := time.monotonic()) - started < args.seconds:
            if watch.poll() is not None or server.poll() is not None:
                who = "binmon watch" if watch.poll() is not None else "binmon serve"
                run.died = f"{who} exited early ({(watch.poll(), server.poll())})"
                break
            if now >= next_sample:
                # A process exiting right now is noticed at the next turn.
                with contextlib.suppress(OSError, KeyError):
                    run.samples.append(
                        Sample(
                            now - started,
                            memory_kb(watch.pid)["VmRSS"],
                            open_fds(watch.pid),
                            memory_kb(server.pid)["VmRSS"],
                        )
                    )
                next_sample += args.sample_every
            if now >= next_report:
                s = run.samples[-1]
                print(
                    f"  {now - started:4.0f}s  output {(work / 'watch.jsonl').stat().st_size:>12,}"
                    f" B  RSS {s.rss_kb / 1024:6.1f} MiB  fds {s.fds}",
                    flush=True,
                )
                next_report += 30
            time.sleep(min(0.2, max(0.0, next_sample - time.monotonic())))
        run.seconds = time.monotonic() - started
    finally:
        # The server first: its shutdown closes every connection with 1001
        # after the last frame it logged, so everything logged can arrive.
        run.server_rc = stop(server)
        if watch is not None:
            if watch.poll() is None:
                wait_quiet(work / "watch.jsonl")
            run.watch_rc = stop(watch)
        if stamped is not None:
            stamped.join()
        if out is not None:
            out.close()
    return run


# --- the checks ----------------------------------------------------------------------


class _OutLine(msgspec.Struct):
    type: str
    symbol: str | None
    event_time: int | None


def kind_of(stream: str) -> str:
    return CONTRACT if stream == "!contractInfo" else ASSET


@dataclass
class Verdict:
    name: str
    shown: str
    target: str
    ok: bool


@dataclass
class Findings:
    verdicts: list[Verdict] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def figure(self, name: str, value: object) -> None:
        self.figures.append((name, str(value)))

    def check(self, name: str, shown: object, target: str, ok: bool) -> None:
        self.verdicts.append(Verdict(name, str(shown), target, ok))

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)


def read_output(path: Path) -> tuple[list[Key], int]:
    decoder = msgspec.json.Decoder(_OutLine)
    keys: list[Key] = []
    bad = 0
    with open(path, "rb") as f:
        for line in f:
            try:
                o = decoder.decode(line)
            except msgspec.DecodeError:
                bad += 1
                continue
            if o.type == "alert":
                continue  # judged by check_alerts
            if o.symbol is None or o.event_time is None:
                bad += 1
                continue
            keys.append((o.type, o.symbol, o.event_time))
    return keys, bad


def judge_flat(
    samples: Sequence[Sample], seconds: float, attr: str
) -> tuple[float, float, int, int, int] | None:
    """(first-third median, last-third median, first, last, max) after the warm-up."""
    warm_up = min(WARM_UP[1], max(WARM_UP[0], 0.1 * seconds))
    judged = [getattr(s, attr) for s in samples if s.at >= warm_up]
    if len(judged) < 3:
        return None
    third = len(judged) // 3
    return (
        statistics.median(judged[:third]),
        statistics.median(judged[-third:]),
        judged[0],
        judged[-1],
        max(judged),
    )


def union_seconds(spans: list[tuple[int, int]]) -> float:
    total, end = 0, None
    for a, b in sorted(spans):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total / 1000


def check(args: argparse.Namespace, run: Run, work: Path) -> Findings:
    f = Findings()
    sent = read_sent_log(work / "sent.jsonl")
    output, bad_output = read_output(work / "watch.jsonl")
    watch_err = stamped_lines(work / "watch.err")
    serve_err = stamped_lines(work / "serve.err")

    # What the server sent, once per key, and where.
    sent_on: dict[Key, list[int]] = defaultdict(list)
    for _, conn, stream, symbol, event_time in sent.events:
        sent_on[(kind_of(stream), symbol, event_time)].append(conn)
    # Keys the server itself sent twice on one connection: the scenario's resends.
    resent = sum(1 for conns in sent_on.values() if len(conns) != len(set(conns)))
    # An event is owed to the client when it was newer than everything of
    # its symbol sent before it on its connection. The scenario (like the
    # exchange) resends some frames seconds later, after newer events of the
    # same symbol: such a late resend is rightly dropped by a client that
    # keeps each symbol's events in order, even when it missed the original.
    newest: dict[tuple[int, str, str], int] = {}
    owed: set[Key] = set()
    late: set[Key] = set()
    for _, conn, stream, symbol, event_time in sent.events:
        kind = kind_of(stream)
        previous = newest.get((conn, kind, symbol))
        if previous is not None and event_time < previous:
            late.add((kind, symbol, event_time))
        else:
            owed.add((kind, symbol, event_time))
            newest[(conn, kind, symbol)] = event_time
    late -= owed

    counts = Counter(output)
    received = set(counts)
    lost = [k for k in owed if k not in received]
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    unlogged = [k for k in received if k not in sent_on]
    last: dict[tuple[str, str], int] = {}
    out_of_order = 0
    for kind, symbol, event_time in output:
        previous = last.get((kind, symbol))
        if previous is not None and event_time <= previous:
            out_of_order += 1
        last[(kind, symbol)] = event_time

    # Connections, faults, client reactions.
    conns = sent.connections
    by_path: dict[str, list[tuple[int, int]]] = defaultdict(list)
    end_ms = max((t for t, _ in serve_err), default=0)
    for c in conns.values():
        if c.opened_at is not None:
            by_path[c.path].append((c.opened_at, c.closed_at or end_ms))
    faults = Counter(what for c in conns.values() for _, what in c.faults)
    chaos_lines = sum(1 for _, line in serve_err if "fault: chaos:" in line)

    def count(text: str) -> int:
        return sum(1 for _, line in watch_err if text in line)

    f.figure("duration", f"{run.seconds:.0f} s (asked {args.seconds:g} s)")
    f.figure(
        "server",
        f"--rate {args.rate:g} --chaos {args.chaos:g} --seed {args.seed}; "
        f"binmon --stale-after {args.stale_after:g} "
        f"--max-connection-age {args.max_connection_age:g}",
    )
    f.figure(
        "events sent", f"{len(sent.events):,} in {sent.frames:,} frames ({len(sent_on):,} distinct)"
    )
    f.figure("events received", f"{len(output):,} lines ({len(received):,} distinct)")
    f.figure("scenario resends (same key)", f"{resent:,}")
    f.figure(
        "late resends (older than an event sent before)",
        f"{len(late):,}, of which {len(late & received):,} written",
    )
    f.figure("connections (server)", f"{len(conns):,}")
    for path, spans in sorted(by_path.items()):
        f.figure(
            f"  connected {path.split('streams=')[-1]}",
            f"{len(spans)} connections, {union_seconds(spans):.0f} s of {run.seconds:.0f} s",
        )
    f.figure("connections (binmon 'connected to')", f"{count('connected to'):,}")
    f.figure("reconnects (binmon 'reconnecting in')", f"{count('reconnecting in'):,}")
    f.figure("  of which stale (binmon 'no data for')", f"{count('no data for'):,}")
    f.figure(
        "rotations (binmon 'rotating the connection')", f"{count('rotating the connection'):,}"
    )
    f.figure("  completed ('switched to the new connection')", f"{count('switched to the new'):,}")
    f.figure(
        "  given up ('keeping the current connection')",
        f"{count('keeping the current connection'):,}",
    )
    f.figure(
        "faults injected (serve log)",
        f"{chaos_lines:,}: " + ", ".join(f"{what} {n}" for what, n in sorted(faults.items())),
    )
    f.check("received, never sent (per the sent log)", f"{len(unlogged):,}", "0", not unlogged)

    f.check("lost", f"{len(lost):,}", "0", not lost)
    f.check("duplicated", f"{duplicated:,}", "0", duplicated == 0)
    f.check("out of order", f"{out_of_order:,}", "0", out_of_order == 0)
    f.check("output lines that are not events", f"{bad_output:,}", "0", bad_output == 0)
    f.check("events received", f"{len(output):,}", "> 0", len(output) > 0)
    f.check("faults injected", f"{chaos_lines:,}", "> 0", chaos_lines > 0)
    f.check(
        "binmon exit status (SIGTERM)",
        run.watch_rc,
        "0",
        run.watch_rc == 0 and run.died is None,
    )
    f.check("serve exit status (SIGTERM)", run.server_rc, "0", run.server_rc == 0)
    if sent.bad_lines:
        f.notes.append(f"{sent.bad_lines} unreadable line(s) in the sent log")
    if run.died:
        f.notes.append(run.died)

    rss = judge_flat(run.samples, run.seconds, "rss_kb")
    fds = judge_flat(run.samples, run.seconds, "fds")
    srv = judge_flat(run.samples, run.seconds, "server_rss_kb")
    if rss is None or fds is None:
        f.check("RSS/fd samples after the warm-up", len(run.samples), ">= 3", False)
    else:
        first, later, a, b, peak = rss
        allowed = max(RSS_TOLERANCE_KB, RSS_TOLERANCE_FRACTION * first)
        f.figure(
            "binmon RSS",
            f"first {a / 1024:.1f} MiB, last {b / 1024:.1f} MiB, max {peak / 1024:.1f} MiB "
            f"({len(run.samples)} samples every {args.sample_every:g} s)",
        )
        f.check(
            "RSS flat",
            f"median {first / 1024:.1f} -> {later / 1024:.1f} MiB ({(later - first) / 1024:+.1f})",
            f"growth <= {allowed / 1024:.1f} MiB (max of {RSS_TOLERANCE_KB // 1024} MiB "
            f"and {RSS_TOLERANCE_FRACTION:.0%})",
            later - first <= allowed,
        )
        listed = _listings(work / "watch.jsonl")
        if listed:
            # New symbols are state binmon must keep (about 5 KiB for a
            # contract with a 10-bracket ladder): growth that is not a leak.
            f.figure(
                "new symbols kept in binmon's state",
                f"{listed:,} listings seen; RSS growth {(later - first) / listed:.1f} KiB "
                "per listing",
            )
        first, later, a, b, peak = fds
        f.figure("binmon open fds", f"first {a}, last {b}, max {peak}")
        f.check(
            "fds flat",
            f"median {first:g} -> {later:g}",
            f"growth <= {FD_TOLERANCE}",
            later - first <= FD_TOLERANCE,
        )
    if srv is not None:
        f.figure(
            "serve RSS (not judged)",
            f"first {srv[2] / 1024:.1f} MiB, last {srv[3] / 1024:.1f} MiB, "
            f"max {srv[4] / 1024:.1f} MiB",
        )
    if lost:
        f.notes += explain_lost(lost, sent, sent_on, watch_err)
    check_alerts(f, work / "watch.jsonl")
    return f


# --- alerts ----------------------------------------------------------------------------

PERPETUAL_MS: Final = 4133404800000
CLOSING: Final = frozenset(
    {"PRE_DELIVERING", "DELIVERING", "DELIVERED", "PRE_SETTLE", "SETTLING", "CLOSE"}
)
BRACKET_FIELDS: Final = frozenset(
    {"bracket", "notional_floor", "notional_cap", "maint_margin_ratio", "cum"}
    | {"min_leverage", "max_leverage"}
)
BUFFERS: Final = (
    "bid_buffer",
    "ask_buffer",
    "auto_exchange_bid_buffer",
    "auto_exchange_ask_buffer",
)


class _AlertLine(msgspec.Struct):
    type: str
    symbol: str | None = None
    event_time: int | None = None
    kind: str | None = None
    changes: list[dict[str, object]] | None = None
    bid_buffer: msgspec.Raw | None = None
    ask_buffer: msgspec.Raw | None = None
    auto_exchange_bid_buffer: msgspec.Raw | None = None
    auto_exchange_ask_buffer: msgspec.Raw | None = None


def _dec(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def expected_kinds(changes: list[dict[str, object]]) -> list[str]:
    """The alerts SPEC's table asks for, in its order, for one event's ``changes``.

    Written apart from binmon.alerts, from the table alone.
    """
    fields = [c["field"] for c in changes]
    kinds = []
    if "listed" in fields:
        kinds.append("listing")
    if any(
        (c["field"] == "status" and c["new"] in CLOSING)
        or (c["field"] == "delivery_time" and c["old"] == PERPETUAL_MS and c["new"] != PERPETUAL_MS)
        for c in changes
    ):
        kinds.append("delisting")
    kinds += ["status"] * fields.count("status")
    if any(f in BRACKET_FIELDS for f in fields):
        kinds.append("brackets")
    cut = False
    for c in changes:
        old, new = _dec(c.get("old")), _dec(c.get("new"))
        if c["field"] == "bracket":
            cut |= c["new"] is None
        elif c["field"] == "max_leverage" and old is not None and new is not None:
            cut |= new < old
        elif c["field"] == "maint_margin_ratio" and old is not None and new is not None:
            cut |= new > old
    if cut:
        kinds.append("leverage-cut")
    return kinds


def check_alerts(f: Findings, path: Path) -> None:
    """Each change alerted exactly once, right after its event; nothing else alerted.

    The events themselves are held against the server's log above (none
    lost, none twice); here each event's ``changes`` (and each asset's
    buffers against the last ones written) must be followed by exactly the
    alerts SPEC's table asks for.
    """
    decoder = msgspec.json.Decoder(_AlertLine)
    expected: Counter[str] = Counter()
    written: Counter[str] = Counter()
    missing = extra = feed = 0
    buffers: dict[str, tuple[Decimal | None, ...]] = {}
    owed: list[str] = []  # alerts the last event asks for, not yet seen
    last_key: tuple[str | None, int | None] = (None, None)
    seen: set[tuple[str, str | None, int | None]] = set()
    twice = 0
    with open(path, "rb") as lines:
        for line in lines:
            try:
                o = decoder.decode(line)
            except msgspec.DecodeError:
                continue
            if o.type == "alert":
                assert o.kind is not None
                written[o.kind] += 1
                if o.kind == "feed":
                    feed += 1
                    continue
                key = (o.kind, o.symbol, o.event_time)
                twice += key in seen
                seen.add(key)
                if (o.symbol, o.event_time) == last_key and o.kind in owed:
                    owed.remove(o.kind)
                else:
                    extra += 1
                continue
            missing += len(owed)
            owed = []
            last_key = (o.symbol, o.event_time)
            if o.type == "contract_info":
                owed = expected_kinds(o.changes or [])
            elif o.type == "asset_index" and o.symbol is not None:
                now = tuple(_dec(bytes(getattr(o, b) or b"").decode() or None) for b in BUFFERS)
                before = buffers.get(o.symbol)
                buffers[o.symbol] = now
                if before is not None and before != now:
                    owed = ["buffer"]
            expected.update(owed)
    missing += len(owed)
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(written.items())) or "none"
    f.figure("alerts written", f"{sum(written.values()):,}: {kinds}")
    f.figure("feed alerts (outages and recoveries)", f"{feed:,}")
    f.check(
        "changes alerted",
        f"{sum(expected.values()) - missing:,} of {sum(expected.values()):,}",
        "all",
        missing == 0,
    )
    f.check("alerts without their change", f"{extra:,}", "0", extra == 0)
    f.check("alerts raised twice", f"{twice:,}", "0", twice == 0)
    f.check(
        "alerts written", f"{sum(written.values()) - feed:,}", "> 0", sum(written.values()) > feed
    )


def explain_lost(
    lost: list[Key],
    sent: SentRecord,
    sent_on: dict[Key, list[int]],
    watch_err: list[tuple[int, str]],
) -> list[str]:
    """Where the lost events went: their connections, those connections' faults, binmon's words."""
    at: dict[Key, int] = {}
    for t, _, stream, symbol, event_time in sent.events:
        at.setdefault((kind_of(stream), symbol, event_time), t)
    per_conn = Counter(conn for k in lost for conn in set(sent_on[k]))
    per_kind = Counter(k[0] for k in lost)
    notes = [
        f"lost by kind: {dict(per_kind)}; by connection that sent them: "
        + ", ".join(f"#{c}: {n}" for c, n in per_conn.most_common(10)),
    ]
    shown = 0
    for conn_id, n in per_conn.most_common(5):
        conn = sent.connections.get(conn_id)
        keys = sorted((at[k], k) for k in lost if conn_id in sent_on[k])
        first_t, last_t = keys[0][0], keys[-1][0]
        if conn is None:
            continue
        faults = ", ".join(f"{what} at {t}" for t, what in conn.faults) or "none"
        notes.append(
            f"connection #{conn_id} ({conn.path}): open {conn.opened_at}, closed {conn.closed_at}, "
            f"{conn.frames} frames; faults: {faults}; {n} lost events sent {first_t}..{last_t}, "
            f"e.g. {keys[0][1]}; also sent on {sorted(set(sent_on[keys[0][1]]))}"
        )
        window = [
            f"    {t} {line}" for t, line in watch_err if first_t - 3000 <= t <= last_t + 3000
        ]
        notes += window[:12]
        shown += 1
    return notes


def report(f: Findings, work: Path) -> None:
    width = max(len(name) for name, _ in f.figures)
    print("\n=== soak figures ===")
    for name, value in f.figures:
        print(f"{name:<{width}}  {value}")
    print("\n=== soak checks ===")
    for v in f.verdicts:
        print(f"{'PASS' if v.ok else 'FAIL':<5} {v.name}: {v.shown} (target {v.target})")
    for note in f.notes:
        print(f"note: {note}")
    print(f"\nbinmon: git {git_revision()}; files: {work}")


def _listings(path: Path) -> int:
    count = 0
    with contextlib.suppress(OSError), open(path, "rb") as f:
        for line in f:
            count += b'"field":"listed"' in line
    return count


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    default = float(os.environ.get("SOAK_SECONDS", DEFAULT_SECONDS))
    p.add_argument("--seconds", type=float, default=default, help="soak duration [SOAK_SECONDS]")
    p.add_argument("--rate", type=float, default=100.0, help="serve --rate (100 = 100x real)")
    p.add_argument("--chaos", type=float, default=8.0, help="serve --chaos, mean seconds")
    p.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="serve --seed")
    p.add_argument("--stale-after", type=float, default=1.0)
    p.add_argument("--max-connection-age", type=float, default=5.0)
    p.add_argument("--sample-every", type=float, default=2.0, help="RSS/fd sampling, seconds")
    p.add_argument("--keep", action="store_true", help="keep the files even when all passes")
    p.add_argument(
        "--check",
        type=Path,
        metavar="DIR",
        help="do not run: check the files a kept run left in DIR again",
    )
    args = p.parse_args(argv)
    if not 0 < args.seconds <= MAX_SECONDS:
        p.error(f"the soak lasts more than 0 and at most {MAX_SECONDS:g} seconds")
    return args


class _Saved(msgspec.Struct):
    """What a run leaves beside its files, for ``--check DIR``."""

    args: dict[str, float | int | bool | None]
    run: Run


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.check is not None:
        work = args.check
        saved = msgspec.json.decode((work / "run.json").read_bytes(), type=_Saved)
        findings = check(argparse.Namespace(**saved.args), saved.run, work)
        report(findings, work)
        return 0 if findings.ok else 1
    WORK.mkdir(parents=True, exist_ok=True)
    work = WORK / time.strftime("soak-%Y%m%d-%H%M%S")
    work.mkdir()
    try:
        run = soak(args, work)
        settings = {k: v for k, v in vars(args).items() if k not in ("check", "keep")}
        (work / "run.json").write_bytes(msgspec.json.encode(_Saved(settings, run)))
        findings = check(args, run, work)
    except SoakError as exc:
        print(f"soak: could not run: {exc}", file=sys.stderr)
        return 1
    report(findings, work)
    if findings.ok and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        print("(files removed: every check passed; --keep keeps them)")
    print("\nsoak: PASS" if findings.ok else "\nsoak: FAIL")
    return 0 if findings.ok else 1


if __name__ == "__main__":
    sys.exit(main())
