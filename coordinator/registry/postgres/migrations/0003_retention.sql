-- Retention: old sign results and session records are pruned by time, so
-- each needs an index on its time. Sessions have one (sessions_started);
-- sign results get the time they were made (the document's "at") as a
-- column, filled in here for those already stored, and an index on it.
-- A row written without it (by an older coordinator still running during
-- an upgrade) takes the time of its insert.

ALTER TABLE sign_results ADD COLUMN at timestamptz NOT NULL DEFAULT now();
UPDATE sign_results SET at = (doc->>'at')::timestamptz WHERE doc->>'at' IS NOT NULL;
CREATE INDEX sign_results_at ON sign_results (at);
