-- Port forwardings' API records (JSON), one row each; their floating IP's document holds
-- the shorter view Neutron shows in a floating IP (no description).
CREATE TABLE port_forwardings (
    id TEXT PRIMARY KEY,
    floatingip_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX port_forwardings_floatingip_id ON port_forwardings (floatingip_id);
