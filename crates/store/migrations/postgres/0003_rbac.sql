-- RBAC policies: who else may use an object. A network's `shared` flag is the policy
-- (network, access_as_shared, '*'); its `router:external` flag is (network, access_as_external, '*').
CREATE TABLE rbac_policies (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    object_type TEXT COLLATE "C" NOT NULL,
    object_id TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    target_project TEXT COLLATE "C" NOT NULL,
    UNIQUE (object_type, object_id, action, target_project)
);
CREATE INDEX rbac_policies_object ON rbac_policies (object_id);
CREATE INDEX rbac_policies_target ON rbac_policies (target_project);
