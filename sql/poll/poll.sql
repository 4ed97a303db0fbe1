-- The steady-state poll: one round trip, one consistent snapshot (a single statement sees one
-- snapshot). It runs every poll.interval_s as a prepared statement with a generic plan: every
-- branch is a primary-key or status lookup whatever the parameters, so nothing is re-planned.
--
-- Exactly-once counting (README, "Exactly once"): ids come from a sequence at INSERT time, while
-- the bot commits concurrent batches in any order. So a row is new when its id is above the
-- highest id the previous poll could see, or when its id was a hole then (assigned but not yet
-- committed). The same holds for events and for positions.
--   $1 bigint    events: highest id visible to the previous poll
--   $2 bigint[]  events: ids below $1 that were not visible yet (in-flight or rolled back)
--   $3 integer   events: row cap for one poll; the rest arrives with the next poll
--   $4 text[]    position statuses that count as open
--   $5 bigint    positions: highest id visible to the previous poll
--   $6 bigint[]  positions: ids below $5 that were not visible yet
--   $7 bigint[]  positions open at the previous poll (a close is one of them leaving the set)
--   $8 xid[]     their row versions (xmin) as last read, in the order of $7
--   $9 xid[]     their trailing stops' row versions (NULL: none), in the order of $7
--   $10 boolean  read the trailing-stop orphans this time (they change slowly: not every poll)
WITH fresh AS MATERIALIZED (
    -- The two branches are disjoint (holes lie below $1): both are index scans on the key.
    SELECT u.* FROM (
        -- Per-position emergency closes arrive as warning_raised with a warning_type.
        (SELECT e.id, e.created_at, e.event_type, e.exchange, e.symbol, e.severity,
                e.position_id,
                CASE WHEN e.event_type = 'warning_raised'
                     THEN e.event_data ->> 'warning_type' END AS subtype
         FROM {events} AS e
         WHERE e.id > $1::bigint
         ORDER BY e.id
         LIMIT $3::integer)
        UNION ALL
        SELECT e.id, e.created_at, e.event_type, e.exchange, e.symbol, e.severity, e.position_id,
               CASE WHEN e.event_type = 'warning_raised'
                    THEN e.event_data ->> 'warning_type' END AS subtype
        FROM {events} AS e
        WHERE e.id = ANY ($2::bigint[])
    ) AS u
    ORDER BY u.id
    LIMIT $3::integer
), known AS MATERIALIZED (
    -- The open positions as the previous poll left them: id and the row versions it read.
    SELECT k.id, k.pxmin, k.txmin
    FROM unnest($7::bigint[], $8::xid[], $9::xid[]) AS k (id, pxmin, txmin)
), ids AS MATERIALIZED (
    -- The rows to read in full: new ids, awaited holes, open rows not known yet, and known rows
    -- (or their trailing stop) with a new row version since the last poll. A committed update
    -- always makes a new version (xmin), whenever its transaction began: exact, and cheap
    -- (most open positions do not change between two polls). Closes by any path are among
    -- them (a status change is an update), deleted rows are "gone" below.
    -- A bounded range, so that the generic plan expects a few rows and uses the key.
    SELECT n.id FROM {positions} AS n
    WHERE n.id BETWEEN $5::bigint + 1 AND $5::bigint + 1000000000
    UNION
    SELECT unnest($6::bigint[])
    UNION
    SELECT o.id FROM {positions} AS o
    WHERE o.status = ANY ($4::text[]) AND NOT (o.id = ANY ($7::bigint[]))
    UNION
    SELECT k.id FROM known AS k
    JOIN {positions} AS p ON p.id = k.id
    LEFT JOIN {trailing_stop} AS t ON t.symbol = p.symbol AND t.exchange = p.exchange
    WHERE p.xmin <> k.pxmin OR t.xmin IS DISTINCT FROM k.txmin
), pos AS MATERIALIZED (
    SELECT p.id, p.symbol, p.exchange, p.side, p.status,
           CASE WHEN isfinite(p.opened_at) THEN p.opened_at END AS opened_at,
           CASE WHEN isfinite(p.closed_at) THEN p.closed_at END AS closed_at,
           CASE WHEN isfinite(p.updated_at) THEN p.updated_at END AS updated_at,
           CASE WHEN isfinite(p.created_at) THEN p.created_at END AS created_at,
           p.entry_price::float8 AS entry_price, p.current_price::float8 AS current_price,
           p.quantity::float8 AS quantity,
           p.pnl_percentage::float8 AS pnl_percent, p.unrealized_pnl::float8 AS unrealized_pnl,
           coalesce(p.realized_pnl, p.pnl)::float8 AS realized_pnl, p.exit_reason,
           p.has_stop_loss, p.stop_loss_price::float8 AS stop_loss_price, p.has_trailing_stop,
           t.state AS ts_state, t.is_activated AS ts_activated,
           t.current_stop_price::float8 AS ts_stop_price,
           p.xmin AS pxmin, t.xmin AS txmin
    FROM ids
    JOIN {positions} AS p ON p.id = ids.id
    LEFT JOIN {trailing_stop} AS t ON t.symbol = p.symbol AND t.exchange = p.exchange
)
SELECT now() AS db_now,
       (SELECT max(e.id) FROM {events} AS e) AS max_id,
       (SELECT max(p.id) FROM {positions} AS p) AS pos_max_id,
       -- The newest sane timestamp: a row stamped 'infinity' must not freeze "bot silent" at 0.
       (SELECT e.created_at FROM {events} AS e WHERE e.created_at < 'infinity'
        ORDER BY e.created_at DESC LIMIT 1) AS last_event_at,
       (SELECT array_agg(k.id) FROM known AS k
        WHERE NOT EXISTS (SELECT 1 FROM {positions} AS p WHERE p.id = k.id)) AS pos_gone,
       CASE WHEN $10::boolean THEN
           (SELECT array_agg(t.symbol || '/' || t.exchange ORDER BY t.symbol, t.exchange)
            FROM {trailing_stop} AS t
            LEFT JOIN {positions} AS p ON p.id = t.position_id
            WHERE p.id IS NULL OR NOT (p.status = ANY ($4::text[])))
       END AS ts_orphans,
       ev.*, ps.*
