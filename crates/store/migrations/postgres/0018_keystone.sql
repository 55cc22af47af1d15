-- Keystone beyond passwords: application credentials, role assignments on a domain or on
-- the system, the service catalog as data, and users' optional email and description.

ALTER TABLE users ADD COLUMN email TEXT COLLATE "C";
ALTER TABLE users ADD COLUMN description TEXT COLLATE "C";

-- Application credentials (keystone/application_credential): a secret (hashed like a
-- password) that authenticates as its user, scoped to its project with a subset of the
-- user's roles there. Deleted with their user or project.
CREATE TABLE application_credentials (
    id TEXT COLLATE "C" PRIMARY KEY,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C",
    secret_hash TEXT COLLATE "C" NOT NULL,
    -- Unix seconds; NULL = never.
    expires_at BIGINT,
    unrestricted BOOLEAN NOT NULL,
    UNIQUE (user_id, name)
);
CREATE TABLE application_credential_roles (
    application_credential_id TEXT COLLATE "C" NOT NULL REFERENCES application_credentials (id) ON DELETE CASCADE,
    role_id TEXT COLLATE "C" NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (application_credential_id, role_id)
);

-- Tokens issued with an application credential are revoked when it is deleted.
ALTER TABLE revocation_events ADD COLUMN application_credential_id TEXT COLLATE "C";

-- Role assignments whose target is a domain (target_id = the domain id) or the system
-- (target_id = 'all'); project assignments stay in role_assignments.
CREATE TABLE scoped_role_assignments (
    target_type TEXT COLLATE "C" NOT NULL CHECK (target_type IN ('domain', 'system')),
    target_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id TEXT COLLATE "C" NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (target_type, target_id, user_id, role_id)
);
-- keystone-manage bootstrap gives its admin the admin role on the system; an existing
-- deployment's bootstrap admin gets it here.
INSERT INTO scoped_role_assignments (target_type, target_id, user_id, role_id)
SELECT 'system', 'all', u.id, r.id FROM users u JOIN roles r ON r.name = 'admin'
WHERE u.domain_id = 'default' AND u.name = 'admin';

-- The service catalog (keystone/catalog). URLs may hold $(public_url)s, replaced by the
-- server's public URL when the catalog is rendered.
CREATE TABLE services (
    id TEXT COLLATE "C" PRIMARY KEY,
    type TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL,
    enabled BOOLEAN NOT NULL
);
CREATE TABLE endpoints (
    id TEXT COLLATE "C" PRIMARY KEY,
    service_id TEXT COLLATE "C" NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    interface TEXT COLLATE "C" NOT NULL,
    region_id TEXT COLLATE "C",
    url TEXT COLLATE "C" NOT NULL,
    enabled BOOLEAN NOT NULL
);
-- Whether the identity and network services were seeded (once: an operator's deletions stick).
CREATE TABLE catalog_seeded (
    seeded BOOLEAN NOT NULL
);
