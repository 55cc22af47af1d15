-- Token signing keys, for servers that share one database: every replica signs and
-- validates with the same keys, and `neutrino keys rotate` rotates them for all at once.
-- The highest id that is not staged signs; the staged key (at most one) only validates, so
-- every replica holds it before anyone signs with it. `key` is 32 random bytes, base64url.
CREATE TABLE signing_keys (
    id BIGINT PRIMARY KEY,
    key TEXT COLLATE "C" NOT NULL,
    staged BOOLEAN NOT NULL DEFAULT FALSE
);
