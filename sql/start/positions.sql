-- At start: the positions the start snapshot already knows about and the first poll reads
-- again (the open ones, and those opened or closed since the history start), with whether each
-- was open then. Their opens and closes fill the minute windows; only later changes are new.
-- A one-off read of a table of thousands of rows.
--   $1 timestamptz  history start
--   $2 text[]       position statuses that count as open
SELECT p.id, p.status = ANY ($2::text[]) AS is_open
FROM {positions} AS p
WHERE p.status = ANY ($2::text[])
   OR coalesce(p.opened_at, p.created_at) >= $1
   OR coalesce(p.closed_at, p.updated_at) >= $1
