-- Token revocation events, as Keystone's revocation_event table: a token issued at or before
-- issued_before (Unix microseconds) whose claims match every non-null field is revoked.
-- prune_after (Unix seconds) is when every token the event can match has expired.
CREATE TABLE revocation_events (
    id BIGSERIAL PRIMARY KEY,
    user_id TEXT COLLATE "C",
    project_id TEXT COLLATE "C",
    role_id TEXT COLLATE "C",
    issued_before BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL,
    prune_after BIGINT NOT NULL
);
CREATE INDEX revocation_events_prune_after ON revocation_events (prune_after);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
