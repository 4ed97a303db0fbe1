-- One poll = one round trip = one consistent snapshot (a single statement sees one snapshot).
-- Exactly-once counting (DESIGN.md): event ids come from a sequence at INSERT time, while the bot
-- inserts its queued events in batches (0-5 s after `created_at`, longer under load) and commits
-- concurrent batches in any order. So a row is new when its id is above the highest id the
-- previous poll could see ($2), or when its id was a hole then -- assigned but not yet committed
-- ($3). Both are primary-key lookups: the cost is the new rows, not the table or the event rate.
-- The first poll reads history by time instead ($1; later polls pass NULL).
--   $1 timestamptz  history start (first poll only), else NULL
--   $2 bigint       highest id visible to the previous poll
--   $3 bigint[]     ids below $2 that were not visible yet (in-flight or rolled back)
--   $4 text[]       position statuses that count as open
--   $5 integer      row cap for one poll; the rest arrives with the next poll
WITH fresh AS MATERIALIZED (
    -- The branches are disjoint (holes lie below $2; the first poll passes a $2 above every id)
    -- and each is an index scan whatever the table statistics say: the id branch by its own
    -- ORDER BY/LIMIT, the history branch folded away by the planner when $1 is NULL.
    SELECT u.* FROM (
        (SELECT e.id, e.created_at, e.event_type, e.exchange, e.symbol, e.severity, e.position_id
         FROM {events} AS e
         WHERE e.id > $2::bigint
         ORDER BY e.id
         LIMIT $5::integer)
        UNION ALL
        SELECT e.id, e.created_at, e.event_type, e.exchange, e.symbol, e.severity, e.position_id
        FROM {events} AS e
        WHERE e.id = ANY ($3::bigint[])
        UNION ALL
        SELECT e.id, e.created_at, e.event_type, e.exchange, e.symbol, e.severity, e.position_id
        FROM {events} AS e
        WHERE $1::timestamptz IS NOT NULL AND e.created_at >= $1::timestamptz
    ) AS u
    ORDER BY u.id
    LIMIT $5::integer
), open_positions AS MATERIALIZED (
    SELECT p.id, p.symbol, p.exchange, p.side, p.status, p.opened_at,
           p.entry_price::float8 AS entry_price, p.current_price::float8 AS current_price,
           p.pnl_percentage::float8 AS pnl_percent, p.unrealized_pnl::float8 AS unrealized_pnl,
           p.has_stop_loss, p.stop_loss_price::float8 AS stop_loss_price, p.has_trailing_stop,
           t.state AS ts_state, t.is_activated AS ts_activated,
           t.current_stop_price::float8 AS ts_stop_price
    FROM {positions} AS p
    LEFT JOIN {trailing_stop} AS t ON t.symbol = p.symbol AND t.exchange = p.exchange
    WHERE p.status = ANY ($4::text[])
)
SELECT now() AS db_now,
       (SELECT max(id) FROM {events}) AS max_id,
       (SELECT max(created_at) FROM {events}) AS last_event_at,
       -- Trailing-stop rows whose position is closed or gone (one row per symbol and exchange,
       -- so this stays small).
       (SELECT array_agg(t.symbol || '/' || t.exchange ORDER BY t.symbol, t.exchange)
        FROM {trailing_stop} AS t
        LEFT JOIN {positions} AS p ON p.id = t.position_id
        WHERE p.id IS NULL OR NOT (p.status = ANY ($4::text[]))) AS ts_orphans,
       ev.*, pos.*
FROM (
    SELECT count(*) AS ev_count,
           array_agg(id ORDER BY id) AS ev_id,
           array_agg(created_at ORDER BY id) AS ev_created_at,
           array_agg(event_type ORDER BY id) AS ev_type,
           array_agg(exchange ORDER BY id) AS ev_exchange,
           array_agg(symbol ORDER BY id) AS ev_symbol,
           array_agg(severity ORDER BY id) AS ev_severity,
           array_agg(position_id ORDER BY id) AS ev_position_id
    FROM fresh
) AS ev, (
    SELECT array_agg(id ORDER BY opened_at, id) AS pos_id,
           array_agg(symbol ORDER BY opened_at, id) AS pos_symbol,
           array_agg(exchange ORDER BY opened_at, id) AS pos_exchange,
           array_agg(side ORDER BY opened_at, id) AS pos_side,
           array_agg(status ORDER BY opened_at, id) AS pos_status,
           array_agg(opened_at ORDER BY opened_at, id) AS pos_opened_at,
           array_agg(entry_price ORDER BY opened_at, id) AS pos_entry_price,
           array_agg(current_price ORDER BY opened_at, id) AS pos_current_price,
           array_agg(pnl_percent ORDER BY opened_at, id) AS pos_pnl_percent,
           array_agg(unrealized_pnl ORDER BY opened_at, id) AS pos_unrealized_pnl,
           array_agg(has_stop_loss ORDER BY opened_at, id) AS pos_has_stop_loss,
           array_agg(stop_loss_price ORDER BY opened_at, id) AS pos_stop_loss_price,
           array_agg(has_trailing_stop ORDER BY opened_at, id) AS pos_has_trailing_stop,
           array_agg(ts_state ORDER BY opened_at, id) AS pos_ts_state,
           array_agg(ts_activated ORDER BY opened_at, id) AS pos_ts_activated,
           array_agg(ts_stop_price ORDER BY opened_at, id) AS pos_ts_stop_price
    FROM open_positions
) AS pos
