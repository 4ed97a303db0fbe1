-- title: Errors (by type and severity)
-- An event is an error when its type matches events.errors (glob patterns such as *_failed,
-- passed as LIKE patterns) or its severity is one of events.error_severities.
-- `counted_as` says which rule matched. The error types present are found with a skip scan of
-- the event_type index (a few index probes per distinct type), then read through the index.
-- Parameters: $1 since, $2 until, $5 error type patterns (LIKE), $6 error severities.
WITH RECURSIVE types AS (
    (SELECT event_type FROM {events} ORDER BY event_type LIMIT 1)
    UNION ALL
    SELECT (SELECT e.event_type FROM {events} AS e
            WHERE e.event_type > t.event_type ORDER BY e.event_type LIMIT 1)
    FROM types AS t
    WHERE t.event_type IS NOT NULL
),
error_types AS (
    SELECT coalesce(array_agg(event_type::text), ARRAY[]::text[]) AS list
    FROM types
    WHERE event_type LIKE ANY ($5::text[])
),
errors AS (
    SELECT e.event_type, e.severity, e.position_id, e.created_at,
           left(coalesce(e.error_message, e.event_data::text), 300) AS message,
           e.event_type = ANY ((SELECT list FROM error_types)::text[]) AS by_type,
           coalesce(e.severity = ANY ($6::text[]), false) AS by_severity
    FROM {events} AS e
    WHERE e.created_at >= $1::timestamptz AND e.created_at < $2::timestamptz
      AND (e.event_type = ANY ((SELECT list FROM error_types)::text[])
           OR e.severity = ANY ($6::text[]))
)
SELECT event_type,
       severity,
       CASE WHEN bool_and(by_type) AND bool_and(by_severity) THEN 'type+severity'
            WHEN bool_and(by_type) THEN 'type'
            ELSE 'severity' END AS counted_as,
       count(*) AS events,
       count(DISTINCT position_id) AS positions,
       min(created_at) AS first_seen,
       max(created_at) AS last_seen,
       (array_agg(message ORDER BY created_at DESC) FILTER (WHERE message IS NOT NULL))[1]
           AS sample_message
FROM errors
GROUP BY event_type, severity
ORDER BY events DESC, event_type, severity;
