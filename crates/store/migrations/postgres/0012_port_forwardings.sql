-- Port forwardings' API records (JSON), one row each; their floating IP's document holds
-- the shorter view Neutron shows in a floating IP (no description).
CREATE TABLE port_forwardings (
    id TEXT COLLATE "C" PRIMARY KEY,
    floatingip_id TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);
CREATE INDEX port_forwardings_floatingip_id ON port_forwardings (floatingip_id);
