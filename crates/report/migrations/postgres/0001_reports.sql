-- starq-report tables for PostgreSQL. Times in UTC.

-- Asterisk's realtime queue_log (contrib/realtime/mysql/mysql_queue_log.sql) with data1..data5,
-- plus event_id: "<journal seq>.<line index>", unique, so a replayed record inserts nothing.
CREATE TABLE IF NOT EXISTS queue_log (
    id BIGSERIAL PRIMARY KEY,
    time TIMESTAMP(6) NOT NULL,
    callid VARCHAR(255) NOT NULL DEFAULT '',
    queuename VARCHAR(255) NOT NULL DEFAULT '',
    agent VARCHAR(255) NOT NULL DEFAULT '',
    event VARCHAR(32) NOT NULL DEFAULT '',
    data1 VARCHAR(255) NOT NULL DEFAULT '',
    data2 VARCHAR(255) NOT NULL DEFAULT '',
    data3 VARCHAR(255) NOT NULL DEFAULT '',
    data4 VARCHAR(255) NOT NULL DEFAULT '',
    data5 VARCHAR(255) NOT NULL DEFAULT '',
    event_id VARCHAR(48) NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS queue_log_event_id ON queue_log (event_id);
CREATE INDEX IF NOT EXISTS queue_log_time ON queue_log (time);
CREATE INDEX IF NOT EXISTS queue_log_callid ON queue_log (callid);

-- One row per caller (one stay in one queue). Times are epoch milliseconds.
CREATE TABLE IF NOT EXISTS queue_calls (
    call_id VARCHAR(255) NOT NULL PRIMARY KEY,
    channel VARCHAR(255) NOT NULL,
    step INT NOT NULL,
    queuename VARCHAR(255) NOT NULL,
    node VARCHAR(255) NOT NULL,
    caller_id VARCHAR(255) NOT NULL,
    original_position INT NOT NULL,
    entered_ms BIGINT NOT NULL,
    answered_ms BIGINT NULL,
    ended_ms BIGINT NULL,
    wait_ms BIGINT NULL,
    ring_ms BIGINT NULL,
    talk_ms BIGINT NULL,
    agent VARCHAR(255) NULL,
    outcome VARCHAR(32) NULL,
    missed INT NOT NULL DEFAULT 0,
    next_queue VARCHAR(255) NULL
);
CREATE INDEX IF NOT EXISTS queue_calls_queue_entered ON queue_calls (queuename, entered_ms);
CREATE INDEX IF NOT EXISTS queue_calls_channel ON queue_calls (channel);

-- Agent login and pause intervals; ended_ms is NULL while open. queuename is '' for logins
-- and pauses in every queue.
CREATE TABLE IF NOT EXISTS agent_sessions (
    id BIGSERIAL PRIMARY KEY,
    agent VARCHAR(255) NOT NULL,
    kind VARCHAR(8) NOT NULL,
    queuename VARCHAR(255) NOT NULL DEFAULT '',
    reason VARCHAR(255) NOT NULL DEFAULT '',
    started_ms BIGINT NOT NULL,
    ended_ms BIGINT NULL
);
CREATE INDEX IF NOT EXISTS agent_sessions_open ON agent_sessions (agent, kind, ended_ms);

-- How far each reporter (journal consumer group) has written: records at or below last_seq
-- were committed and are skipped when the journal delivers them again.
CREATE TABLE IF NOT EXISTS report_progress (
    consumer VARCHAR(255) NOT NULL PRIMARY KEY,
    last_seq BIGINT NOT NULL
);

