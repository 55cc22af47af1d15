-- Core resources. Each resource row keeps its full wire document in `body` plus the columns
-- that are indexed or constrained. Relations whose invariants the database must enforce
-- (one address per subnet, one MAC per network, one segment id per type) are tables of
-- their own. The PostgreSQL translation of ../sqlite/0001_core.sql (BIGSERIAL for AUTOINCREMENT).

CREATE TABLE networks (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);
CREATE INDEX networks_project_id ON networks (project_id);
CREATE INDEX networks_name ON networks (name);

CREATE TABLE subnets (
    id TEXT COLLATE "C" PRIMARY KEY,
    network_id TEXT COLLATE "C" NOT NULL REFERENCES networks (id),
    project_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);
CREATE INDEX subnets_network_id ON subnets (network_id);
CREATE INDEX subnets_project_id ON subnets (project_id);
CREATE INDEX subnets_name ON subnets (name);

CREATE TABLE ports (
    id TEXT COLLATE "C" PRIMARY KEY,
    network_id TEXT COLLATE "C" NOT NULL REFERENCES networks (id),
    project_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    device_id TEXT COLLATE "C" NOT NULL,
    device_owner TEXT COLLATE "C" NOT NULL,
    mac_address TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL,
    UNIQUE (network_id, mac_address)
);
CREATE INDEX ports_network_id ON ports (network_id);
CREATE INDEX ports_project_id ON ports (project_id);
CREATE INDEX ports_name ON ports (name);
CREATE INDEX ports_device_id ON ports (device_id);

-- The address ledger: the primary key makes a double allocation impossible.
CREATE TABLE ip_allocations (
    subnet_id TEXT COLLATE "C" NOT NULL REFERENCES subnets (id),
    ip_address TEXT COLLATE "C" NOT NULL,
    port_id TEXT COLLATE "C" NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    network_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX ip_allocations_port_id ON ip_allocations (port_id);

-- Segments: the unique key makes a segmentation id (or a flat physnet) allocatable once.
CREATE TABLE network_segments (
    id TEXT COLLATE "C" PRIMARY KEY,
    -- Deferred: the segment id is allocated before the network row that records it.
    network_id TEXT COLLATE "C" NOT NULL REFERENCES networks (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    network_type TEXT COLLATE "C" NOT NULL,
    physical_network TEXT COLLATE "C" NOT NULL,
    segmentation_id BIGINT NOT NULL,
    UNIQUE (network_type, physical_network, segmentation_id)
);
CREATE INDEX network_segments_network_id ON network_segments (network_id);

-- The change feed: every write appends here in its own transaction, giving agents a
-- global, monotonic sequence to watch.
CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    resource TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    op TEXT COLLATE "C" NOT NULL,
    project_id TEXT COLLATE "C" NOT NULL
);
