-- Positions with at least one price update in a closed interval (their ids: a few thousand).
--   $1 timestamptz  start   $2 timestamptz  end   $3 text[]  price-update event types
SELECT DISTINCT e.position_id
FROM {events} AS e
WHERE e.created_at BETWEEN $1 AND $2
  AND e.event_type = ANY ($3::text[])
  AND e.position_id IS NOT NULL
