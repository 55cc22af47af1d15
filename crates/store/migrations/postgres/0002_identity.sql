-- Identity (Keystone v3 subset), quotas. Names are unique where Keystone makes them unique.

CREATE TABLE domains (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    description TEXT COLLATE "C" NOT NULL,
    enabled BOOLEAN NOT NULL
);

CREATE TABLE projects (
    id TEXT COLLATE "C" PRIMARY KEY,
    domain_id TEXT COLLATE "C" NOT NULL REFERENCES domains (id),
    name TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL,
    enabled BOOLEAN NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY,
    domain_id TEXT COLLATE "C" NOT NULL REFERENCES domains (id),
    name TEXT COLLATE "C" NOT NULL,
    password_hash TEXT COLLATE "C" NOT NULL,
    enabled BOOLEAN NOT NULL,
    default_project_id TEXT COLLATE "C",
    UNIQUE (domain_id, name)
);

CREATE TABLE roles (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE
);

CREATE TABLE role_assignments (
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id TEXT COLLATE "C" NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, user_id, role_id)
);

-- Revoked tokens by audit id; loaded into memory at start so validation needs no read.
CREATE TABLE revoked_tokens (
    audit_id TEXT COLLATE "C" PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- Per-project quota overrides; absent rows mean the configured default.
CREATE TABLE quotas (
    project_id TEXT COLLATE "C" NOT NULL,
    resource TEXT COLLATE "C" NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
