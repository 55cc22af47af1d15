-- A failed binding keeps its reason, so the host's agent sees why a port meant for it is
-- not in its state (segment_id is then empty).
ALTER TABLE port_bindings ADD COLUMN failure TEXT COLLATE "C" NOT NULL DEFAULT '';
