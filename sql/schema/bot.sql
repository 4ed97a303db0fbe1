-- The bot's `monitoring` schema as read off its own schema dump (../shared/BOT_FACTS.md).
-- Used by `botmon demo` and the tests; botmon never creates or alters anything in a real bot
-- database. The schema name is fixed here: the demo and the tests use the defaults.

CREATE SCHEMA IF NOT EXISTS monitoring;

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
    status                      varchar(20) NOT NULL DEFAULT 'active',
    exit_reason                 text,
    opened_at                   timestamp with time zone DEFAULT now(),
    closed_at                   timestamp with time zone,
    updated_at                  timestamp with time zone DEFAULT now(),
    leverage                    numeric(10,2) DEFAULT 1.0,
    stop_loss                   numeric(20,8),
    take_profit                 numeric(20,8),
    pnl                         numeric(20,8),
    pnl_percentage              numeric(10,4),
    trailing_activated          boolean DEFAULT false,
    created_at                  timestamp with time zone DEFAULT now(),
    error_details               jsonb,
    retry_count                 integer DEFAULT 0,
    last_error_at               timestamp with time zone,
    has_trailing_stop           boolean NOT NULL DEFAULT true,
    has_stop_loss               boolean DEFAULT false,
    exchange_order_id           varchar(100),
    trailing_activation_percent numeric(10,4),
    trailing_callback_percent   numeric(10,4),
    signal_stop_loss_percent    numeric(10,4),
    spread_at_entry             numeric(10,4)
);

CREATE INDEX idx_positions_status ON monitoring.positions (status);
CREATE INDEX idx_positions_symbol ON monitoring.positions (symbol);
CREATE INDEX idx_positions_opened_at ON monitoring.positions (opened_at);
CREATE INDEX idx_positions_exit_reason ON monitoring.positions (exit_reason)
    WHERE exit_reason IS NOT NULL;
CREATE INDEX idx_positions_exchange_order_id ON monitoring.positions (exchange_order_id);
-- At most one open position per (symbol, exchange).
CREATE UNIQUE INDEX idx_unique_active_position ON monitoring.positions (symbol, exchange)
    WHERE status IN ('active', 'entry_placed', 'pending_sl', 'pending_entry');

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
    created_at     timestamp with time zone DEFAULT now()
);

CREATE INDEX idx_events_created_at ON monitoring.events (created_at DESC);
CREATE INDEX idx_events_type ON monitoring.events (event_type);
CREATE INDEX idx_events_position_id ON monitoring.events (position_id);
CREATE INDEX idx_events_correlation_id ON monitoring.events (correlation_id);
CREATE INDEX idx_events_severity ON monitoring.events (severity);
CREATE INDEX idx_events_symbol ON monitoring.events (symbol) WHERE symbol IS NOT NULL;
CREATE INDEX idx_events_exchange ON monitoring.events (exchange) WHERE exchange IS NOT NULL;
CREATE INDEX idx_events_errors ON monitoring.events (created_at DESC)
    WHERE severity IN ('ERROR', 'CRITICAL');

CREATE TABLE monitoring.trailing_stop_state (
    id                     bigserial PRIMARY KEY,
    symbol                 varchar(20) NOT NULL,
    exchange               varchar(50) NOT NULL,
    position_id            bigint REFERENCES monitoring.positions (id) ON DELETE CASCADE,
    state                  varchar(20) NOT NULL DEFAULT 'inactive',
    is_activated           boolean DEFAULT false,
    highest_price          numeric(20,8),
    lowest_price           numeric(20,8),
    current_stop_price     numeric(20,8),
    stop_order_id          varchar(100),
    activation_price       numeric(20,8),
    activation_percent     numeric(10,4),
    callback_percent       numeric(10,4),
    entry_price            numeric(20,8),
    side                   varchar(10),
    quantity               numeric(20,8),
    update_count           integer DEFAULT 0,
    highest_profit_percent numeric(10,4),
    created_at             timestamp with time zone DEFAULT now(),
    activated_at           timestamp with time zone,
    last_update_time       timestamp with time zone,
    last_sl_update_time    timestamp with time zone,
    last_updated_sl_price  numeric(20,8),
    metadata               jsonb,
    last_peak_save_time    timestamp with time zone,
    last_saved_peak_price  numeric(20,8),
    UNIQUE (symbol, exchange)
);

CREATE TABLE monitoring.orders (
    id              serial PRIMARY KEY,
    position_id     varchar(100),
    exchange        varchar(50),
    symbol          varchar(50),
    order_id        varchar(100),
    client_order_id varchar(100),
    type            varchar(20),
    side            varchar(10),
    size            numeric(20,8),
    price           numeric(20,8),
    status          varchar(20),
    filled          numeric(20,8) DEFAULT 0,
    remaining       numeric(20,8),
    fee             numeric(20,8),
    fee_currency    varchar(10),
    created_at      timestamp with time zone DEFAULT now(),
    updated_at      timestamp with time zone DEFAULT now()
);
