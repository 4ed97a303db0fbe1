-- At start: when the bot last started and stopped (its bot_started / bot_stopped events), for
-- its state and uptime. Both types are rare: the event_type index finds them.
--   $1 text[]  types that mean "started"
--   $2 text[]  types that mean "stopped"
SELECT (SELECT max(e.created_at) FROM {events} AS e
        WHERE e.event_type = ANY ($1::text[]) AND e.created_at < 'infinity') AS started_at,
       (SELECT max(e.created_at) FROM {events} AS e
        WHERE e.event_type = ANY ($2::text[]) AND e.created_at < 'infinity') AS stopped_at
