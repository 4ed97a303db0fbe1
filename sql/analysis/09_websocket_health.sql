-- title: WebSocket health (websocket_* and subscription_* events by hour)
-- not measurable when empty: no websocket_* or subscription_* event in the window: no version of the bot writes them; its WebSocket health is only in its log (botmon logs)
-- Newer event types: an older database without them yields no rows. One row per (hour UTC,
-- exchange), then a total (hour empty, exchange ALL). `reconnects` = disconnected + periodic
-- reconnections.
-- Parameters: $1 since, $2 until.
SELECT date_trunc('hour', created_at) AS hour,
       CASE WHEN grouping(date_trunc('hour', created_at)) = 1 THEN 'ALL' ELSE exchange END
           AS exchange,
       count(*) FILTER (WHERE event_type = 'websocket_connected') AS connected,
       count(*) FILTER (WHERE event_type = 'websocket_disconnected') AS disconnected,
       count(*) FILTER (WHERE event_type = 'websocket_periodic_reconnection') AS periodic_reconnects,
       count(*) FILTER (WHERE event_type IN ('websocket_disconnected',
                                             'websocket_periodic_reconnection')) AS reconnects,
       count(*) FILTER (WHERE event_type = 'websocket_error') AS errors,
       count(*) FILTER (WHERE event_type = 'subscription_stale_detected') AS stale,
       count(*) FILTER (WHERE event_type = 'subscription_resubscribed') AS resubscribed,
       count(*) FILTER (WHERE event_type = 'subscription_verification_failed') AS verify_failed,
       count(*) FILTER (WHERE event_type = 'subscription_retry_exhausted') AS retry_exhausted,
       count(*) AS total
FROM {events}
WHERE event_type = ANY (ARRAY['websocket_connected', 'websocket_disconnected', 'websocket_error',
                              'websocket_periodic_reconnection', 'subscription_stale_detected',
                              'subscription_resubscribed', 'subscription_verification_failed',
                              'subscription_retry_exhausted'])
  AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
GROUP BY GROUPING SETS ((date_trunc('hour', created_at), exchange), ())
HAVING count(*) > 0
ORDER BY grouping(date_trunc('hour', created_at)), 1, 2;
