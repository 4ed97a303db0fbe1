-- title: Database health (row estimates, sizes, index usage)
-- Catalog views only (pg_class, pg_stat_user_tables, pg_stat_user_indexes): nothing is counted
-- with count(*). est_rows is pg_class.reltuples (empty until the table was first analyzed);
-- idx_scan_pct = idx_scan / (seq_scan + idx_scan) * 100 since the statistics were reset;
-- unused_indexes lists this table's indexes never scanned. Last row: the whole database.
WITH t (ord, name, rel) AS (
    VALUES (1, 'positions', to_regclass('{positions}')),
           (2, 'events', to_regclass('{events}')),
           (3, 'trailing_stop_state', to_regclass('{trailing_stop}')),
           (4, 'orders', to_regclass('{orders}'))
)
SELECT "table", relation, est_rows, live_rows, dead_rows, total_bytes, total_size, index_size,
       seq_scan, idx_scan, idx_scan_pct, unused_indexes, last_vacuum, last_analyze
FROM (
SELECT t.ord, t.name AS "table",
       CASE WHEN t.rel IS NULL THEN 'missing' ELSE t.rel::text END AS relation,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS est_rows,
       s.n_live_tup AS live_rows,
       s.n_dead_tup AS dead_rows,
       pg_total_relation_size(t.rel) AS total_bytes,
       pg_size_pretty(pg_total_relation_size(t.rel)) AS total_size,
       pg_size_pretty(pg_indexes_size(t.rel)) AS index_size,
       s.seq_scan,
       s.idx_scan,
       round(100.0 * s.idx_scan / nullif(s.seq_scan + coalesce(s.idx_scan, 0), 0), 1)
           AS idx_scan_pct,
       (SELECT string_agg(i.indexrelname::text, ', ' ORDER BY i.indexrelname)
        FROM pg_stat_user_indexes AS i
        WHERE i.relid = t.rel AND i.idx_scan = 0) AS unused_indexes,
       greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum,
       greatest(s.last_analyze, s.last_autoanalyze) AS last_analyze
FROM t
LEFT JOIN pg_class AS c ON c.oid = t.rel
LEFT JOIN pg_stat_user_tables AS s ON s.relid = t.rel
UNION ALL
SELECT 5, 'database', current_database()::text, NULL, NULL, NULL,
       pg_database_size(current_database()), pg_size_pretty(pg_database_size(current_database())),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL
) AS h
ORDER BY ord;
