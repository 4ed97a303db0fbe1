-- Whether the database holds a row of one event type since a time: the planner picks the
-- event_type index for a rare type and the created_at index for a frequent one (a custom plan
-- per type), so each probe stops at its first row.
--   $1 text         event type
--   $2 timestamptz  since
SELECT EXISTS (SELECT 1 FROM {events} AS e WHERE e.event_type = $1 AND e.created_at >= $2)
