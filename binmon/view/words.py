"""Changes and statuses in words: what the change log, the contract table's
``last change`` column and a contract's detail say about them."""

from __future__ import annotations

from typing import Final

from rich.text import Text

from binmon.collateral import trimmed
from binmon.positions import Exposure
from binmon.protocol import Bracket
from binmon.state import Change, Contract
from binmon.view.format import date_time, safe

STATUS_STYLES: Final = {
    "TRADING": "bold green",
    "PENDING_TRADING": "yellow",
    "PRE_DELIVERING": "magenta",
    "DELIVERING": "magenta",
    "PRE_SETTLE": "magenta",
    "SETTLING": "red",
    "DELIVERED": "dim",
    "CLOSE": "dim",
}

_BRACKET_FIELDS: Final = {
    "notional_floor": ("notional floor", "floor"),
    "notional_cap": ("notional cap", "cap"),
    "maint_margin_ratio": ("maint. margin ratio", "mmr"),
    "cum": ("cum", "cum"),
    "min_leverage": ("min leverage", "min lev"),
    "max_leverage": ("max leverage", "max lev"),
}
_FIELDS: Final = {
    "contract_type": ("contract type", "type"),
    "pair": ("pair", "pair"),
    "delivery_time": ("delivery", "delivery"),
    "onboard_time": ("onboard", "onboard"),
}


def status_text(status: str | None) -> Text:
    if status is None:
        return Text("")
    # Unknown statuses stay plain: colour must mean something.
    return Text(safe(status, 40), style=STATUS_STYLES.get(status, ""))


def _value(name: str, value: object) -> str:
    if value is None:
        return "none"
    if name in ("delivery_time", "onboard_time") and isinstance(value, int):
        return date_time(value)
    return safe(value, 40)


def describe(change: Change, short: bool = False) -> Text:
    """One change in words: ``TRADING → SETTLING``, ``bracket 1 max leverage 125 → 100``."""
    i = 1 if short else 0
    arrow = " → "
    if change.field == "listed":
        text = Text("listed")
        if isinstance(change.new, str):
            text.append(" ")
            text.append_text(status_text(change.new) if short else _paren(change.new))
        return text
    if change.field == "status":
        text = status_text(change.old)
        text.append(arrow)
        text.append_text(status_text(change.new))
        return text
    if change.field == "bracket":
        word = "added" if change.old is None else "removed" if change.new is None else "changed"
        text = Text(f"bracket {change.bracket} {word}")
        added = change.new if isinstance(change.new, Bracket) else None
        if added is not None and not short and added.max_leverage is not None:
            text.append(f" (max leverage {safe(added.max_leverage, 20)})", style="dim")
        return text
    if change.field in _BRACKET_FIELDS:
        label = _BRACKET_FIELDS[change.field][i]
        prefix = f"b{change.bracket}" if short else f"bracket {change.bracket}"
        return Text(f"{prefix} {label} {_value(change.field, change.old)}{arrow}") + Text(
            _value(change.field, change.new), style="bold"
        )
    label = _FIELDS.get(change.field, (safe(change.field, 30),) * 2)[i]
    return Text(f"{label} {_value(change.field, change.old)}{arrow}") + Text(
        _value(change.field, change.new), style="bold"
    )


def _paren(status: str) -> Text:
    text = Text("(")
    text.append_text(status_text(status))
    text.append(")")
    return text


def last_change_text(contract: Contract) -> Text:
    if not contract.last_change:
        return Text("")
    text = describe(contract.last_change[0], short=True)
    more = len(contract.last_change) - 1
    if more:
        text.append(f" +{more}", style="dim")
    return text


# --- a position moved by a bracket event --------------------------------------


def leverage_text(value: str | None) -> str:
    return "-" if value is None else f"{safe(value, 8)}x"


def margin_text(e: Exposure) -> str:
    return "-" if e.maintenance_margin is None else trimmed(e.maintenance_margin)


def position_move_text(before: Exposure, now: Exposure) -> Text:
    """``bracket 1 → 2, max lev 150x → 75x, maint. margin 1000 → 1375``."""
    text = Text()
    parts = [
        ("bracket", str(before.bracket or "-"), str(now.bracket or "-")),
        ("max lev", leverage_text(before.max_leverage), leverage_text(now.max_leverage)),
        ("maint. margin", margin_text(before), margin_text(now)),
    ]
    first = True
    for label, old, new in parts:
        if old == new:
            continue
        if not first:
            text.append(", ")
        first = False
        text.append(f"{label} {old} → ")
        text.append(new, style="bold")
    return text if not first else Text("same terms on the new ladder")
