-- 0011_ended: a cancelled job is an ended job everywhere (0007 added the status after 0005's
-- history indexes and wake-ups were written for succeeded, failed and rejected only).
--
-- `kvmove jobs prune` (and the worker's jobs.retention_s) deletes ended jobs by finished_at:
-- the index covers every job that has ended (only an ended job has finished_at), so the list
-- of final statuses lives in one place (JOBSTORE_SQL_ENDED in lib/jobstore_internal.h).
DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- A running job that ends, however it ends (a cancel stops it at a step boundary), frees its
-- hosts' worker.max_jobs_per_host slots: wake the workers.
DROP TRIGGER jobs_ended ON jobs;
CREATE TRIGGER jobs_ended AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status <> 'running')
    EXECUTE FUNCTION kvmove_notify_jobs();

-- Pruned by age too: cancel requests and ended probes.
CREATE INDEX cancel_requests_at ON cancel_requests (created_at);
CREATE INDEX probes_finished ON probes (finished_at) WHERE finished_at IS NOT NULL;

-- A probe recorded (kvmove cleanup, submit --dry-run, evacuate's plan): wake the probers, which
-- otherwise looked for one every 200 ms. One notifying function for the statement triggers, the
-- channel its argument; the outbox's trigger (0005) uses it too.
CREATE FUNCTION kvmove_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END
$$;
CREATE TRIGGER probes_queued AFTER INSERT ON probes
    FOR EACH STATEMENT EXECUTE FUNCTION kvmove_notify('kvmove_probes');
DROP TRIGGER outbox_written ON outbox;
CREATE TRIGGER outbox_written AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION kvmove_notify('kvmove_outbox');
DROP FUNCTION kvmove_notify_outbox();
