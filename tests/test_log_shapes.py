"""Every message shape of the bot's real log lines has a pinned category.

``../shared/real/bot_log_lines.log`` holds 7,720 records the bot really wrote. Each shape (logger,
level, message with symbols as <SYM> and numbers as N, first 70 characters) is pinned here to the
categories botmon gives it (exchange mentions, error types and the duration threshold of
timing.slow are checked elsewhere). A pattern change that loses or changes one fails here; a new
shape in the file must be added with the category it deserves. ``()`` marks the shapes botmon
does not categorise on purpose: lines of a multi-line dump the bot logs one record per line.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from tui.sources.logparse import Categoriser, message_shape, parse_lines

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "real" / "bot_log_lines.log"
NOT_PINNED = ("exchange.", "error.", "timing.slow")

SHAPES: dict[tuple[str, str, str], tuple[str, ...]] = {
    ('core.position_manager', 'ERROR', 'Entry price: $N.N'):
        (),
    ('core.position_manager', 'ERROR', 'Limits: min_amount=N.N, min_cost=N.N'):
        (),
    ('core.position_manager', 'ERROR', 'Market constraints: min_amount=N.N, step_size=N.N'):
        (),
    ('core.position_manager', 'ERROR', 'Market: active=True, type=swap'):
        (),
    ('core.position_manager', 'INFO', 'Actual: $N.N USD'):
        (),
    ('core.position_manager', 'INFO', 'Position: short N.N @ N.N'):
        (),
    ('core.position_manager', 'INFO', 'Skipped: <SYM> not in tracked positions'):
        (),
    ('core.position_manager', 'INFO', 'Stop price: $N.N'):
        (),
    ('core.aged_position_manager', 'INFO', '<SYM> in profit N.N% (age N.Nh) - MARKET close'):
        ('aged.closing',),
    ('core.aged_position_manager', 'INFO', 'MARKET close: <SYM> in phase IMMEDIATE_PROFIT_CLOSE (PnL: +N.N%)'):
        ('aged.closing',),
    ('core.exchange_manager_enhanced', 'INFO', 'Creating limit exit order: sell N.N <SYM> @ N.N'):
        ('aged.closing',),
    ('core.aged_position_manager', 'ERROR', 'Error updating exit order:'):
        ('aged.failed',),
    ('core.aged_position_manager', 'ERROR', 'MARKET order failed for <SYM>: bybit {"retCode":N,"retMsg":"An unknown'):
        ('aged.failed',),
    ('database.repository', 'ERROR', 'Failed to update aged position: Connection.fetchval() got an unexpecte'):
        ('aged.failed',),
    ('database.repository', 'WARNING', 'Aged position N not found'):
        ('aged.failed',),
    ('database.repository', 'ERROR', 'Failed to get active aged positions: column ap.status does not exist'):
        ('aged.failed', 'database.schema'),
    ('core.aged_position_manager', 'INFO', 'Processing aged position <SYM>:'):
        ('aged.processing',),
    ('core.protection_adapters', 'INFO', 'Aged position <SYM> registered (age=N.Nh)'):
        ('aged.registered',),
    ('database.repository', 'INFO', 'Created/updated aged_position N for <SYM>'):
        ('aged.saved',),
    ('__main__', 'INFO', 'Aged positions processed: N, breakeven: N, liquidated: N'):
        ('aged.summary',),
    ('core.aged_position_metrics', 'INFO', 'AgedPositionMetrics initialized'):
        ('bot.setup',),
    ('core.exchange_manager', 'INFO', 'Bybit testnet configured with UNIFIED account settings'):
        ('bot.setup',),
    ('core.exchange_manager', 'INFO', 'Connection to bybit verified  ← ✅ УСПЕШНО'):
        ('bot.setup',),
    ('core.exchange_manager', 'INFO', 'Exchange binance initialized (TESTNET)'):
        ('bot.setup',),
    ('core.exchange_manager', 'INFO', 'Exchange bybit initialized (TESTNET)'):
        ('bot.setup',),
    ('core.exchange_manager', 'INFO', 'Loaded N markets from bybit'):
        ('bot.setup',),
    ('database.repository', 'INFO', 'monitoring.positions columns: id:integer, signal_id:integer, symbol:ch'):
        ('bot.setup',),
    ('protection.trailing_stop', 'INFO', 'SmartTrailingStopManager initialized with config: TrailingStopConfig(a'):
        ('bot.setup',),
    ('websocket.event_router', 'INFO', "Event 'position.update': N handlers"):
        ('bot.setup',),
    ('websocket.unified_price_monitor', 'INFO', 'UnifiedPriceMonitor started (minimal mode)'):
        ('bot.setup',),
    ('__main__', 'INFO', 'Initializing WebSocket signal processor...'):
        ('bot.started',),
    ('core.position_manager', 'INFO', 'Total exposure: $N.N'):
        ('bot.started',),
    ('core.signal_processor_websocket', 'INFO', 'Starting WebSocket Signal Processor...'):
        ('bot.started',),
    ('utils.single_instance', 'INFO', "Lock acquired for 'trading_bot' (PID: N)"):
        ('bot.started',),
    ('core.event_logger', 'INFO', "bot_started: {'mode': 'production', 'exchange': 'both', 'version': 'N."):
        ('bot.started', 'event.bot_started'),
    ('SignalWSClient', 'INFO', 'Stopping signal client...'):
        ('bot.stopped',),
    ('__main__', 'INFO', 'Received signal N'):
        ('bot.stopped',),
    ('core.signal_processor_websocket', 'INFO', 'Stopping WebSocket Signal Processor...'):
        ('bot.stopped',),
    ('core.signal_processor_websocket', 'INFO', 'Wave monitoring loop cancelled'):
        ('bot.stopped',),
    ('core.signal_processor_websocket', 'INFO', 'WebSocket Signal Processor stopped'):
        ('bot.stopped',),
    ('database.repository', 'ERROR', 'Failed to create monitoring event: Connection.execute() got an unexpec'):
        ('database.event_lost',),
    ('database.repository', 'ERROR', 'Failed to create monitoring event: invalid input for query argument $N'):
        ('database.event_lost',),
    ('database.repository', 'ERROR', 'Failed to retrieve cached order <ID>: relation "monitoring.orders_cach'):
        ('database.schema',),
    ('core.event_logger', 'INFO', 'position_created:'):
        ('event.position_created', 'position.opened'),
    ('core.event_logger', 'ERROR', "position_error: {'status': 'failed', 'signal_id': N, 'symbol': '<SYM>'"):
        ('event.position_error', 'position.open_failed'),
    ('core.event_logger', 'INFO', "position_updated: {'symbol': '<SYM>', 'position_id': N, 'old_price': N"):
        ('event.position_updated',),
    ('core.event_logger', 'INFO', "trailing_stop_removed: {'symbol': '<SYM>', 'reason': 'position_closed'"):
        ('event.trailing_stop_removed', 'trailing_stop.removed'),
    ('core.event_logger', 'ERROR', "trailing_stop_sl_update_failed: {'symbol': '<SYM>', 'error': 'Exchange"):
        ('event.trailing_stop_sl_update_failed', 'stop_loss.failed'),
    ('core.event_logger', 'ERROR', 'trailing_stop_sl_update_failed: {\'symbol\': \'<SYM>\', \'error\': \'bybit {"'):
        ('event.trailing_stop_sl_update_failed', 'stop_loss.failed'),
    ('core.event_logger', 'INFO', "trailing_stop_updated: {'symbol': '<SYM>', 'action': 'skipped', 'skip_"):
        ('event.trailing_stop_updated', 'trailing_stop.skipped'),
    ('core.event_logger', 'INFO', "trailing_stop_updated: {'symbol': '<SYM>', 'position_id': N, 'old_stop"):
        ('event.trailing_stop_updated', 'trailing_stop.updated'),
    ('core.event_logger', 'INFO', 'EventLogger wrote N events to DB (count_before=N, count_after=N, delta'):
        ('event_logger.written',),
    ('__main__', 'WARNING', 'DEGRADED: Signal Processor - WebSocket reconnecting (attempt N)'):
        ('health.degraded',),
    ('__main__', 'WARNING', 'Signal Processor has failed N times'):
        ('health.degraded',),
    ('__main__', 'WARNING', 'Signal Processor: degraded - WebSocket reconnecting (attempt N)'):
        ('health.degraded',),
    ('__main__', 'WARNING', 'System health: degraded'):
        ('health.degraded',),
    ('core.exchange_manager', 'ERROR', '<SYM>: Amount N.N < min N.N'):
        ('order.below_minimum',),
    ('core.position_manager', 'ERROR', "Failed to fetch ticker for <SYM>: 'ExchangeManager' object has no attr"):
        ('order.exchange_error',),
    ('utils.rate_limiter', 'ERROR', 'Unexpected error in rate limited function: bybit {"retCode":N,"retMsg"'):
        ('order.exchange_error',),
    ('utils.rate_limiter', 'ERROR', 'Unexpected error: bybit {"retCode":N,"retMsg":"accountType only suppor'):
        ('order.exchange_error',),
    ('core.order_executor', 'ERROR', 'Failed to execute order after N attempts: No asks in order book'):
        ('order.failed',),
    ('core.order_executor', 'ERROR', 'Failed to execute order after N attempts: bybit {"retCode":N,"retMsg":'):
        ('order.failed',),
    ('core.order_executor', 'WARNING', 'Order attempt failed: market attempt N: bybit {"retCode":N,"retMsg":"A'):
        ('order.failed',),
    ('core.exchange_manager', 'INFO', 'Leverage already at Nx for <SYM> on bybit'):
        ('order.leverage',),
    ('core.atomic_position_manager', 'CRITICAL', 'Position <SYM> not found after N attempts!'):
        ('position.not_found',),
    ('core.atomic_position_manager', 'ERROR', 'Position not found for <SYM> after order. Order status: closed, filled'):
        ('position.not_found',),
    ('core.atomic_position_manager', 'WARNING', 'Could not verify position for <SYM>'):
        ('position.not_found',),
    ('core.atomic_position_manager', 'WARNING', 'Could not verify position for <SYM>: bybit {"retCode":N,"retMsg":"cate'):
        ('position.not_found',),
    ('core.atomic_position_manager', 'ERROR', 'Atomic operation failed: pos_AVLUSDT_N.N - Position creation rolled ba'):
        ('position.open_failed',),
    ('core.atomic_position_manager', 'ERROR', 'Atomic operation failed: pos_COOKUSDT_N.N - Position creation rolled b'):
        ('position.open_failed',),
    ('core.atomic_position_manager', 'ERROR', 'Atomic operation failed: pos_NBABYDOGEUSDT_N.N - Position creation rol'):
        ('position.open_failed',),
    ('core.atomic_position_manager', 'ERROR', 'Atomic operation failed: pos_RLCUSDT_N.N - Position creation rolled ba'):
        ('position.open_failed',),
    ('core.atomic_position_manager', 'ERROR', 'Atomic operation failed: pos_ZBCNUSDT_N.N - Position creation rolled b'):
        ('position.open_failed',),
    ('core.atomic_position_manager', 'ERROR', 'Atomic position creation failed: bybit {"retCode":N,"retMsg":"Failed t'):
        ('position.open_failed',),
    ('core.position_manager', 'ERROR', "Error opening position for <SYM>: Position creation rolled back: 'Trad"):
        ('position.open_failed',),
    ('core.position_manager', 'ERROR', 'Error opening position for <SYM>: Position creation rolled back: Posit'):
        ('position.open_failed',),
    ('core.position_manager', 'ERROR', 'Error opening position for <SYM>: Position creation rolled back: bybit'):
        ('position.open_failed',),
    ('core.atomic_position_manager', 'INFO', 'Atomic operation completed: pos_MAGICUSDT_N.N'):
        ('position.opened',),
    ('core.position_manager', 'INFO', 'Position #N for <SYM> opened ATOMICALLY at $N.N'):
        ('position.opened',),
    ('core.atomic_position_manager', 'WARNING', 'Rolling back...'):
        ('position.rolled_back',),
    ('core.position_manager', 'ERROR', 'Failed to calculate position size for <SYM>'):
        ('position.skipped',),
    ('core.position_manager', 'WARNING', 'Cannot open <SYM> position: Would exceed safe utilization: N.N% > N%'):
        ('position.skipped',),
    ('core.position_manager', 'INFO', 'Added <SYM> to tracked positions (total: N)'):
        ('position.tracked',),
    ('core.position_manager', 'INFO', 'Loaded N positions from database'):
        ('position.tracked',),
    ('core.position_manager', 'INFO', 'Position size calculated for <SYM>:'):
        ('position.tracked',),
    ('SignalWSClient', 'INFO', 'Received N signals'):
        ('signals.received',),
    ('SignalWSClient', 'INFO', 'Received N signals (xN times)'):
        ('signals.received',),
    ('core.signal_processor_websocket', 'INFO', 'Received N RAW signals from WebSocket (added to buffer)'):
        ('signals.received',),
    ('SignalWSClient', 'ERROR', 'Failed to request signals: received N (OK); then sent N (OK)'):
        ('signals.request_failed',),
    ('core.position_manager', 'ERROR', 'Error in position protection check:'):
        ('stop_loss.check_failed',),
    ('core.position_manager', 'ERROR', 'Failed to set stop loss for <SYM>: Bybit API error N: OK'):
        ('stop_loss.failed',),
    ('core.stop_loss_manager', 'ERROR', 'Failed to set Bybit Stop Loss: Bybit API error N: OK'):
        ('stop_loss.failed',),
    ('core.stop_loss_manager', 'ERROR', 'Failed to set Stop Loss for <SYM>: Bybit API error N: OK'):
        ('stop_loss.failed',),
    ('protection.trailing_stop', 'ERROR', '<SYM>: SL update FAILED on exchange, state rolled back (keeping old st'):
        ('stop_loss.failed',),
    ('core.atomic_position_manager', 'CRITICAL', 'CRITICAL: Position without SL detected, closing immediately!'):
        ('stop_loss.missing',),
    ('core.position_manager', 'ERROR', 'CRITICAL: N positions still without stop loss! Symbols: <SYM>'):
        ('stop_loss.missing',),
    ('core.position_manager', 'WARNING', 'Found N positions without stop loss protection!'):
        ('stop_loss.missing',),
    ('atomic_position_manager', 'INFO', 'SL calculated from exec_price $N.N: $N.N (N.N%)'):
        ('stop_loss.placing',),
    ('core.atomic_position_manager', 'INFO', 'Placing stop-loss for <SYM> at N.N'):
        ('stop_loss.placing',),
    ('core.atomic_position_manager', 'INFO', 'Placing stop-loss for <SYM> at N.Ne-N'):
        ('stop_loss.placing',),
    ('core.position_manager', 'INFO', 'Attempting to set stop loss for <SYM>'):
        ('stop_loss.placing',),
    ('core.position_manager', 'INFO', 'Stop-loss will be set at: N.N (N.N%)'):
        ('stop_loss.placing',),
    ('core.stop_loss_manager', 'INFO', 'Setting Stop Loss for <SYM> at N.N'):
        ('stop_loss.placing',),
    ('core.stop_loss_manager', 'INFO', 'Setting Stop Loss for <SYM> at N.Ne-N'):
        ('stop_loss.placing',),
    ('core.position_manager', 'INFO', 'Position created ATOMICALLY with guaranteed SL'):
        ('stop_loss.set',),
    ('core.position_manager', 'INFO', 'All loaded positions have stop losses'):
        ('stop_loss.verified',),
    ('core.position_manager', 'INFO', 'Checking actual stop loss status on exchanges...'):
        ('stop_loss.verified',),
    ('core.position_manager', 'INFO', 'Stop loss protection check complete: N/N positions protected'):
        ('stop_loss.verified',),
    ('core.stop_loss_manager', 'INFO', 'Position <SYM> has Stop Loss order: N at N.N'):
        ('stop_loss.verified',),
    ('core.stop_loss_manager', 'INFO', 'Position <SYM> has Stop Loss order: N at N.Ne-N'):
        ('stop_loss.verified',),
    ('core.stop_loss_manager', 'INFO', 'Position <SYM> has Stop Loss: N.N'):
        ('stop_loss.verified',),
    ('core.stop_loss_manager', 'INFO', 'Stop Loss already exists at N.N, skipping'):
        ('stop_loss.verified',),
    ('core.stop_loss_manager', 'INFO', 'Stop Loss already exists at N.Ne-N, skipping'):
        ('stop_loss.verified',),
    ('database.repository', 'INFO', 'DB: updated position N with SL price N.N, has_stop_loss=TRUE, result=U'):
        ('stop_loss.verified',),
    ('__main__', 'INFO', 'Binance WebSocket synced with N positions'):
        ('sync.completed',),
    ('core.position_manager', 'ERROR', 'Failed to synchronize positions: PositionSynchronizer.__init__() got a'):
        ('sync.failed',),
    ('core.position_manager', 'WARNING', 'Found N positions in DB but not on binance'):
        ('sync.phantom',),
    ('core.position_manager', 'WARNING', 'Found N positions in DB but not on bybit'):
        ('sync.phantom',),
    ('core.position_synchronizer', 'WARNING', '<SYM>: PHANTOM position'):
        ('sync.phantom',),
    ('__main__', 'INFO', 'Syncing N Binance positions with WebSocket...'):
        ('sync.started',),
    ('core.position_manager', 'INFO', 'Synchronizing positions with exchanges...'):
        ('sync.started',),
    ('core.position_synchronizer', 'INFO', '<SYM>: Verified'):
        ('sync.verified',),
    ('core.position_manager', 'INFO', 'Trailing stop activated for <SYM>'):
        ('trailing_stop.activated',),
    ('core.position_manager', 'INFO', '<SYM>: New TS created (no state in DB)'):
        ('trailing_stop.created',),
    ('core.position_manager', 'INFO', 'Trailing stop initialized for <SYM>'):
        ('trailing_stop.created',),
    ('protection.trailing_stop', 'INFO', '<SYM>: TS CREATED - side=long, entry=N.N, activation=N.N'):
        ('trailing_stop.created',),
    ('core.position_manager', 'ERROR', 'Error initializing trailing stop for <SYM>: unsupported format string '):
        ('trailing_stop.error',),
    ('protection.trailing_stop', 'ERROR', '<SYM>: Failed to validate TS side against exchange: bybit {...}'):
        ('trailing_stop.error',),
    ('protection.trailing_stop', 'ERROR', '<SYM>: SIDE MISMATCH DETECTED!'):
        ('trailing_stop.error',),
    ('protection.trailing_stop', 'ERROR', '<SYM>: entry_price is N, cannot calculate profit (corrupted data)'):
        ('trailing_stop.error',),
    ('core.position_manager', 'INFO', 'Initializing trailing stops for loaded positions...'):
        ('trailing_stop.restored',),
    ('protection.trailing_stop', 'INFO', '<SYM>: TS state RESTORED from DB - state=active, activated=True, highe'):
        ('trailing_stop.restored',),
    ('protection.trailing_stop', 'INFO', '<SYM>: TS state RESTORED from DB - state=inactive, activated=False, hi'):
        ('trailing_stop.restored',),
    ('protection.trailing_stop', 'INFO', '<SYM>: Canceling Protection Manager SL (order_id=N, stopPrice=N.N) bef'):
        ('trailing_stop.sl_handover',),
    ('core.signal_processor_websocket', 'INFO', 'Wave N-N-NTN:N:N+N:N complete: N positions opened, N failed, N validat'):
        ('wave.completed',),
    ('core.signal_processor_websocket', 'INFO', 'Wave detected! Processing N signals for N-N-NTN:N:N+N:N'):
        ('wave.detected',),
    ('core.wave_signal_processor', 'INFO', 'Wave processing complete in Nms: ✅ N successful, ❌ N failed, ⏭️ N skip'):
        ('wave.processed',),
    ('SignalWSClient', 'INFO', '[DEBUG] Found N signals for timestamp N-N-NTN:N:N+N:N in buffer of N'):
        ('wave.waiting',),
    ('SignalWSClient', 'INFO', "[DEBUG] Signal N: timestamp='N-N-NTN:N:N+N:N', first_N='N-N-NTN:N:N'"):
        ('wave.waiting',),
    ('core.signal_processor_websocket', 'INFO', 'Looking for wave with timestamp: N-N-NTN:N:N+N:N'):
        ('wave.waiting',),
    ('core.signal_processor_websocket', 'INFO', 'Waiting Ns until next wave check at N:N UTC'):
        ('wave.waiting',),
    ('core.signal_processor_websocket', 'INFO', '[DEBUG] Using current hour: N:N:N'):
        ('wave.waiting',),
    ('core.signal_processor_websocket', 'INFO', '[DEBUG] _wait_for_next_wave_check: now=N:N:N, current_minute=N'):
        ('wave.waiting',),
    ('core.signal_processor_websocket', 'INFO', '[DEBUG] next_check_minute after loop: N'):
        ('wave.waiting',),
    ('SignalWSClient', 'INFO', 'Connected to signal server'):
        ('websocket.connected',),
    ('SignalWSClient', 'INFO', 'Connecting to signal server: ws://N.N.N.N:N'):
        ('websocket.connecting',),
    ('core.position_manager_unified_patch', 'ERROR', 'FAILED to resubscribe <SYM> after N attempts! MANUAL INTERVENTION REQU'):
        ('websocket.resubscribe_failed',),
    ('core.position_manager_unified_patch', 'WARNING', 'Position <SYM> not found'):
        ('websocket.resubscribe_failed',),
    ('core.position_manager_unified_patch', 'WARNING', '<SYM>: no update for Ns (N.N minutes)'):
        ('websocket.stale',),
    ('core.position_manager_unified_patch', 'WARNING', 'WebSocket Health Check: N/N aged positions have STALE prices!'):
        ('websocket.stale',),
    ('websocket.unified_price_monitor', 'WARNING', 'STALE PRICE: <SYM> - no updates for Ns (threshold: Ns)'):
        ('websocket.stale',),
    ('core.binance_zombie_manager', 'INFO', 'Starting cleanup of N zombie orders...'):
        ('zombie.cleanup',),
    ('core.binance_zombie_manager', 'WARNING', 'Found N zombie orders total:'):
        ('zombie.found',),
}


def shape_of(logger: str, level: str, message: str) -> tuple[str, str, str]:
    return (logger, level, message_shape(message, 70))


def pinned_tags(cat: Categoriser, record) -> tuple[str, ...]:  # noqa: ANN001
    return tuple(sorted(t for t in cat.categorise(record) if not t.startswith(NOT_PINNED)))


@pytest.fixture(scope="module")
def real_records() -> list:
    if not REAL.exists():
        pytest.skip(f"{REAL} not found (the shared real data lives beside the project)")
    with open(REAL, "rb") as fh:
        return list(parse_lines(fh))


def test_every_real_shape_has_its_pinned_category(real_records: list) -> None:
    cat = Categoriser.load()
    seen: dict[tuple[str, str, str], set[tuple[str, ...]]] = defaultdict(set)
    for record in real_records:
        seen[shape_of(record.logger, record.level, record.message)].add(pinned_tags(cat, record))
    unknown = sorted(set(seen) - set(SHAPES))
    assert not unknown, f"shapes of the real file missing from the table: {unknown[:5]}"
    wrong = {shape: (SHAPES[shape], got) for shape, got in seen.items() if got != {SHAPES[shape]}}
    assert not wrong, f"categories changed (pinned, now): {list(wrong.items())[:5]}"
    assert not set(SHAPES) - set(seen), "the table holds shapes the real file does not have"


def test_real_coverage_is_near_complete(real_records: list) -> None:
    """Only the lines of multi-line dumps stay without a category."""
    uncategorised = [s for s, tags in SHAPES.items() if not tags]
    assert len(uncategorised) <= 8
    cat = Categoriser.load()
    missed = sum(1 for r in real_records if not pinned_tags(cat, r))
    assert missed / len(real_records) < 0.005
