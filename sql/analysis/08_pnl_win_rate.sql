-- title: PnL and win rate (positions closed in the window)
-- Closed = status not in positions.open_statuses and closed_at inside the window. PnL is
-- realized_pnl, or pnl when realized_pnl is empty, as stored by the bot. A win is PnL > 0, a loss
-- PnL < 0; win_rate_pct = wins / positions with a PnL * 100. One row per exchange, then ALL.
-- pnl_unit: the quote currency of the symbols (USDT for ALLUSDT), null when they differ.
-- Parameters: $1 since, $2 until, $3 open statuses.
WITH closed AS (
    SELECT exchange, coalesce(realized_pnl, pnl) AS pnl, pnl_percentage, fees,
           substring(upper(symbol) FROM '(USDT|USDC|FDUSD|BUSD|USD|BTC|ETH)(?::[A-Z]+)?$')
               AS quote
    FROM {positions}
    WHERE status <> ALL ($3::text[])
      AND closed_at >= $1::timestamptz AND closed_at < $2::timestamptz
)
SELECT CASE WHEN grouping(exchange) = 1 THEN 'ALL' ELSE exchange END AS exchange,
       count(*) AS closed,
       count(pnl) AS with_pnl,
       count(*) FILTER (WHERE pnl > 0) AS wins,
       count(*) FILTER (WHERE pnl < 0) AS losses,
       count(*) FILTER (WHERE pnl = 0) AS breakeven,
       round(100.0 * count(*) FILTER (WHERE pnl > 0) / nullif(count(pnl), 0), 2) AS win_rate_pct,
       round(coalesce(sum(pnl), 0), 8) AS total_pnl,
       round(avg(pnl), 8) AS avg_pnl,
       max(pnl) AS best,
       min(pnl) AS worst,
       round(avg(pnl_percentage), 4) AS avg_pnl_pct,
       coalesce(sum(fees), 0) AS fees,
       CASE WHEN count(DISTINCT quote) = 1 AND count(quote) = count(*) THEN min(quote) END
           AS pnl_unit
FROM closed
GROUP BY GROUPING SETS ((exchange), ())
HAVING count(*) > 0
ORDER BY grouping(exchange), exchange;
