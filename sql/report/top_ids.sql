-- Resume: the visible ids at the top of the id range, to know which ids are still in flight.
--   $1 bigint  lowest id of interest
SELECT e.id FROM {events} AS e WHERE e.id > $1 ORDER BY e.id
