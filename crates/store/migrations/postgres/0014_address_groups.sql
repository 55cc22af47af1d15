-- Address groups (documents like the other resources), and the group a security group rule
-- names as its remote: an indexed column, so "is the group in use" and "which projects'
-- rules use it" are index lookups, and a reference the database keeps valid.
CREATE TABLE address_groups (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);
CREATE INDEX address_groups_project_id ON address_groups (project_id);

ALTER TABLE security_group_rules ADD COLUMN remote_address_group_id TEXT COLLATE "C" REFERENCES address_groups (id);
CREATE INDEX security_group_rules_remote_address_group ON security_group_rules (remote_address_group_id);
