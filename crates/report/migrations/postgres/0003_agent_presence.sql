-- Agents' presence as the journal last left it: what a starq that finds its store without
-- state (a Redis restarted empty, a single box restarted) logs in and pauses again. Kept as the
-- store keeps it: a logout clears every pause, a pause in every queue leaves the pauses in one
-- queue alone, an unpause in every queue clears them all. Times are epoch milliseconds.

-- One row per agent: logged in or not, and the reason of a pause in every queue (NULL: none);
-- changed_ms is the time of the journal record that last changed the row.
CREATE TABLE IF NOT EXISTS agent_presence (
    agent VARCHAR(255) NOT NULL PRIMARY KEY,
    logged_in BOOLEAN NOT NULL DEFAULT FALSE,
    paused_all VARCHAR(255) NULL,
    changed_ms BIGINT NOT NULL
);

-- Pauses in one queue: a row per agent and queue paused in, with the reason.
CREATE TABLE IF NOT EXISTS agent_presence_pauses (
    agent VARCHAR(255) NOT NULL,
    queuename VARCHAR(255) NOT NULL,
    reason VARCHAR(255) NOT NULL DEFAULT '',
    paused_ms BIGINT NOT NULL,
    PRIMARY KEY (agent, queuename)
);
