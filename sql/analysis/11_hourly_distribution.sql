-- title: Hourly distribution (events per hour UTC by type group)
-- Groups follow the bot's event enum: price_updates = position_updated ticks; errors counts
-- events whose severity is one of events.error_severities (they are also in their group).
-- Last row: the whole window (hour empty). Events are first counted per (hour, type, severity),
-- then the few thousand groups are classified.
-- websocket is null, not 0, when the window holds no websocket_*/subscription_* event: no
-- version of the bot writes them, so a 0 would claim a healthy stream (see the bot's log).
-- Parameters: $1 since, $2 until, $6 error severities.
WITH per_type AS (
    SELECT date_trunc('hour', created_at) AS hour, event_type::text AS t, severity, count(*) AS n
    FROM {events}
    WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz
    GROUP BY 1, 2, 3
),
grouped AS (
    SELECT hour, n, coalesce(severity = ANY ($6::text[]), false) AS is_error,
           CASE
               WHEN t = 'position_updated' THEN 'price_updates'
               WHEN t LIKE 'websocket\_%' OR t LIKE 'subscription\_%' THEN 'websocket'
               WHEN t LIKE 'zombie\_%'
                    OR t IN ('aggressive_cleanup_triggered', 'tpsl_orders_cleared') THEN 'zombies'
               WHEN t LIKE 'trailing\_stop\_%' OR t LIKE 'protection\_sl\_%' THEN 'trailing_stop'
               WHEN t LIKE 'stop\_loss\_%'
                    OR t IN ('orphaned_sl_cleaned', 'emergency_stop_placed',
                             'stop_moved_to_breakeven') THEN 'stop_loss'
               WHEN t LIKE 'order\_%' THEN 'orders'
               WHEN t LIKE 'sync\_%' OR t LIKE 'synchronization\_%' OR t LIKE 'phantom\_%'
                    OR t LIKE 'missing\_position\_%' OR t LIKE 'quantity\_%'
                    OR t LIKE 'position\_recovery\_%'
                    OR t IN ('position_verified', 'incomplete_position_detected',
                             'periodic_sync_started') THEN 'sync'
               WHEN t LIKE 'wave\_%' OR t LIKE 'signal%'
                    OR t IN ('bad_symbol_leaked', 'insufficient_funds', 'risk_limits_exceeded',
                             'symbol_unavailable') THEN 'signals'
               WHEN t LIKE 'position%' OR t = 'aged_position_detected' THEN 'positions'
               ELSE 'system'
           END AS grp
    FROM per_type
)
SELECT hour,
       sum(n)::bigint AS total,
       coalesce(sum(n) FILTER (WHERE grp = 'price_updates'), 0)::bigint AS price_updates,
       coalesce(sum(n) FILTER (WHERE grp = 'positions'), 0)::bigint AS positions,
       coalesce(sum(n) FILTER (WHERE grp = 'orders'), 0)::bigint AS orders,
       coalesce(sum(n) FILTER (WHERE grp = 'stop_loss'), 0)::bigint AS stop_loss,
       coalesce(sum(n) FILTER (WHERE grp = 'trailing_stop'), 0)::bigint AS trailing_stop,
       coalesce(sum(n) FILTER (WHERE grp = 'signals'), 0)::bigint AS signals,
       coalesce(sum(n) FILTER (WHERE grp = 'sync'), 0)::bigint AS sync,
       coalesce(sum(n) FILTER (WHERE grp = 'zombies'), 0)::bigint AS zombies,
       CASE WHEN bool_or(bool_or(grp = 'websocket')) OVER ()
            THEN coalesce(sum(n) FILTER (WHERE grp = 'websocket'), 0)::bigint END AS websocket,
       coalesce(sum(n) FILTER (WHERE grp = 'system'), 0)::bigint AS system,
       coalesce(sum(n) FILTER (WHERE is_error), 0)::bigint AS errors
FROM grouped
GROUP BY GROUPING SETS ((hour), ())
HAVING count(*) > 0
ORDER BY grouping(hour), hour;
