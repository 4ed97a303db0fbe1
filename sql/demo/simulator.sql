-- Statements of the simulated bot (tui/demo/simulator.py, tui/demo/sim_history.py): the writes the
-- real bot makes to positions, trailing_stop_state and orders. Events are written with COPY
-- (tui/demo/sim_events.py). Each statement starts with a "-- name: <key>" line; the simulator loads
-- them by key. updated_at is never set here: the trigger update_positions_updated_at stamps it
-- with the database's clock on every UPDATE, as on the real database.

-- name: insert_position
INSERT INTO monitoring.positions (
    signal_id, symbol, exchange, side, quantity, entry_price, current_price, stop_loss_price,
    stop_loss, unrealized_pnl, pnl, pnl_percentage, status, opened_at, created_at, updated_at,
    leverage, has_trailing_stop, has_stop_loss, exchange_order_id, trailing_activation_percent,
    trailing_callback_percent, signal_stop_loss_percent, spread_at_entry, fees, trailing_activated,
    closed_at, realized_pnl, exit_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13, $13, $13, $14, true, $15, $16,
        $17, $18, $19, $20, $21, $22, $23, $24, $25)
RETURNING id;

-- name: set_status
UPDATE monitoring.positions
   SET status = $2, exchange_order_id = coalesce($3, exchange_order_id)
 WHERE id = $1;

-- name: set_stop_price
-- The atomic open: the stop is on the exchange and its price in the row at once; has_stop_loss
-- stays as it is until the protection sync (every 120 s) sets it.
UPDATE monitoring.positions
   SET stop_loss_price = $2, stop_loss = $2, status = $3
 WHERE id = $1;

-- name: set_unprotected
UPDATE monitoring.positions
   SET stop_loss_price = NULL, stop_loss = NULL, has_stop_loss = false, status = 'active'
 WHERE id = $1;

-- name: mark_protected
-- The protection sync found the stop on the exchange.
UPDATE monitoring.positions
   SET has_stop_loss = true, stop_loss_price = $2, stop_loss = $2
 WHERE id = $1;

-- name: update_price
UPDATE monitoring.positions
   SET current_price = $2, unrealized_pnl = $3, pnl = $3, pnl_percentage = $4
 WHERE id = $1;

-- name: move_stop
UPDATE monitoring.positions
   SET stop_loss_price = $2, stop_loss = $2, trailing_activated = $3
 WHERE id = $1;

-- name: close_position
-- Every close that writes its exit: status, closed_at, exit_reason, PnL, exit price, fees.
UPDATE monitoring.positions
   SET status = $2, closed_at = $3, exit_reason = $4, realized_pnl = $5, pnl = $5,
       unrealized_pnl = 0, current_price = $6, pnl_percentage = $7,
       fees = coalesce(fees, 0) + $8
 WHERE id = $1 AND status IN ('active', 'entry_placed', 'pending_sl', 'pending_entry')
RETURNING coalesce(closed_at, updated_at) AS close_time;

-- name: close_status_only
-- The closes the bot writes as a bare status change (its synchronizer's phantom close, a failed
-- atomic open rolled back): no closed_at, no exit_reason, no PnL.
UPDATE monitoring.positions
   SET status = $2
 WHERE id = $1 AND status IN ('active', 'entry_placed', 'pending_sl', 'pending_entry')
RETURNING updated_at AS close_time;

-- name: upsert_trailing
INSERT INTO monitoring.trailing_stop_state (
    symbol, exchange, position_id, state, is_activated, highest_price, lowest_price,
    current_stop_price, stop_order_id, activation_price, activation_percent, callback_percent,
    entry_price, side, quantity, update_count, highest_profit_percent, created_at, activated_at,
    last_update_time, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $18, $20)
