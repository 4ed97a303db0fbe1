-- At start: where the steady-state poll begins, for both insert-only id ranges. The visible ids
-- at the top of each range tell which ids below the maximum are still in flight (awaited).
--   $1 integer  how far below each maximum to look for in-flight ids
SELECT (SELECT coalesce(max(e.id), 0) FROM {events} AS e) AS max_id,
       (SELECT coalesce(max(p.id), 0) FROM {positions} AS p) AS pos_max_id,
       (SELECT array_agg(t.id) FROM (SELECT e.id FROM {events} AS e
                                     ORDER BY e.id DESC LIMIT $1::integer) AS t) AS top_ids,
       (SELECT array_agg(t.id) FROM (SELECT p.id FROM {positions} AS p
                                     ORDER BY p.id DESC LIMIT $1::integer) AS t) AS pos_top_ids
