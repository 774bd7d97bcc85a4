-- The call center's configuration (the catalog): queues and their settings, agents, their
-- memberships and contacts, shared by every instance. A setting's value is text: read as a TOML
-- value when it is one (15, true, ["a", "b"]), otherwise as a string (rrmemory). A contact's
-- nodes are a comma-separated list of node names, empty for every node.
--
-- starq_config_revision holds one row whose revision every change of these tables bumps (by the
-- triggers below, so that a change written by an operator's own tools counts too): instances
-- read it every poll_ms and reload the tables only when it moved.
-- Foreign keys cascade on connections that enable them (starq's do; the sqlite3 shell needs
-- PRAGMA foreign_keys = ON): rows left without their queue or agent are refused at load.

CREATE TABLE IF NOT EXISTS starq_config_revision (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT OR IGNORE INTO starq_config_revision (id, revision) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS starq_queues (
    name TEXT NOT NULL PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS starq_queue_settings (
    queue TEXT NOT NULL REFERENCES starq_queues (name) ON DELETE CASCADE ON UPDATE CASCADE,
    setting TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (queue, setting)
);

CREATE TABLE IF NOT EXISTS starq_agents (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NULL,
    wrapuptime BIGINT NULL
);

CREATE TABLE IF NOT EXISTS starq_memberships (
    agent TEXT NOT NULL REFERENCES starq_agents (id) ON DELETE CASCADE ON UPDATE CASCADE,
    queue TEXT NOT NULL REFERENCES starq_queues (name) ON DELETE CASCADE ON UPDATE CASCADE,
    penalty BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, queue)
);
CREATE INDEX IF NOT EXISTS starq_memberships_queue ON starq_memberships (queue);

CREATE TABLE IF NOT EXISTS starq_contacts (
    agent TEXT NOT NULL REFERENCES starq_agents (id) ON DELETE CASCADE ON UPDATE CASCADE,
    position BIGINT NOT NULL,
    endpoint TEXT NOT NULL,
    nodes TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (agent, position)
);

CREATE TRIGGER IF NOT EXISTS starq_queues_ai AFTER INSERT ON starq_queues
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_queues_au AFTER UPDATE ON starq_queues
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_queues_ad AFTER DELETE ON starq_queues
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_queue_settings_ai AFTER INSERT ON starq_queue_settings
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_queue_settings_au AFTER UPDATE ON starq_queue_settings
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_queue_settings_ad AFTER DELETE ON starq_queue_settings
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_agents_ai AFTER INSERT ON starq_agents
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_agents_au AFTER UPDATE ON starq_agents
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_agents_ad AFTER DELETE ON starq_agents
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_memberships_ai AFTER INSERT ON starq_memberships
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_memberships_au AFTER UPDATE ON starq_memberships
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_memberships_ad AFTER DELETE ON starq_memberships
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_contacts_ai AFTER INSERT ON starq_contacts
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_contacts_au AFTER UPDATE ON starq_contacts
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS starq_contacts_ad AFTER DELETE ON starq_contacts
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
END;
