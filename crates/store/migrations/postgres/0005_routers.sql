-- Routers (interfaces and gateways are ports owned by the router).
CREATE TABLE routers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX routers_project_id ON routers (project_id);
CREATE INDEX routers_name ON routers (name);
