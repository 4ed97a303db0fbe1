-- title: Performance (latencies: avg, p50, p95, p99, max)
-- position_created -> stop_loss_placed: per position (events.position_id), from its first
--   position_created to the first stop_loss_placed at or after it, in milliseconds.
-- order_placed -> order_filled: per order (events.order_id), first placed to first fill, in ms.
-- position lifetime: opened_at -> closed_at of the positions closed in the window, in minutes.
-- Only events inside the window are paired. Percentiles are percentile_cont (interpolated).
-- Parameters: $1 since, $2 until, $3 open statuses.
WITH ev AS (
    SELECT event_type, position_id, order_id, created_at
    FROM {events}
    WHERE event_type = ANY (ARRAY['position_created', 'stop_loss_placed',
                                  'order_placed', 'order_filled'])
      AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
),
created AS (
    SELECT position_id, min(created_at) AS at
    FROM ev
    WHERE event_type = 'position_created' AND position_id IS NOT NULL
    GROUP BY position_id
),
sl AS (
    SELECT extract(epoch FROM min(e.created_at) - c.at) * 1000 AS v
    FROM created AS c
    JOIN ev AS e ON e.position_id = c.position_id AND e.event_type = 'stop_loss_placed'
                AND e.created_at >= c.at
    GROUP BY c.position_id, c.at
),
placed AS (
    SELECT order_id, min(created_at) AS at
    FROM ev
    WHERE event_type = 'order_placed' AND order_id IS NOT NULL
    GROUP BY order_id
),
fills AS (
    SELECT extract(epoch FROM min(e.created_at) - p.at) * 1000 AS v
    FROM placed AS p
    JOIN ev AS e ON e.order_id = p.order_id AND e.event_type = 'order_filled'
                AND e.created_at >= p.at
    GROUP BY p.order_id, p.at
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
metrics (ord, metric, unit) AS (
    VALUES (1, 'position_created -> stop_loss_placed', 'ms'),
           (2, 'order_placed -> order_filled', 'ms'),
           (3, 'position lifetime (closed in window)', 'min')
)
SELECT m.metric,
       m.unit,
       count(s.v) AS samples,
       round(avg(s.v)::numeric, 2) AS avg,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY s.v))::numeric, 2) AS p50,
       round((percentile_cont(0.95) WITHIN GROUP (ORDER BY s.v))::numeric, 2) AS p95,
       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY s.v))::numeric, 2) AS p99,
       round(max(s.v)::numeric, 2) AS max
FROM metrics AS m
LEFT JOIN samples AS s ON s.ord = m.ord
GROUP BY m.ord, m.metric, m.unit
ORDER BY m.ord;
