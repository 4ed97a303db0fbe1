-- Exact event counts for a closed interval, for the final report: the streamed totals are
-- checked against this recount (rows the bot committed late are included here).
--   $1 timestamptz  start (inclusive)
--   $2 timestamptz  end (inclusive)
SELECT e.event_type,
       CASE WHEN e.event_type = 'warning_raised'
            THEN e.event_data ->> 'warning_type' END AS subtype,
       e.severity, lower(e.exchange) AS exchange, count(*) AS n
FROM {events} AS e
WHERE e.created_at BETWEEN $1 AND $2
GROUP BY 1, 2, 3, 4
