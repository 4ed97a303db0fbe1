-- title: Sample position lifecycle (the most recently closed position, all its events in order)
-- The position: status not open, closed_at in the window, with at least one event; positions
-- whose status is exactly 'closed' are preferred. First row: the position itself. Then every
-- event of that position (whole history, not only the window) in created_at order; runs of
-- consecutive price ticks (position_updated, trailing_stop_updated) are folded into one row
-- with their count.
-- Parameters: $1 since, $2 until, $3 open statuses.
WITH pick AS (
    SELECT p.id, p.symbol, p.exchange, p.side, p.status, p.exit_reason, p.opened_at,
           p.closed_at, coalesce(p.realized_pnl, p.pnl) AS pnl
    FROM {positions} AS p
    WHERE p.status <> ALL ($3::text[])
      AND p.closed_at >= $1::timestamptz AND p.closed_at < $2::timestamptz
      AND EXISTS (SELECT 1 FROM {events} AS e WHERE e.position_id = p.id)
    ORDER BY (p.status = 'closed') DESC, p.closed_at DESC, p.id DESC
    LIMIT 1
),
ev AS (
    SELECT e.id, e.event_type, e.severity, e.correlation_id, e.created_at,
           left(coalesce(e.error_message, e.event_data::text), 200) AS detail,
           e.event_type IN ('position_updated', 'trailing_stop_updated') AS tick,
           row_number() OVER (ORDER BY e.created_at, e.id)
             - row_number() OVER (PARTITION BY e.event_type ORDER BY e.created_at, e.id) AS island,
           row_number() OVER (ORDER BY e.created_at, e.id) AS seq
    FROM {events} AS e
    JOIN pick ON e.position_id = pick.id
),
folded AS (
    SELECT event_type::text,
           min(created_at) AS at,
           count(*) AS events,
           max(severity)::text AS severity,
           CASE WHEN count(DISTINCT correlation_id) <= 1 THEN max(correlation_id)::text
                ELSE count(DISTINCT correlation_id) || ' correlations' END AS correlation_id,
           CASE WHEN count(*) = 1 THEN max(detail)
                ELSE 'until ' || to_char(max(created_at), 'HH24:MI:SS.MS') END AS detail,
           min(seq) AS seq
    FROM ev
    GROUP BY event_type, CASE WHEN tick THEN island ELSE seq END
)
SELECT pick.id AS position_id, pick.symbol, f.at,
       round(extract(epoch FROM f.at - first_at.at)::numeric, 3) AS seconds,
       f.event_type, f.events, f.severity, f.correlation_id, f.detail
FROM (
    SELECT 0 AS seq, coalesce(pick.opened_at, (SELECT min(created_at) FROM ev)) AS at,
           '(position)' AS event_type, NULL::bigint AS events, NULL AS severity,
           NULL AS correlation_id,
           concat_ws(', ', pick.exchange, pick.side, 'status ' || pick.status,
                     'exit ' || pick.exit_reason, 'pnl ' || pick.pnl::text,
                     'closed ' || to_char(pick.closed_at, 'YYYY-MM-DD HH24:MI:SS')) AS detail
    FROM pick
    UNION ALL
    SELECT seq, at, event_type, events, severity, correlation_id, detail FROM folded
) AS f
CROSS JOIN pick
CROSS JOIN (SELECT min(at) AS at FROM (SELECT min(created_at) AS at FROM ev
                                       UNION ALL SELECT opened_at FROM pick) AS s) AS first_at
ORDER BY f.seq
LIMIT 1000;