ON CONFLICT (symbol, exchange) DO UPDATE SET
    position_id = EXCLUDED.position_id, state = EXCLUDED.state,
    is_activated = EXCLUDED.is_activated, highest_price = EXCLUDED.highest_price,
    lowest_price = EXCLUDED.lowest_price, current_stop_price = EXCLUDED.current_stop_price,
    stop_order_id = EXCLUDED.stop_order_id, activation_price = EXCLUDED.activation_price,
    activation_percent = EXCLUDED.activation_percent,
    callback_percent = EXCLUDED.callback_percent, entry_price = EXCLUDED.entry_price,
    side = EXCLUDED.side, quantity = EXCLUDED.quantity, update_count = EXCLUDED.update_count,
    highest_profit_percent = EXCLUDED.highest_profit_percent,
    created_at = EXCLUDED.created_at, activated_at = EXCLUDED.activated_at,
    last_update_time = EXCLUDED.last_update_time, last_sl_update_time = NULL,
    last_updated_sl_price = NULL, metadata = EXCLUDED.metadata;

-- name: update_trailing
UPDATE monitoring.trailing_stop_state
   SET state = $2, is_activated = $3, highest_price = $4, lowest_price = $5,
       current_stop_price = $6, update_count = $7, highest_profit_percent = $8,
       activated_at = coalesce(activated_at, $9), last_update_time = $10,
       last_sl_update_time = $10, last_updated_sl_price = $6, last_peak_save_time = $10,
       last_saved_peak_price = coalesce($4::numeric, $5::numeric)
 WHERE position_id = $1;

-- name: delete_trailing
DELETE FROM monitoring.trailing_stop_state WHERE position_id = $1;

-- name: delete_trailing_key
DELETE FROM monitoring.trailing_stop_state WHERE symbol = $1 AND exchange = $2;

-- name: insert_order
INSERT INTO monitoring.orders (
    position_id, exchange, symbol, order_id, client_order_id, type, side, size, price, status,
    filled, remaining, fee, fee_currency, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'USDT', $14, $14);

-- name: update_order
UPDATE monitoring.orders
   SET status = $2, filled = $3, remaining = $4, updated_at = $5
 WHERE order_id = $1;

-- name: load_open_positions
SELECT p.id, p.signal_id, p.symbol, p.exchange, lower(p.side) AS side, p.quantity::float8,
       p.entry_price::float8, coalesce(p.current_price, p.entry_price)::float8 AS current_price,
       p.stop_loss_price::float8, p.status, p.opened_at, coalesce(p.has_stop_loss, false) AS
       has_stop_loss, coalesce(p.trailing_activated, false) AS trailing_activated,
       p.exchange_order_id, p.signal_stop_loss_percent::float8,
       t.state AS ts_state, coalesce(t.is_activated, false) AS ts_activated,
       t.highest_price::float8, t.lowest_price::float8, coalesce(t.update_count, 0) AS update_count
  FROM monitoring.positions p
  LEFT JOIN monitoring.trailing_stop_state t ON t.position_id = p.id
 WHERE p.status IN ('active', 'entry_placed', 'pending_sl', 'pending_entry');

-- name: max_ids
SELECT coalesce((SELECT max(id) FROM monitoring.positions), 0) AS position_id,
       coalesce((SELECT max(signal_id) FROM monitoring.positions), 0) AS signal_id;

-- name: reserve_position_ids
-- Ids for the history's positions, taken from the table's own sequence (COPY then gives them).
SELECT nextval(pg_get_serial_sequence('monitoring.positions', 'id')) AS id
  FROM generate_series(1, $1);

-- name: history_positions
-- Every position the history's events may refer to, with the span it was open.
SELECT id, symbol, exchange, lower(side) AS side, entry_price::float8, quantity::float8, opened_at,
       CASE WHEN status IN ('active', 'entry_placed', 'pending_sl', 'pending_entry') THEN NULL
            ELSE coalesce(closed_at, updated_at) END AS close_time,
       status, exit_reason
  FROM monitoring.positions
 WHERE opened_at IS NOT NULL;
