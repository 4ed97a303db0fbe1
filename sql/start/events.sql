-- At start (and on resume): the recent events that fill the minute windows, read in the start
-- snapshot. On resume they are already in the recounted all-time totals, so they only fill the
-- minute buckets.
--   $1 timestamptz  history start
SELECT e.id, CASE WHEN isfinite(e.created_at) THEN e.created_at END AS created_at,
       e.event_type, e.exchange, e.symbol, e.severity, e.position_id,
       CASE WHEN e.event_type = 'warning_raised'
            THEN e.event_data ->> 'warning_type' END AS subtype
FROM {events} AS e
WHERE e.created_at >= $1
ORDER BY e.id
