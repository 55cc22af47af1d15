-- Routers (interfaces and gateways are ports owned by the router).
CREATE TABLE routers (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);
CREATE INDEX routers_project_id ON routers (project_id);
CREATE INDEX routers_name ON routers (name);
