-- title: Aged positions (open longer than the aged threshold, and aged events)
-- One row per position that is open and older than positions.aged_hours at the end of the window
-- (`aged_now`), or that has aged_position_detected events in the window (`aged_events`).
-- `age_hours` runs from opened_at to closed_at, or to the end of the window while open.
-- Events without a position_id are grouped by symbol and exchange.
-- Parameters: $1 since, $2 until, $3 open statuses, $4 aged hours.
WITH aged_open AS (
    SELECT id
    FROM {positions}
    WHERE status = ANY ($3::text[])
      AND coalesce(opened_at, created_at) <= $2::timestamptz - $4::float8 * interval '1 hour'
),
aged_events AS (
    SELECT position_id,
           max(symbol) AS symbol,
           max(exchange) AS exchange,
           count(*) AS n,
           min(created_at) AS first_at,
           max(created_at) AS last_at
    FROM {events}
    WHERE event_type = 'aged_position_detected'
      AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
    GROUP BY position_id,
             CASE WHEN position_id IS NULL THEN symbol END,
             CASE WHEN position_id IS NULL THEN exchange END
),
found AS (
    SELECT coalesce(a.id, e.position_id) AS position_id,
           a.id IS NOT NULL AS aged_now,
           coalesce(e.n, 0) AS aged_events,
           e.symbol AS event_symbol, e.exchange AS event_exchange,
           e.first_at, e.last_at
    FROM aged_open AS a
    FULL JOIN aged_events AS e ON e.position_id = a.id
)
SELECT r.position_id,
       coalesce(p.symbol, r.event_symbol) AS symbol,
       coalesce(p.exchange, r.event_exchange) AS exchange,
       p.status,
       coalesce(p.opened_at, p.created_at) AS opened_at,
       p.closed_at,
       round((extract(epoch FROM coalesce(p.closed_at, $2::timestamptz)
                              - coalesce(p.opened_at, p.created_at)) / 3600)::numeric, 2)
           AS age_hours,
       r.aged_now,
       r.aged_events,
       r.first_at AS first_aged_event,
       r.last_at AS last_aged_event
FROM found AS r
LEFT JOIN {positions} AS p ON p.id = r.position_id
ORDER BY r.aged_now DESC, age_hours DESC NULLS LAST, r.aged_events DESC, symbol;
