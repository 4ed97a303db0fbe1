-- At start: the positions closed in the 24 hours before the history window, for the recent
-- trades and the 24-hour PnL figures (the history window's own closes come with the first
-- poll). A one-off read of a table of thousands of rows.
--   $1 timestamptz  since (24 hours before)
--   $2 timestamptz  until (the history start)
--   $3 text[]       position statuses that count as open
--   $4 text[]       statuses of positions that never opened
SELECT p.id, p.symbol, p.exchange, p.side, p.status,
       CASE WHEN isfinite(p.opened_at) THEN p.opened_at END AS opened_at,
       p.entry_price::float8 AS entry_price, p.current_price::float8 AS current_price,
       p.pnl_percentage::float8 AS pnl_percent, p.unrealized_pnl::float8 AS unrealized_pnl,
       p.has_stop_loss, p.stop_loss_price::float8 AS stop_loss_price, p.has_trailing_stop,
       NULL::text AS ts_state, NULL::boolean AS ts_activated, NULL::float8 AS ts_stop_price,
       CASE WHEN isfinite(p.closed_at) THEN p.closed_at END AS closed_at,
       CASE WHEN isfinite(p.updated_at) THEN p.updated_at END AS updated_at,
       CASE WHEN isfinite(p.created_at) THEN p.created_at END AS created_at,
       p.quantity::float8 AS quantity,
       coalesce(p.realized_pnl, p.pnl)::float8 AS realized_pnl, p.exit_reason
FROM {positions} AS p
WHERE NOT (p.status = ANY ($3::text[]))
  AND NOT (p.status = ANY ($4::text[]))
  AND coalesce(p.closed_at, p.updated_at) >= $1
  AND coalesce(p.closed_at, p.updated_at) < $2
ORDER BY coalesce(p.closed_at, p.updated_at), p.id
