-- 0005_history: costs that stay flat as history grows, and wake-ups instead of polling.

-- Where each published event landed in Kafka (from its delivery report), so that `kvmove watch
-- JOB` starts at the job's first event instead of reading the topic from its beginning.
ALTER TABLE outbox ADD COLUMN kafka_partition integer, ADD COLUMN kafka_offset bigint;
CREATE INDEX outbox_by_job ON outbox (job_id, kafka_partition, kafka_offset);
-- Retention: published rows are deleted oldest first once outbox.retention_s has passed.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- `kvmove jobs prune`: finished jobs by age; a replay keeps the job it replays (replay_of).
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('succeeded', 'failed', 'rejected');
CREATE INDEX jobs_replay_of ON jobs (replay_of) WHERE replay_of IS NOT NULL;
-- `kvmove jobs` lists newest first: the newest rows, not a sort of the whole history.
CREATE INDEX jobs_created ON jobs (created_at);
CREATE INDEX rejected_requests_at ON rejected_requests (rejected_at);
-- A pruned job takes its cleanups with it (only jobs without a pending cleanup are pruned).
CREATE INDEX host_cleanups_job ON host_cleanups (job_id);
ALTER TABLE host_cleanups DROP CONSTRAINT host_cleanups_job_id_fkey,
    ADD CONSTRAINT host_cleanups_job_id_fkey FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE;

-- Wake-ups (PostgreSQL's LISTEN/NOTIFY; notifications are sent at commit, one per channel and
-- transaction). kvmove_jobs: a job became claimable (queued: new or handed back), or a running
-- job ended while others wait (its hosts' worker.max_jobs_per_host slots are free again).
-- kvmove_outbox: events were written.
CREATE FUNCTION kvmove_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'queued' OR EXISTS (SELECT 1 FROM jobs WHERE status = 'queued') THEN
        PERFORM pg_notify('kvmove_jobs', '');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_queued AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION kvmove_notify_jobs();
CREATE TRIGGER jobs_ended AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status IN ('succeeded', 'failed'))
    EXECUTE FUNCTION kvmove_notify_jobs();

CREATE FUNCTION kvmove_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kvmove_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_written AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION kvmove_notify_outbox();
