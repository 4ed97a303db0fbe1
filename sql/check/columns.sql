-- The columns that exist in the configured tables, to report every missing object at once.
--   $1 text    schema
--   $2 text[]  table names
SELECT c.table_name, c.column_name
FROM information_schema.columns AS c
WHERE c.table_schema = $1
  AND c.table_name = ANY ($2::text[])
