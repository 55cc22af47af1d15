-- binding-extended: a port's INACTIVE bindings, at most one per host. The ACTIVE binding
-- stays where it was (the port's document and its port_bindings row). A binding made for a
-- move to a host (wire_ahead = 1) is wired by that host's agent before activation; the one
-- an activation leaves on the old host (wire_ahead = 0) is not. Failed bindings are never
-- stored here (creating one answers PortBindingError), so segment_id is '' only for the
-- binding left by activating a port that was not bound.
CREATE TABLE port_inactive_bindings (
    port_id TEXT COLLATE "C" NOT NULL REFERENCES ports (id) ON DELETE CASCADE,
    host TEXT COLLATE "C" NOT NULL,
    network_id TEXT COLLATE "C" NOT NULL,
    segment_id TEXT COLLATE "C" NOT NULL,
    vif_type TEXT COLLATE "C" NOT NULL,
    vnic_type TEXT COLLATE "C" NOT NULL,
    -- JSON objects.
    profile TEXT COLLATE "C" NOT NULL,
    vif_details TEXT COLLATE "C" NOT NULL,
    wire_ahead BOOLEAN NOT NULL,
    -- The host's agent reported the port wired there.
    wired BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (port_id, host)
);
CREATE INDEX port_inactive_bindings_host ON port_inactive_bindings (host);
