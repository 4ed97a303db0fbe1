-- Resume: the recent events for the minute windows, read in the same snapshot as the recount
-- (they are already in the recounted all-time totals, so they only fill the minute buckets).
--   $1 timestamptz  history start
SELECT e.id, e.created_at, e.event_type, e.exchange, e.symbol, e.severity, e.position_id
FROM {events} AS e
WHERE e.created_at >= $1
ORDER BY e.id
