-- auto-allocated-topology: each project's topology (at most one: the key; two racing
-- requests cannot both record one), found also by its network so deleting the network
-- forgets it; and the deployment's default external network (at most one: the single slot).
CREATE TABLE auto_allocated_topologies (
    project_id TEXT COLLATE "C" PRIMARY KEY,
    network_id TEXT COLLATE "C" NOT NULL,
    router_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX auto_allocated_topologies_network_id ON auto_allocated_topologies (network_id);

CREATE TABLE default_external_network (
    slot INTEGER PRIMARY KEY CHECK (slot = 1),
    network_id TEXT COLLATE "C" NOT NULL
);
