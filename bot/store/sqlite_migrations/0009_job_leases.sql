-- Which bot process drives a job, and until when: a process that dies leaves its jobs to the
-- others once its leases expire.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at TEXT;
