-- title: Positions summary (by status and exchange)
-- Positions alive during the window: opened before its end, and still open or closed (or last
-- updated) after its start. One row per (status, exchange), a total per exchange (status ALL)
-- and a grand total (ALL, ALL). `open` counts rows whose status is one of positions.open_statuses.
-- Parameters: $1 since, $2 until, $3 open statuses.
WITH p AS (
    SELECT status, exchange, side, trailing_activated, opened_at, closed_at,
           status = ANY($3::text[]) AS is_open
    FROM {positions}
    WHERE coalesce(opened_at, created_at) < $2::timestamptz
      AND (status = ANY($3::text[])
           OR coalesce(closed_at, updated_at, opened_at, created_at) >= $1::timestamptz)
)
SELECT CASE WHEN grouping(status) = 1 THEN 'ALL' ELSE status END       AS status,
       CASE WHEN grouping(exchange) = 1 THEN 'ALL' ELSE exchange END   AS exchange,
       count(*)                                                        AS positions,
       count(*) FILTER (WHERE is_open)                                 AS open,
       count(*) FILTER (WHERE lower(side) IN ('long', 'buy'))          AS long,
       count(*) FILTER (WHERE lower(side) IN ('short', 'sell'))        AS short,
       count(*) FILTER (WHERE trailing_activated)                      AS trailing_activated,
       count(*) FILTER (WHERE opened_at >= $1::timestamptz)            AS opened_in_window,
       count(*) FILTER (WHERE closed_at >= $1::timestamptz
                          AND closed_at < $2::timestamptz)             AS closed_in_window,
       min(opened_at)                                                  AS first_opened,
       max(opened_at)                                                  AS last_opened
FROM p
GROUP BY GROUPING SETS ((status, exchange), (exchange), ())
HAVING count(*) > 0
ORDER BY grouping(status), grouping(exchange), bool_or(is_open) DESC, 1, 2;
