-- Flavors and service profiles (documents like the other resources; neither has an owner,
-- so project_id is ''), the associations between them, and the flavor each router was
-- created with. The foreign keys are the in-use checks: a profile a flavor names cannot
-- go (ServiceProfileInUse), nor a flavor a router names (FlavorInUse); a flavor's
-- associations go with it, and a router's flavor row with the router.
CREATE TABLE flavors (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);

CREATE TABLE service_profiles (
    id TEXT COLLATE "C" PRIMARY KEY,
    project_id TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL
);

-- `position` orders a flavor's profiles as they were associated (SQLite reads its rowid).
CREATE TABLE flavor_service_profiles (
    flavor_id TEXT COLLATE "C" NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    service_profile_id TEXT COLLATE "C" NOT NULL REFERENCES service_profiles (id),
    position BIGSERIAL NOT NULL,
    PRIMARY KEY (flavor_id, service_profile_id)
);
CREATE INDEX flavor_service_profiles_profile ON flavor_service_profiles (service_profile_id);

CREATE TABLE router_flavors (
    router_id TEXT COLLATE "C" PRIMARY KEY REFERENCES routers (id) ON DELETE CASCADE,
    flavor_id TEXT COLLATE "C" NOT NULL REFERENCES flavors (id)
);
CREATE INDEX router_flavors_flavor ON router_flavors (flavor_id);

-- Routers stored before l3-flavors show `flavor_id: null` like new ones (lists of stored
-- documents are served without decoding them).
UPDATE routers SET body = (body::jsonb || '{"flavor_id": null}')::text WHERE NOT (body::jsonb ? 'flavor_id');
