"""Gauges read off the open positions of one poll, and the exchange keys they are split by."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tui.config import PositionsConfig
from tui.sources.samples import OpenPosition
from tui.store.metrics import GAUGES
from tui.store.pnl import exposure

OTHER = "other"


@dataclass
class ExchangeKeys:
    """Per-exchange keys, bounded the same way everywhere (store, snapshot, report): the first
    ``limit`` exchanges keep their own key, any further one is folded into "other"."""

    limit: int = 32
    known: set[str] = field(default_factory=set)
    folded: Counter = field(default_factory=Counter)  # exchange -> rows folded into "other"

    def key(self, exchange: str | None) -> str | None:
        if not exchange:
            return None
        name = exchange.lower()
        if name in self.known:
            return name
        if len(self.known) < self.limit:
            self.known.add(name)
            return name
        self.folded[name] += 1
        return OTHER

    @property
    def names(self) -> tuple[str, ...]:
        """Every key in use, "other" last when anything was folded."""
        return tuple(sorted(self.known)) + ((OTHER,) if self.folded else ())

    def describe_folded(self) -> str | None:
        if not self.folded:
            return None
        names = sorted(self.folded, key=self.folded.get, reverse=True)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return (f"{len(names)} exchange(s) beyond the first {self.limit} counted as "
                f"'{OTHER}': {shown}")


def has_stop_loss(position: OpenPosition, rule: str) -> bool:
    flag = bool(position.has_stop_loss)
    price = position.stop_loss_price is not None and position.stop_loss_price > 0
    return {"flag": flag, "price": price, "flag_or_price": flag or price,
            "flag_and_price": flag and price}[rule]


def trailing_stop_problems(position: OpenPosition, tolerance_pct: float) -> list[str]:
    """The operators' diagnostic: a trailing stop the bot should have, and SL prices that
    disagree between positions and trailing_stop_state."""
    problems = []
    if position.has_trailing_stop and position.ts_state is None:
        problems.append("ts_missing")
    sl, ts = position.stop_loss_price, position.ts_stop_price
    if sl and ts and abs(sl - ts) / abs(sl) * 100 > tolerance_pct:
        problems.append("ts_sl_mismatch")
    return problems


def short_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class PositionGauges:
    """One poll's gauges, their items, and the trailing-stop findings."""

    values: Counter
    details: dict[str, tuple[str, ...]]
    issues: dict[str, list[str]]


class GaugeReader:
    """Reads the gauges off the open positions; remembers since when each position has been
    without a stop-loss, so an alert can say for how long."""

    def __init__(self, config: PositionsConfig, exchanges: ExchangeKeys) -> None:
        self.config = config
        self.exchanges = exchanges
        self.aged_after = timedelta(hours=config.aged_hours)
        self.grace = timedelta(seconds=config.unprotected_grace_s)
        self.missing_since: dict[int, datetime] = {}
        self.seen: set[int] = set()

    def _money(self, positions: tuple[OpenPosition, ...], values: Counter) -> list[str]:
        """Unrealized PnL and exposure, in total and per exchange; the names that no open
        position gave a number for."""
        known: set[str] = set()
        for position in positions:
            exchange = self.exchanges.key(position.exchange) or "?"
            if position.unrealized_pnl is not None:
                values["unrealized_pnl"] += position.unrealized_pnl
                values[f"unrealized_pnl.{exchange}"] += position.unrealized_pnl
                known.add("unrealized_pnl")
            value = exposure((position,))
            if value:
                values["exposure"] += value
                values[f"exposure.{exchange}"] += value
                known.add("exposure")
        if not positions:
            return []
        return [name for name in ("unrealized_pnl", "exposure") if name not in known]

    def read(self, positions: tuple[OpenPosition, ...], db_now: datetime,
             orphans: tuple[str, ...]) -> PositionGauges:
        values: Counter = Counter()
        unprotected, aged = [], []
        issues: dict[str, list[str]] = {"ts_missing": [], "ts_sl_mismatch": []}
        missing_now: dict[int, datetime] = {}
        for position in positions:
            exchange = self.exchanges.key(position.exchange) or "?"
            name = f"{position.symbol}/{exchange}"
            opened = position.opened_at or position.created_at
            values["open_positions"] += 1
            values[f"open_positions.{exchange}"] += 1
            if not has_stop_loss(position, self.config.stop_loss_check):
                # Since it opened when it never had one; else since the poll that first saw
                # it without one.
                since = self.missing_since.get(position.id)
                if since is None:
                    since = opened if (position.id not in self.seen and opened) else db_now
                missing_now[position.id] = since
                past_grace = opened is None or db_now - opened >= self.grace
                if past_grace:
                    values["unprotected"] += 1
                    values[f"unprotected.{exchange}"] += 1
                    held = short_duration((db_now - since).total_seconds())
                    unprotected.append((since, f"{name} {held}"))
            if opened and db_now - opened > self.aged_after:
                values["aged"] += 1
                values[f"aged.{exchange}"] += 1
                age = short_duration((db_now - opened).total_seconds())
                aged.append((opened, f"{name} {age}"))
            for problem in trailing_stop_problems(position, self.config.sl_mismatch_tolerance_pct):
                values[problem] += 1
                values[f"{problem}.{exchange}"] += 1
                issues[problem].append(name)
        self.missing_since = missing_now
        self.seen = {p.id for p in positions}
        values["ts_orphaned"] = len(orphans)
        issues["ts_orphaned"] = list(orphans)
        unknown = self._money(positions, values)
        for name in GAUGES:
            values.setdefault(name, 0)
        for exchange in self.exchanges.names:
            for name in GAUGES:
                values.setdefault(f"{name}.{exchange}", 0)
        for name in unknown:  # open positions, none of which says: not a confident 0
            values.pop(name, None)
        details = {"unprotected": tuple(text for _, text in sorted(unprotected)),
                   "aged": tuple(text for _, text in sorted(aged))}
        details.update({problem: tuple(names) for problem, names in issues.items()})
        return PositionGauges(values, {k: v for k, v in details.items() if v}, issues)
