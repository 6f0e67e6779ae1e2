-- A lease expires, so a slot whose replica died mid-fetch is taken over by
-- another one; `done` marks a slot its holder finished (written, waiting in
-- memory, or failed), which no one takes over.
ALTER TABLE schedule_leases ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE schedule_leases ADD COLUMN done BIGINT NOT NULL DEFAULT 0;
