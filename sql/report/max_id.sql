-- Resume: the highest event id visible in the snapshot of the recount.
SELECT coalesce(max(e.id), 0) FROM {events} AS e
