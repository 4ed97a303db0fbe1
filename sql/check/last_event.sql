-- `botmon check`: seconds since the bot's newest event (NULL when there is none). A row stamped
-- 'infinity' is a bad row, not the newest event: it must not make the bot look alive.
SELECT extract(epoch FROM now() - (SELECT e.created_at FROM {events} AS e
                                   WHERE e.created_at < 'infinity'
                                   ORDER BY e.created_at DESC LIMIT 1))::float8
