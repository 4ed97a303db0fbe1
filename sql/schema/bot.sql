-- The bot's `monitoring` schema for the four tables botmon reads, as in the production pg_dump
-- (../shared/BOT_FACTS.md "The real schema's details" and the column lists): widths, NOT NULL,
-- defaults, every index (partial and UNIQUE ones included), the foreign key and both triggers.
-- tests/test_schema.py checks this file against those facts through pg_catalog, so a row the real
-- database rejects is rejected here too (and an index the real planner has, ours has).
-- Used by `botmon demo` and the tests; botmon never creates or alters anything in a real bot
-- database. The schema name is fixed here: the demo and the tests use the defaults.

CREATE SCHEMA IF NOT EXISTS monitoring;

-- Trigger functions (the dump's own bodies).
CREATE FUNCTION monitoring.normalize_trailing_stop_side() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.side IS NOT NULL THEN
        NEW.side := LOWER(NEW.side);
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION monitoring.update_updated_at_column() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$;

CREATE TABLE monitoring.positions (
    id                          serial PRIMARY KEY,
    signal_id                   integer,
    symbol                      varchar(20) NOT NULL,
    exchange                    varchar(50) NOT NULL,
    side                        varchar(10) NOT NULL,
    quantity                    numeric(20,8) NOT NULL,
    entry_price                 numeric(20,8) NOT NULL,
    current_price               numeric(20,8),
    stop_loss_price             numeric(20,8),
    take_profit_price           numeric(20,8),
    unrealized_pnl              numeric(20,8),
    realized_pnl                numeric(20,8),
    fees                        numeric(20,8) DEFAULT 0,
    status                      varchar(20) DEFAULT 'active' NOT NULL,
    exit_reason                 text,
    opened_at                   timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    closed_at                   timestamp with time zone,
    updated_at                  timestamp with time zone DEFAULT now(),
    leverage                    numeric(10,2) DEFAULT 1.0,
    stop_loss                   numeric(20,8),
    take_profit                 numeric(20,8),
    pnl                         numeric(20,8),
    pnl_percentage              numeric(10,4),
    trailing_activated          boolean DEFAULT false,
    created_at                  timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    error_details               jsonb,
    retry_count                 integer DEFAULT 0,
    last_error_at               timestamp with time zone,
    has_trailing_stop           boolean DEFAULT true NOT NULL,
    has_stop_loss               boolean DEFAULT false,
    exchange_order_id           varchar(100),
    trailing_activation_percent numeric(10,4),
    trailing_callback_percent   numeric(10,4),
    signal_stop_loss_percent    numeric(10,4),
    spread_at_entry             numeric(10,4)
);

CREATE INDEX idx_positions_exchange_order ON monitoring.positions (exchange_order_id);
CREATE INDEX idx_positions_exit_reason ON monitoring.positions (exit_reason)
    WHERE exit_reason IS NOT NULL;
CREATE INDEX idx_positions_opened_at ON monitoring.positions (opened_at);
CREATE INDEX idx_positions_signal_sl_percent ON monitoring.positions (signal_stop_loss_percent)
    WHERE signal_stop_loss_percent IS NOT NULL;
CREATE INDEX idx_positions_status ON monitoring.positions (status);
CREATE INDEX idx_positions_symbol ON monitoring.positions (symbol);
-- At most one open position per (symbol, exchange). No index on closed_at (the real one has none).
CREATE UNIQUE INDEX idx_unique_active_position ON monitoring.positions (symbol, exchange)
    WHERE status IN ('active', 'entry_placed', 'pending_sl', 'pending_entry');

-- updated_at is the database's clock on every UPDATE, whatever the statement sets.
CREATE TRIGGER update_positions_updated_at BEFORE UPDATE ON monitoring.positions
    FOR EACH ROW EXECUTE FUNCTION monitoring.update_updated_at_column();

CREATE TABLE monitoring.events (
    id             serial PRIMARY KEY,
    event_type     varchar(50) NOT NULL,
    event_data     jsonb,
    correlation_id varchar(100),
    position_id    integer,
    order_id       varchar(100),
    symbol         varchar(50),
    exchange       varchar(50),
    severity       varchar(20) DEFAULT 'INFO',
    error_message  text,
    stack_trace    text,
    created_at     timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_events_correlation ON monitoring.events (correlation_id);
CREATE INDEX idx_events_created ON monitoring.events (created_at DESC);
CREATE INDEX idx_events_errors ON monitoring.events (created_at DESC)
    WHERE severity IN ('ERROR', 'CRITICAL');
CREATE INDEX idx_events_exchange ON monitoring.events (exchange) WHERE exchange IS NOT NULL;
CREATE INDEX idx_events_position ON monitoring.events (position_id);
CREATE INDEX idx_events_severity ON monitoring.events (severity);
CREATE INDEX idx_events_symbol ON monitoring.events (symbol) WHERE symbol IS NOT NULL;
CREATE INDEX idx_events_type ON monitoring.events (event_type);

CREATE TABLE monitoring.trailing_stop_state (
    id                     bigserial PRIMARY KEY,
    symbol                 varchar(50) NOT NULL,
    exchange               varchar(50) NOT NULL,
    position_id            bigint,
    state                  varchar(20) DEFAULT 'inactive' NOT NULL,
    is_activated           boolean DEFAULT false NOT NULL,
    highest_price          numeric(20,8),
    lowest_price           numeric(20,8),
    current_stop_price     numeric(20,8),
    stop_order_id          varchar(100),
    activation_price       numeric(20,8),
    activation_percent     numeric(10,4),
    callback_percent       numeric(10,4),
    entry_price            numeric(20,8) NOT NULL,
    side                   varchar(10) NOT NULL,
    quantity               numeric(20,8) NOT NULL,
    update_count           integer DEFAULT 0,
    highest_profit_percent numeric(10,4) DEFAULT 0,
    created_at             timestamp with time zone DEFAULT now() NOT NULL,
    activated_at           timestamp with time zone,
    last_update_time       timestamp with time zone,
    last_sl_update_time    timestamp with time zone,
    last_updated_sl_price  numeric(20,8),
    metadata               jsonb,
    last_peak_save_time    timestamp with time zone,
    last_saved_peak_price  numeric(20,8),
    CONSTRAINT unique_ts_per_symbol_exchange UNIQUE (symbol, exchange),
    CONSTRAINT trailing_stop_state_position_id_fkey FOREIGN KEY (position_id)
        REFERENCES monitoring.positions (id) ON DELETE CASCADE
);

CREATE INDEX idx_ts_state_activated ON monitoring.trailing_stop_state (is_activated);
CREATE INDEX idx_ts_state_created_at ON monitoring.trailing_stop_state (created_at DESC);
CREATE INDEX idx_ts_state_exchange ON monitoring.trailing_stop_state (exchange);
CREATE INDEX idx_ts_state_peak_save_time ON monitoring.trailing_stop_state
    (last_peak_save_time DESC);
CREATE INDEX idx_ts_state_position_id ON monitoring.trailing_stop_state (position_id);
CREATE INDEX idx_ts_state_symbol ON monitoring.trailing_stop_state (symbol);

-- 'LONG'/'Short' are stored as 'long'/'short'.
CREATE TRIGGER normalize_side_trigger BEFORE INSERT OR UPDATE ON monitoring.trailing_stop_state
    FOR EACH ROW EXECUTE FUNCTION monitoring.normalize_trailing_stop_side();

CREATE TABLE monitoring.orders (
    id              serial PRIMARY KEY,
    position_id     varchar(100),
    exchange        varchar(50) NOT NULL,
    symbol          varchar(20) NOT NULL,
    order_id        varchar(100),
    client_order_id varchar(100),
    type            varchar(20) NOT NULL,
    side            varchar(10) NOT NULL,
    size            numeric(20,8),
    price           numeric(20,8),
    status          varchar(20) NOT NULL,
    filled          numeric(20,8) DEFAULT 0,
    remaining       numeric(20,8),
    fee             numeric(20,8),
    fee_currency    varchar(10),
    created_at      timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at      timestamp with time zone DEFAULT now()
);

CREATE INDEX idx_orders_position ON monitoring.orders (position_id);
CREATE INDEX idx_orders_status ON monitoring.orders (status);
