-- The questions `neutrino diagnose` asks host agents, and their answers. A question lives a
-- few seconds: the diagnosis that asked deletes it when it has judged, and every insert
-- first deletes the expired ones (a server that died mid-diagnosis leaves none for long).
-- `created_ms`/`answered_ms` are Unix milliseconds; `body` is the question's JSON (what the
-- agent is sent), `answer` the agent's (NULL while pending).
CREATE TABLE host_questions (
    id TEXT COLLATE "C" PRIMARY KEY,
    host TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    answer TEXT,
    answered_ms BIGINT
);
CREATE INDEX host_questions_host ON host_questions (host, created_ms);
CREATE INDEX host_questions_created ON host_questions (created_ms);
