-- title: Critical events timeline (ERROR/CRITICAL, newest 200, oldest first)
-- Events whose severity is one of events.error_severities (default ERROR, CRITICAL), served by
-- the partial index on created_at for those severities. The errors section has the totals.
-- Parameters: $1 since, $2 until, $6 error severities.
SELECT created_at, severity, event_type, symbol, exchange, position_id, correlation_id, message
FROM (
    SELECT id, created_at, severity, event_type, symbol, exchange, position_id, correlation_id,
           left(coalesce(error_message, event_data::text), 300) AS message
    FROM {events}
    WHERE severity = ANY ($6::text[])
      AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
    ORDER BY created_at DESC, id DESC
    LIMIT 200
) AS newest
ORDER BY created_at, id;
