-- The newest sane event timestamp (a row stamped 'infinity' must not freeze "bot silent").
SELECT e.created_at FROM {events} AS e WHERE e.created_at < 'infinity'
ORDER BY e.created_at DESC LIMIT 1