FROM (
    SELECT count(*) AS ev_count,
           array_agg(id ORDER BY id) AS ev_id,
           -- NULL for a missing or infinite timestamp: such a row is a "bad row", counted once
           -- under its own figure, never in a minute.
           array_agg(CASE WHEN isfinite(created_at) THEN created_at END ORDER BY id)
               AS ev_created_at,
           array_agg(event_type ORDER BY id) AS ev_type,
           array_agg(exchange ORDER BY id) AS ev_exchange,
           array_agg(symbol ORDER BY id) AS ev_symbol,
           array_agg(severity ORDER BY id) AS ev_severity,
           array_agg(position_id ORDER BY id) AS ev_position_id,
           array_agg(subtype ORDER BY id) AS ev_subtype
    FROM fresh
) AS ev, (
    SELECT array_agg(id ORDER BY id) AS pos_id,
           array_agg(symbol ORDER BY id) AS pos_symbol,
           array_agg(exchange ORDER BY id) AS pos_exchange,
           array_agg(side ORDER BY id) AS pos_side,
           array_agg(status ORDER BY id) AS pos_status,
           array_agg(opened_at ORDER BY id) AS pos_opened_at,
           array_agg(closed_at ORDER BY id) AS pos_closed_at,
           array_agg(updated_at ORDER BY id) AS pos_updated_at,
           array_agg(created_at ORDER BY id) AS pos_created_at,
           array_agg(entry_price ORDER BY id) AS pos_entry_price,
           array_agg(current_price ORDER BY id) AS pos_current_price,
           array_agg(quantity ORDER BY id) AS pos_quantity,
           array_agg(pnl_percent ORDER BY id) AS pos_pnl_percent,
           array_agg(unrealized_pnl ORDER BY id) AS pos_unrealized_pnl,
           array_agg(realized_pnl ORDER BY id) AS pos_realized_pnl,
           array_agg(exit_reason ORDER BY id) AS pos_exit_reason,
           array_agg(has_stop_loss ORDER BY id) AS pos_has_stop_loss,
           array_agg(stop_loss_price ORDER BY id) AS pos_stop_loss_price,
           array_agg(has_trailing_stop ORDER BY id) AS pos_has_trailing_stop,
           array_agg(ts_state ORDER BY id) AS pos_ts_state,
           array_agg(ts_activated ORDER BY id) AS pos_ts_activated,
           array_agg(ts_stop_price ORDER BY id) AS pos_ts_stop_price,
           array_agg(pxmin ORDER BY id) AS pos_pxmin,
           array_agg(txmin ORDER BY id) AS pos_txmin
    FROM pos
) AS ps
