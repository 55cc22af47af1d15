-- Floating IPs (their address is held by a `network:floatingip` port on the external network).
CREATE TABLE floatingips (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX floatingips_project_id ON floatingips (project_id);
