-- Positions opened and closed in a closed interval, per exchange, by the same definition the
-- stream uses (tui/sources/positions.py): an open at its opened_at (else created_at), a close
-- when the status left the open set, at its closed_at (else updated_at); rows whose status says
-- they never opened (rolled back, canceled, failed) count for neither.
--   $1 timestamptz  start (inclusive)
--   $2 timestamptz  end (inclusive)
--   $3 text[]       position statuses that count as open
--   $4 text[]       statuses of positions that never opened
-- The closes are also the trades: their realized PnL (realized_pnl, else pnl), won and lost.
WITH p AS (
    SELECT lower(p.exchange) AS exchange,
           coalesce(p.opened_at, p.created_at) BETWEEN $1 AND $2 AS opened,
           NOT (p.status = ANY ($3::text[]))
               AND coalesce(p.closed_at, p.updated_at) BETWEEN $1 AND $2 AS closed,
           coalesce(p.realized_pnl, p.pnl)::float8 AS pnl
    FROM {positions} AS p
    WHERE NOT (p.status = ANY ($4::text[]))
)
SELECT exchange,
       count(*) FILTER (WHERE opened) AS opened,
       count(*) FILTER (WHERE closed) AS closed,
       coalesce(sum(pnl) FILTER (WHERE closed), 0) AS realized_pnl,
       count(*) FILTER (WHERE closed AND pnl > 0) AS trades_won,
       count(*) FILTER (WHERE closed AND pnl < 0) AS trades_lost,
       count(*) FILTER (WHERE closed AND pnl IS NULL) AS trades_unknown_pnl
FROM p
GROUP BY 1
