-- Subnet pools and address scopes (documents like the other resources), and each subnet's
-- pool as an indexed column, so allocating from a pool reads only that pool's subnets.
CREATE TABLE subnetpools (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);
CREATE INDEX subnetpools_project_id ON subnetpools (project_id);

CREATE TABLE address_scopes (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);
CREATE INDEX address_scopes_project_id ON address_scopes (project_id);

ALTER TABLE subnets ADD COLUMN subnetpool_id TEXT COLLATE "C";
CREATE INDEX subnets_subnetpool_id ON subnets (subnetpool_id);
