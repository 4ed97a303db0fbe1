-- title: Stop-loss coverage and events
-- Coverage is the current state of the open positions (positions.open_statuses); "has a
-- stop-loss" follows positions.stop_loss_check (flag / price / flag_or_price / flag_and_price).
-- `coverage_pct` = protected / open * 100; `detail` lists the unprotected symbols.
-- Then stop-loss events in the window, one row per event type (types absent from an older
-- database simply do not appear).
-- Parameters: $1 since, $2 until, $3 open statuses, $7 stop-loss check.
WITH open_positions AS (
    SELECT id, symbol, exchange,
           CASE $7::text
               WHEN 'price' THEN stop_loss_price IS NOT NULL
               WHEN 'flag_or_price' THEN coalesce(has_stop_loss, false)
                                         OR stop_loss_price IS NOT NULL
               WHEN 'flag_and_price' THEN coalesce(has_stop_loss, false)
                                          AND stop_loss_price IS NOT NULL
               ELSE coalesce(has_stop_loss, false)
           END AS protected,
           opened_at
    FROM {positions}
    WHERE status = ANY($3::text[])
),
coverage AS (
    SELECT 1 AS ord,
           'coverage'::text AS kind,
           'open positions'::text AS item,
           CASE WHEN grouping(exchange) = 1 THEN 'ALL' ELSE exchange END AS exchange,
           count(*) AS count,
           round(100.0 * count(*) FILTER (WHERE protected) / nullif(count(*), 0), 2)
               AS coverage_pct,
           min(opened_at) AS first_at,
           max(opened_at) AS last_at,
           NULL::text AS detail
    FROM open_positions
    GROUP BY GROUPING SETS ((exchange), ())
    HAVING count(*) > 0
    UNION ALL
    SELECT 2, 'coverage', 'without stop-loss',
           CASE WHEN grouping(exchange) = 1 THEN 'ALL' ELSE exchange END,
           count(*), NULL, min(opened_at), max(opened_at),
           left(string_agg(symbol || ' #' || id, ', ' ORDER BY opened_at), 400)
    FROM open_positions
    WHERE NOT protected
    GROUP BY GROUPING SETS ((exchange), ())
    HAVING count(*) > 0
),
sl_events AS (
    SELECT 3 AS ord, 'event'::text, event_type::text, 'ALL'::text,
           count(*), NULL::numeric, min(created_at), max(created_at),
           count(DISTINCT position_id) || ' positions'
    FROM {events}
    WHERE event_type = ANY (ARRAY['stop_loss_placed', 'stop_loss_triggered', 'stop_loss_updated',
                                  'stop_loss_error', 'stop_loss_set_on_load',
                                  'stop_loss_set_failed', 'orphaned_sl_cleaned',
                                  'emergency_stop_placed', 'stop_moved_to_breakeven',
                                  'positions_without_sl_detected'])
      AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
    GROUP BY event_type
)
SELECT kind, item, exchange, count, coverage_pct, first_at, last_at, detail
FROM (SELECT * FROM coverage UNION ALL SELECT * FROM sl_events) AS s
ORDER BY ord, exchange = 'ALL', exchange, count DESC, item;
