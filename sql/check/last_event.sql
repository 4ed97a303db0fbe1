-- `botmon check`: seconds since the bot's newest event (NULL when there is none).
SELECT extract(epoch FROM now() - max(e.created_at)) FROM {events} AS e
