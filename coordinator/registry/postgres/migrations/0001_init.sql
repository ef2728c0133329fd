-- The registry's first schema. Records are JSON documents (as in the Badger
-- store) keyed by their id; the columns beside them are what is looked up
-- or ordered by. Ids are bytea, as Badger's keys are bytes: any string is
-- one (a client's request id may hold a NUL, which text refuses), and
-- listings come in Badger's order. Documents are json, not jsonb: jsonb
-- refuses a string with a NUL (\u0000), which the Badger store keeps; json
-- keeps the text as written.

CREATE TABLE pairings (
	id  bytea PRIMARY KEY,
	doc json NOT NULL
);

CREATE TABLE devices (
	id  bytea PRIMARY KEY,
	doc json NOT NULL
);

CREATE TABLE keys (
	id  bytea PRIMARY KEY,
	doc json NOT NULL
);

-- Finished signatures kept for request-id replays: the first write wins.
CREATE TABLE sign_results (
	request_id bytea PRIMARY KEY,
	doc        json NOT NULL
);

-- One record per session; listed by start time, newest first by the index.
CREATE TABLE sessions (
	id      bytea PRIMARY KEY,
	started timestamptz NOT NULL,
	doc     json NOT NULL
);
CREATE INDEX sessions_started ON sessions (started, id);

-- API tokens, under the hash of the token; id is the hash's public prefix.
CREATE TABLE tokens (
	hash bytea PRIMARY KEY,
	id   bytea NOT NULL,
	doc  json NOT NULL
);
CREATE INDEX tokens_id ON tokens (id);

CREATE TABLE reshare_jobs (
	key_id bytea PRIMARY KEY,
	doc    json NOT NULL
);

CREATE TABLE roster (
	height bigint PRIMARY KEY CHECK (height >= 0),
	doc    json NOT NULL
);

CREATE TABLE roster_pending (
	id  bytea PRIMARY KEY,
	doc json NOT NULL
);

-- The audit chain: entry seq is sealed onto entry seq-1 (internal/auditlog).
CREATE TABLE audit (
	seq   bigint PRIMARY KEY CHECK (seq >= 1),
	entry json NOT NULL
);

-- The chain's head: one row, locked (SELECT ... FOR UPDATE) by every append
-- for the rest of its transaction, so that appends from any number of
-- processes queue and the chain cannot fork. seq 0: the chain is empty.
CREATE TABLE audit_head (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	seq bigint NOT NULL CHECK (seq >= 0)
);
INSERT INTO audit_head (one, seq) VALUES (true, 0);
