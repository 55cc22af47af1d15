-- Host agents and port bindings.
--
-- An agent row is its wire document (without `alive`, which is computed from
-- `heartbeat_at` when read) keyed by (agent_type, host), as Neutron's agents table.
CREATE TABLE agents (
    id TEXT COLLATE "C" PRIMARY KEY,
    agent_type TEXT COLLATE "C" NOT NULL,
    host TEXT COLLATE "C" NOT NULL,
    -- Unix seconds of the last report.
    heartbeat_at BIGINT NOT NULL,
    body TEXT COLLATE "C" NOT NULL,
    UNIQUE (agent_type, host)
);

-- Successful bindings only: which host wires a port, on which segment. Indexed by host
-- (an agent's desired state) and by network (the other hosts a network spans).
CREATE TABLE port_bindings (
    port_id TEXT COLLATE "C" PRIMARY KEY REFERENCES ports (id) ON DELETE CASCADE,
    host TEXT COLLATE "C" NOT NULL,
    network_id TEXT COLLATE "C" NOT NULL,
    segment_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX port_bindings_host ON port_bindings (host);
CREATE INDEX port_bindings_network_id ON port_bindings (network_id);
