-- title: Trailing stop (activations, states, positions with more than 20 updates)
-- kind `event`: trailing-stop events in the window, per type.
-- kind `state`: trailing_stop_state rows now, per state (`detail`: how many are activated).
-- kind `more than 20 updates`: one row per position whose trailing stop was updated more than
--   20 times: the larger of trailing_stop_state.update_count and the number of
--   trailing_stop_updated + trailing_stop_sl_updated events for the position in the window.
-- Parameters: $1 since, $2 until.
WITH ts_events AS (
    SELECT 1 AS ord, 'event'::text AS kind, event_type::text AS item, count(*) AS count,
           min(created_at) AS first_at, max(created_at) AS last_at,
           count(DISTINCT position_id) || ' positions' AS detail
    FROM {events}
    WHERE event_type = ANY (ARRAY['trailing_stop_created', 'trailing_stop_activated',
                                  'trailing_stop_updated', 'trailing_stop_breakeven',
                                  'trailing_stop_removed', 'trailing_stop_sl_updated',
                                  'trailing_stop_sl_update_failed', 'protection_sl_cancelled',
                                  'protection_sl_cancel_failed'])
      AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
    GROUP BY event_type
),
states AS (
    SELECT 2 AS ord, 'state'::text, coalesce(state, '(none)')::text, count(*),
           min(created_at), max(last_update_time),
           count(*) FILTER (WHERE is_activated) || ' activated'
    FROM {trailing_stop}
    GROUP BY state
),
update_events AS (
    SELECT position_id,
           count(*) AS n,
           min(created_at) AS first_at,
           max(created_at) AS last_at
    FROM {events}
    WHERE event_type = ANY (ARRAY['trailing_stop_updated', 'trailing_stop_sl_updated'])
      AND position_id IS NOT NULL
      AND created_at >= $1::timestamptz AND created_at < $2::timestamptz
    GROUP BY position_id
),
heavy AS (
    SELECT coalesce(u.position_id::bigint, s.position_id) AS position_id,
           s.symbol AS state_symbol, s.exchange AS state_exchange,
           coalesce(s.update_count, 0) AS state_updates,
           coalesce(u.n, 0) AS event_updates,
           coalesce(u.first_at, s.created_at) AS first_at,
           coalesce(u.last_at, s.last_update_time) AS last_at
    FROM update_events AS u
    FULL JOIN {trailing_stop} AS s ON s.position_id = u.position_id
    WHERE greatest(coalesce(s.update_count, 0), coalesce(u.n, 0)) > 20
),
heavy_rows AS (
    SELECT 3 AS ord, 'more than 20 updates'::text,
           coalesce(p.symbol, h.state_symbol, '?') || ' ' || coalesce(p.exchange, h.state_exchange, '?')
               || coalesce(' #' || h.position_id, ''),
           greatest(h.state_updates, h.event_updates)::bigint,
           h.first_at, h.last_at,
           'state update_count ' || h.state_updates || ', update events ' || h.event_updates
    FROM heavy AS h
    LEFT JOIN {positions} AS p ON p.id = h.position_id
)
SELECT kind, item, count, first_at, last_at, detail
FROM (SELECT * FROM ts_events UNION ALL SELECT * FROM states UNION ALL SELECT * FROM heavy_rows) AS t
ORDER BY ord, count DESC, item;
