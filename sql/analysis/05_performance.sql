-- title: Performance (latencies: avg, p50, p95, p99, max)
-- position_created -> stop_loss_placed: per position (events.position_id), from its
--   position_created to the first stop_loss_placed at or after it, in milliseconds.
-- order_placed -> order_filled: per order (events.order_id), placed to first fill, in ms.
-- position lifetime: opened_at -> closed_at of the positions closed in the window, in minutes.
-- Only events inside the window are paired. Percentiles are percentile_cont (interpolated).
-- A pair the bot never writes has no samples and a `note` saying so (BOT_FACTS.md): its
-- atomic open path writes neither position_created nor stop_loss_placed, and no version writes
-- order_placed. Placement after an open is not the operators' "SL update < 200 ms" figure.
-- Parameters: $1 since, $2 until, $3 open statuses.
-- Pairing uses one window pass per metric (the latest start at or before each finish), never a
-- self-join, so the cost stays linear in the number of events.
WITH sl_events AS (
    SELECT position_id, event_type, created_at,
           max(created_at) FILTER (WHERE event_type = 'position_created')
               OVER (PARTITION BY position_id
                     ORDER BY created_at, event_type <> 'position_created', id
                     ROWS UNBOUNDED PRECEDING) AS started
    FROM {events}
    WHERE event_type = ANY (ARRAY['position_created', 'stop_loss_placed'])
      AND position_id IS NOT NULL
      AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
),
sl AS (
    SELECT extract(epoch FROM min(created_at) - started) * 1000 AS v
    FROM sl_events
    WHERE event_type = 'stop_loss_placed' AND started IS NOT NULL
    GROUP BY position_id, started
),
order_events AS (
    SELECT order_id, event_type, created_at,
           max(created_at) FILTER (WHERE event_type = 'order_placed')
               OVER (PARTITION BY order_id
                     ORDER BY created_at, event_type <> 'order_placed', id
                     ROWS UNBOUNDED PRECEDING) AS started
    FROM {events}
    WHERE event_type = ANY (ARRAY['order_placed', 'order_filled'])
      AND order_id IS NOT NULL
      AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
),
fills AS (
    SELECT extract(epoch FROM min(created_at) - started) * 1000 AS v
    FROM order_events
    WHERE event_type = 'order_filled' AND started IS NOT NULL
    GROUP BY order_id, started
),
lifetimes AS (
    SELECT extract(epoch FROM closed_at - opened_at) / 60 AS v
    FROM {positions}
    WHERE status <> ALL ($3::text[])
      AND closed_at >= $1::timestamptz AND closed_at < $2::timestamptz
      AND opened_at IS NOT NULL AND closed_at >= opened_at
),
samples AS (
    SELECT 1 AS ord, v::float8 AS v FROM sl
    UNION ALL SELECT 2, v::float8 FROM fills
    UNION ALL SELECT 3, v::float8 FROM lifetimes
),
metrics (ord, metric, unit, no_source) AS (
    VALUES (1, 'position_created -> stop_loss_placed', 'ms',
            'not measurable on this bot: its atomic open path writes neither event '
            '(only the legacy path does)'),
           (2, 'order_placed -> order_filled', 'ms',
            'not measurable on this bot: order_placed is never written'),
           (3, 'position lifetime (closed in window)', 'min', NULL)
)
SELECT m.metric,
       m.unit,
       count(s.v) AS samples,
       round(avg(s.v)::numeric, 2) AS avg,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY s.v))::numeric, 2) AS p50,
       round((percentile_cont(0.95) WITHIN GROUP (ORDER BY s.v))::numeric, 2) AS p95,
       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY s.v))::numeric, 2) AS p99,
       round(max(s.v)::numeric, 2) AS max,
       CASE WHEN count(s.v) = 0 THEN m.no_source END AS note
FROM metrics AS m
LEFT JOIN samples AS s ON s.ord = m.ord
GROUP BY m.ord, m.metric, m.unit, m.no_source
ORDER BY m.ord;
