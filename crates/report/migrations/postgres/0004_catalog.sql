-- The call center's configuration (the catalog): queues and their settings, agents, their
-- memberships and contacts, shared by every instance. A setting's value is text: read as a TOML
-- value when it is one (15, true, ["a", "b"]), otherwise as a string (rrmemory). A contact's
-- nodes are a comma-separated list of node names, empty for every node.
--
-- starq_config_revision holds one row whose revision every change of these tables bumps (by the
-- triggers below, so that a change written by an operator's own tools counts too): instances
-- read it every poll_ms and reload the tables only when it moved.

CREATE TABLE IF NOT EXISTS starq_config_revision (
    id INT NOT NULL PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO starq_config_revision (id, revision) VALUES (1, 0) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS starq_queues (
    name VARCHAR(255) NOT NULL PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS starq_queue_settings (
    queue VARCHAR(255) NOT NULL REFERENCES starq_queues (name)
        ON DELETE CASCADE ON UPDATE CASCADE,
    setting VARCHAR(255) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (queue, setting)
);

CREATE TABLE IF NOT EXISTS starq_agents (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    name VARCHAR(255) NULL,
    wrapuptime BIGINT NULL
);

CREATE TABLE IF NOT EXISTS starq_memberships (
    agent VARCHAR(255) NOT NULL REFERENCES starq_agents (id)
        ON DELETE CASCADE ON UPDATE CASCADE,
    queue VARCHAR(255) NOT NULL REFERENCES starq_queues (name)
        ON DELETE CASCADE ON UPDATE CASCADE,
    penalty BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, queue)
);
CREATE INDEX IF NOT EXISTS starq_memberships_queue ON starq_memberships (queue);

CREATE TABLE IF NOT EXISTS starq_contacts (
    agent VARCHAR(255) NOT NULL REFERENCES starq_agents (id)
        ON DELETE CASCADE ON UPDATE CASCADE,
    position BIGINT NOT NULL,
    endpoint VARCHAR(255) NOT NULL,
    nodes VARCHAR(1024) NOT NULL DEFAULT '',
    PRIMARY KEY (agent, position)
);

CREATE OR REPLACE FUNCTION starq_bump_config_revision() RETURNS trigger AS $$
BEGIN
    UPDATE starq_config_revision SET revision = revision + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Once per statement (not per row): a statement that changes a thousand rows moves the
-- revision once, and TRUNCATE counts too.
CREATE TRIGGER starq_queues_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON starq_queues
    FOR EACH STATEMENT EXECUTE FUNCTION starq_bump_config_revision();
CREATE TRIGGER starq_queue_settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON starq_queue_settings
    FOR EACH STATEMENT EXECUTE FUNCTION starq_bump_config_revision();
CREATE TRIGGER starq_agents_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON starq_agents
    FOR EACH STATEMENT EXECUTE FUNCTION starq_bump_config_revision();
CREATE TRIGGER starq_memberships_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON starq_memberships
    FOR EACH STATEMENT EXECUTE FUNCTION starq_bump_config_revision();
CREATE TRIGGER starq_contacts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON starq_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION starq_bump_config_revision();
