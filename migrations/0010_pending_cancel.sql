-- 0010_pending_cancel: a cancel of a job whose request is still in Kafka (not recorded yet) is
-- kept pending until the job's request arrives, then the job is recorded and ended cancelled in
-- the same transaction (lib/jobstore_cancel.c). The job's request cannot be older than the
-- intake's maximum request age (auth.max_age_s), so a pending cancel expires after that age and
-- is then rejected.

ALTER TABLE cancel_requests DROP CONSTRAINT cancel_requests_outcome_check;
ALTER TABLE cancel_requests ADD CONSTRAINT cancel_requests_outcome_check
    CHECK (outcome IN ('cancelled', 'requested', 'rejected', 'pending'));
-- Until when a cancel pending (or once pending) waits for its job; NULL for a cancel of a job
-- that was recorded when the cancel was.
ALTER TABLE cancel_requests ADD COLUMN expires_at timestamptz;
ALTER TABLE cancel_requests ADD CONSTRAINT cancel_requests_pending_expires
    CHECK (outcome <> 'pending' OR expires_at IS NOT NULL);
-- The intake of every job looks for its pending cancels; the sweep for the expired ones.
CREATE INDEX cancel_requests_pending ON cancel_requests (job_id) WHERE outcome = 'pending';
CREATE INDEX cancel_requests_pending_expiry ON cancel_requests (expires_at)
    WHERE outcome = 'pending';
