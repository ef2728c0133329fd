-- Several coordinators share one database; one of them, the active one,
-- holds the leader lease and is the only one that writes. The lease is one
-- row. token is the fencing token: it grows by one each time a replica takes
-- the lease, and every write transaction of a replica checks (under a share
-- lock on this row) that the token is still the one it took, so a replica
-- that lost the lease - paused, partitioned, or slow to notice - can never
-- write again. Times are the database server's clock (now()), never a
-- replica's, so replicas' clocks need not agree.
CREATE TABLE leader_lease (
	one         boolean PRIMARY KEY DEFAULT true CHECK (one),
	token       bigint NOT NULL CHECK (token >= 0),
	holder      text NOT NULL,
	address     text NOT NULL,
	-- the TLS certificate the holder serves: a replica started without the
	-- shared identity refuses to stand by beside it
	fingerprint text NOT NULL,
	acquired_at timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL
);
INSERT INTO leader_lease (one, token, holder, address, fingerprint, acquired_at, expires_at)
	VALUES (true, 0, '', '', '', '-infinity', '-infinity');

-- The replicas that took part lately, by the address devices and clients
-- dial; pairing codes carry every one seen within a day.
CREATE TABLE replicas (
	address text PRIMARY KEY,
	holder  text NOT NULL,
	seen_at timestamptz NOT NULL
);
