"""Which events each version of the bot really writes (../shared/BOT_FACTS.md, "What the bot
really emits", read against the bot's call sites).

The simulated bot refuses to write a type its version never writes (:meth:`BotVersion.check`), so a
demo or a test can never show the monitor an event the real bot would not produce. WebSocket and
subscription health is in the log only: no version writes a ``websocket_*`` or ``subscription_*``
event.
"""

from __future__ import annotations

from dataclasses import dataclass

# "Written (2026)" in BOT_FACTS, one by one.
WRITTEN_2026: frozenset[str] = frozenset({
    "aggressive_cleanup_triggered", "bot_started", "bot_stopped", "database_error",
    "emergency_close_all_triggered", "error_occurred", "exchange_error", "health_check_failed",
    "missing_position_added", "missing_position_added_with_synthetic_id", "order_below_minimum",
    "order_filled", "orphaned_sl_cleaned", "phantom_position_closed", "phantom_position_detected",
    "positions_loaded", "positions_without_sl_detected", "position_cleanup", "position_closed",
    "position_created", "position_creation_failed", "position_duplicate_prevented",
    "position_error", "position_not_found_on_exchange", "position_updated", "position_verified",
    "quantity_mismatch_detected", "quantity_updated", "risk_limits_exceeded", "stop_loss_error",
    "stop_loss_placed", "stop_loss_set_failed", "stop_loss_set_on_load", "stop_loss_triggered",
    "symbol_unavailable", "sync_started", "sync_completed", "synchronization_started",
    "synchronization_completed", "tpsl_orders_cleared", "trailing_stop_activated",
    "trailing_stop_created", "trailing_stop_removed", "trailing_stop_sl_updated",
    "trailing_stop_sl_update_failed", "trailing_stop_updated", "warning_raised",
    "zombie_alert_triggered", "zombie_cleanup_completed", "zombie_orders_detected",
    "zombie_order_cancelled",
})

# "Written in 2025-10 but not in 2026".
ONLY_2025_10: frozenset[str] = frozenset({
    "wave_detected", "wave_completed", "signal_executed", "signal_execution_failed",
    "signal_filtered", "signal_validation_failed", "aged_position_detected",
})

# "Never written by any version" (a subset of the 33; the simulator must not write these).
NEVER_WRITTEN: frozenset[str] = frozenset({
    "websocket_connected", "websocket_disconnected", "websocket_error",
    "websocket_periodic_reconnection", "subscription_stale_detected",
    "subscription_resubscribed", "subscription_verification_failed",
    "subscription_retry_exhausted", "order_placed", "stop_loss_updated",
    "trailing_stop_breakeven", "stop_moved_to_breakeven", "emergency_stop_placed",
    "transaction_started", "transaction_committed", "transaction_rolled_back",
    "wave_buffer_exhausted", "position_recovery_started", "position_recovery_completed",
})


@dataclass(frozen=True)
class BotVersion:
    """What one version of the bot writes and how it opens a position."""

    name: str
    written: frozenset[str]
    # the atomic open is wrapped by code that writes position_created (2025-10 only)
    open_writes_position_created: bool
    # wave_detected / wave_completed / signal_* around each signal wave
    writes_wave_events: bool
    # aged_position_detected at each aged-position check
    writes_aged_detected: bool

    def writes(self, event_type: str) -> bool:
        return event_type in self.written

    def check(self, event_type: str) -> None:
        if event_type not in self.written:
            raise ValueError(f"the {self.name} bot never writes {event_type!r} events")


VERSIONS: dict[str, BotVersion] = {
    "2026-03": BotVersion("2026-03", WRITTEN_2026, open_writes_position_created=False,
                          writes_wave_events=False, writes_aged_detected=False),
    "2025-10": BotVersion("2025-10", WRITTEN_2026 | ONLY_2025_10,
                          open_writes_position_created=True, writes_wave_events=True,
                          writes_aged_detected=True),
}
DEFAULT_VERSION = "2026-03"


def version(name: str | BotVersion | None) -> BotVersion:
    """The version called ``name`` (``None``: the current bot); a clear error for a typo."""
    if isinstance(name, BotVersion):
        return name
    key = name or DEFAULT_VERSION
    try:
        return VERSIONS[key]
    except KeyError:
        raise ValueError(f"unknown bot version {key!r}; choose one of "
                         f"{', '.join(sorted(VERSIONS))}") from None
