-- The keys by member device and by reshare in flight, so that the
-- coordinator reads a device's keys (when the device connects, in a page
-- of the device listing, at its revocation) and the reshares a previous run
-- left in flight (at start) without reading every key.
--
-- members: the ids of the key's member devices, as registry.KeyMembers
-- names them: "holders", "past_holders", "in_flight"."holders" and the
-- "device" of each of "pending_restores" (GIN index: members @> ARRAY[id]).
-- in_flight: the document has an "in_flight" reshare (a partial index of
-- the ids of those keys, in id order).
--
-- Both are derived from the document, by the trigger keys_index on every
-- insert and update of a row, whoever writes it: a coordinator of this
-- version, Bulk's COPY, and a coordinator of an older version still
-- running during an upgrade, whose upsert sets doc alone. Without the
-- trigger, such an update would keep the columns of the document it
-- replaced (a device taken out of the key would still find it, one brought
-- in would not, a finished reshare would stay in flight) and such an insert
-- would take the defaults, found by neither lookup until rewritten. So the
-- defaults below are never what a row keeps; they are what the ALTER gives
-- the rows stored before this migration until the UPDATE below fills them.
--
-- PostgreSQL's json functions refuse a document with a \u0000 anywhere
-- (they cannot make it text), which the store keeps (an odd key id): the
-- functions read key_doc(doc), where each \u0000 is \ufffd. A member id
-- never holds one: the store refuses such a key (registry.ErrMemberID),
-- in every store alike, and the coordinator's device ids are hex.

ALTER TABLE keys
	ADD COLUMN members text[] NOT NULL DEFAULT '{}',
	ADD COLUMN in_flight boolean NOT NULL DEFAULT false;

-- key_doc is doc with each \u0000 escape (one not preceded by an odd run
-- of backslashes, which would make it the text "\u0000") as \ufffd.
CREATE FUNCTION key_doc(doc json) RETURNS json LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN strpos(doc::text, '\u0000') = 0 THEN doc
		ELSE regexp_replace(doc::text, '(?<!\\)((?:\\\\)*)\\u0000', '\1\\ufffd', 'g')::json END
$$;

CREATE FUNCTION key_members(doc json) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(array_agg(DISTINCT m), '{}') FROM (
		SELECT m FROM (VALUES (doc->'holders'), (doc->'past_holders'), (doc->'in_flight'->'holders')) AS l(ids),
			LATERAL json_array_elements_text(CASE WHEN json_typeof(ids) = 'array' THEN ids ELSE '[]' END) AS m
		UNION ALL
		SELECT r->>'device' FROM json_array_elements(
			CASE WHEN json_typeof(doc->'pending_restores') = 'array' THEN doc->'pending_restores' ELSE '[]' END) AS r
	) AS ms(m)
	WHERE m IS NOT NULL
$$;

CREATE FUNCTION key_in_flight(doc json) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(json_typeof(doc->'in_flight') = 'object', false)
$$;

CREATE FUNCTION keys_index() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	doc json := key_doc(NEW.doc);
BEGIN
	NEW.members := key_members(doc);
	NEW.in_flight := key_in_flight(doc);
	RETURN NEW;
END
$$;

CREATE TRIGGER keys_index BEFORE INSERT OR UPDATE ON keys
	FOR EACH ROW EXECUTE FUNCTION keys_index();

-- Fills the rows stored before (the trigger computes both columns).
UPDATE keys SET doc = doc;

-- Without fastupdate: keys are written seldom (a keygen, a reshare) and
-- read on every device connection, which would also scan the pending
-- entries a fastupdate GIN index keeps until a vacuum merges them.
CREATE INDEX keys_members ON keys USING gin (members) WITH (fastupdate = off);
CREATE INDEX keys_in_flight ON keys (id) WHERE in_flight;
