-- Floating IPs (their address is held by a `network:floatingip` port on the external network).
CREATE TABLE floatingips (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);
CREATE INDEX floatingips_project_id ON floatingips (project_id);
