-- Security groups, their rules (joined into the group's view when read), and which ports
-- use which group.
CREATE TABLE security_groups (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);
CREATE INDEX security_groups_project_id ON security_groups (project_id);
CREATE INDEX security_groups_name ON security_groups (name);

-- `signature` is what makes two rules the same; the unique key refuses duplicates.
CREATE TABLE security_group_rules (
    id TEXT COLLATE "C" PRIMARY KEY,
    security_group_id TEXT COLLATE "C" NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    project_id TEXT COLLATE "C" NOT NULL,
    signature TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL,
    UNIQUE (security_group_id, signature)
);
CREATE INDEX security_group_rules_group ON security_group_rules (security_group_id);
CREATE INDEX security_group_rules_project_id ON security_group_rules (project_id);

CREATE TABLE port_security_groups (
    port_id TEXT COLLATE "C" NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    security_group_id TEXT COLLATE "C" NOT NULL REFERENCES security_groups (id),
    PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX port_security_groups_group ON port_security_groups (security_group_id);
