-- The call center's configuration (the catalog): queues and their settings, agents, their
-- memberships and contacts, shared by every instance. A setting's value is text: read as a TOML
-- value when it is one (15, true, ["a", "b"]), otherwise as a string (rrmemory). A contact's
-- nodes are a comma-separated list of node names, empty for every node.
--
-- starq_config_revision holds one row whose revision every change of these tables bumps (by the
-- triggers below, so that a change written by an operator's own tools counts too): instances
-- read it every poll_ms and reload the tables only when it moved.
-- Safe to run again (IF NOT EXISTS), as every MySQL migration here must be (see 0001).
-- Names compare byte for byte (utf8mb4_bin), as starq compares them: "Sales" is not "sales".

CREATE TABLE IF NOT EXISTS starq_config_revision (
    id INT NOT NULL PRIMARY KEY,
    revision BIGINT NOT NULL,
    CHECK (id = 1)
) DEFAULT CHARSET = utf8mb4 COLLATE utf8mb4_bin;
INSERT IGNORE INTO starq_config_revision (id, revision) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS starq_queues (
    name VARCHAR(255) NOT NULL PRIMARY KEY
) DEFAULT CHARSET = utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE IF NOT EXISTS starq_queue_settings (
    queue VARCHAR(255) NOT NULL,
    setting VARCHAR(255) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (queue, setting),
    CONSTRAINT starq_queue_settings_queue FOREIGN KEY (queue) REFERENCES starq_queues (name)
        ON DELETE CASCADE ON UPDATE CASCADE
) DEFAULT CHARSET = utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE IF NOT EXISTS starq_agents (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    name VARCHAR(255) NULL,
    wrapuptime BIGINT NULL
) DEFAULT CHARSET = utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE IF NOT EXISTS starq_memberships (
    agent VARCHAR(255) NOT NULL,
    queue VARCHAR(255) NOT NULL,
    penalty BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, queue),
    KEY starq_memberships_queue (queue),
    CONSTRAINT starq_memberships_agent FOREIGN KEY (agent) REFERENCES starq_agents (id)
        ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT starq_memberships_queue FOREIGN KEY (queue) REFERENCES starq_queues (name)
        ON DELETE CASCADE ON UPDATE CASCADE
) DEFAULT CHARSET = utf8mb4 COLLATE utf8mb4_bin;

CREATE TABLE IF NOT EXISTS starq_contacts (
    agent VARCHAR(255) NOT NULL,
    position BIGINT NOT NULL,
    endpoint VARCHAR(255) NOT NULL,
    nodes VARCHAR(1024) NOT NULL DEFAULT '',
    PRIMARY KEY (agent, position),
    CONSTRAINT starq_contacts_agent FOREIGN KEY (agent) REFERENCES starq_agents (id)
        ON DELETE CASCADE ON UPDATE CASCADE
) DEFAULT CHARSET = utf8mb4 COLLATE utf8mb4_bin;

-- One trigger per table and statement kind (MySQL takes one event per trigger). Rows changed
-- by a cascade fire no trigger in MySQL: the change of their parent row counts for them.
CREATE TRIGGER IF NOT EXISTS starq_queues_ai AFTER INSERT ON starq_queues FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_queues_au AFTER UPDATE ON starq_queues FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_queues_ad AFTER DELETE ON starq_queues FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_queue_settings_ai AFTER INSERT ON starq_queue_settings FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_queue_settings_au AFTER UPDATE ON starq_queue_settings FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_queue_settings_ad AFTER DELETE ON starq_queue_settings FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_agents_ai AFTER INSERT ON starq_agents FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_agents_au AFTER UPDATE ON starq_agents FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_agents_ad AFTER DELETE ON starq_agents FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_memberships_ai AFTER INSERT ON starq_memberships FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_memberships_au AFTER UPDATE ON starq_memberships FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_memberships_ad AFTER DELETE ON starq_memberships FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_contacts_ai AFTER INSERT ON starq_contacts FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_contacts_au AFTER UPDATE ON starq_contacts FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
CREATE TRIGGER IF NOT EXISTS starq_contacts_ad AFTER DELETE ON starq_contacts FOR EACH ROW
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
