-- title: Race conditions (concurrent operations on one position, duplicate open positions)
-- kind `concurrent operations`: per position, how often two position-changing events from
--   different correlation_ids landed within 1 s of each other (consecutive events, in created_at
--   order, among the events that carry a correlation_id). Price ticks (position_updated) and
--   trailing-stop ticks are not position-changing operations and are left out.
-- kind `duplicate open positions`: more than one open position for the same symbol and exchange
--   (the bot's unique index should make this impossible).
-- kind `duplicate prevented`: the bot's own guard fired (position_duplicate_prevented events).
-- Parameters: $1 since, $2 until, $3 open statuses.
WITH ops AS (
    SELECT position_id, correlation_id, event_type, created_at, symbol, exchange,
           lag(created_at) OVER w AS prev_at,
           lag(correlation_id) OVER w AS prev_correlation,
           lag(event_type) OVER w AS prev_type
    FROM {events}
    WHERE event_type = ANY (ARRAY['position_created', 'position_closed', 'position_cleanup',
                                  'position_error', 'stop_loss_placed', 'stop_loss_updated',
                                  'stop_loss_triggered', 'stop_loss_set_on_load',
                                  'emergency_stop_placed', 'stop_moved_to_breakeven',
                                  'trailing_stop_activated', 'trailing_stop_sl_updated',
                                  'trailing_stop_breakeven', 'trailing_stop_removed',
                                  'protection_sl_cancelled', 'quantity_updated',
                                  'phantom_position_closed', 'order_placed', 'order_filled',
                                  'order_cancelled'])
      AND position_id IS NOT NULL
      AND correlation_id IS NOT NULL
      AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
    WINDOW w AS (PARTITION BY position_id ORDER BY created_at, id)
),
clashes AS (
    SELECT 1 AS ord, 'concurrent operations'::text AS kind,
           position_id::text AS positions,
           max(symbol)::text AS symbol, max(exchange)::text AS exchange,
           count(*) AS occurrences,
           left(string_agg(DISTINCT prev_type || ' + ' || event_type, ', '), 300) AS detail,
           min(prev_at) AS first_at, max(created_at) AS last_at
    FROM ops
    WHERE created_at - prev_at < interval '1 second'
      AND correlation_id <> prev_correlation
    GROUP BY position_id
),
duplicates AS (
    SELECT 2, 'duplicate open positions'::text,
           string_agg(id::text, ', ' ORDER BY id),
           symbol::text, exchange::text, count(*),
           'statuses: ' || string_agg(DISTINCT status, ', '),
           min(opened_at), max(opened_at)
    FROM {positions}
    WHERE status = ANY ($3::text[])
    GROUP BY symbol, exchange
    HAVING count(*) > 1
),
prevented AS (
    SELECT 3, 'duplicate prevented'::text, NULL::text, symbol::text, exchange::text, count(*),
           NULL::text, min(created_at), max(created_at)
    FROM {events}
    WHERE event_type = 'position_duplicate_prevented'
      AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
    GROUP BY symbol, exchange
)
SELECT kind, positions, symbol, exchange, occurrences, detail, first_at, last_at
FROM (SELECT * FROM clashes UNION ALL SELECT * FROM duplicates UNION ALL SELECT * FROM prevented)
     AS r
ORDER BY ord, occurrences DESC, first_at
LIMIT 300;
