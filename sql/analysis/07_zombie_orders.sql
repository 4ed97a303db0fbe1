-- title: Zombie orders (zombie_* and cleanup events)
-- The bot's zombie-order family: zombie_orders_detected, zombie_order_cancelled,
-- zombie_cleanup_completed, zombie_alert_triggered, aggressive_cleanup_triggered,
-- tpsl_orders_cleared. One row per (event type, exchange) in the window, with the latest
-- payload as a sample.
-- Parameters: $1 since, $2 until.
SELECT event_type,
       exchange,
       count(*) AS events,
       count(DISTINCT symbol) AS symbols,
       count(DISTINCT order_id) AS orders,
       min(created_at) AS first_seen,
       max(created_at) AS last_seen,
       (array_agg(left(coalesce(error_message, event_data::text), 300) ORDER BY created_at DESC)
           FILTER (WHERE coalesce(error_message, event_data::text) IS NOT NULL))[1] AS sample
FROM {events}
WHERE event_type = ANY (ARRAY['zombie_orders_detected', 'zombie_order_cancelled',
                              'zombie_cleanup_completed', 'zombie_alert_triggered',
                              'aggressive_cleanup_triggered', 'tpsl_orders_cleared'])
  AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
GROUP BY event_type, exchange
ORDER BY events DESC, event_type, exchange;
