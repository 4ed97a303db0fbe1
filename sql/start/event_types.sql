-- Which event types the bot's database holds: a recursive skip over the event_type index (one
-- index probe per distinct type), not a DISTINCT scan of millions of rows.
WITH RECURSIVE t(event_type) AS (
    (SELECT e.event_type FROM {events} AS e ORDER BY e.event_type LIMIT 1)
    UNION ALL
    SELECT (SELECT e.event_type FROM {events} AS e
            WHERE e.event_type > t.event_type
            ORDER BY e.event_type LIMIT 1)
    FROM t
    WHERE t.event_type IS NOT NULL
)
SELECT t.event_type FROM t WHERE t.event_type IS NOT NULL
