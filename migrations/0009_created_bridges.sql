-- 0009_created_bridges: the bridges a job's CREATE steps made on its target, so that its
-- rollback removes those and keeps a bridge that was there before the migration.
--
-- CREATE_BRIDGES and CREATE_NAT_BRIDGE_TGT record the guest's bridges they find missing on the
-- target before they send the first change (a crash leaves a record naming a bridge perhaps not
-- created yet, never a created one missing). A retry or a takeover of the step adds to its row
-- (a bridge the first try created is the job's although the next finds it there); a replay has
-- its own row. The rollback of a job reads the union over the job and the attempts it resumes
-- (replay_of). A job with no row at all (recorded before this migration) is rolled back as
-- before: every bridge of the guest no other guest uses goes.
CREATE TABLE job_created_bridges (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step        text NOT NULL CHECK (step IN ('CREATE_BRIDGES', 'CREATE_NAT_BRIDGE_TGT')),
    bridges     text[] NOT NULL DEFAULT '{}',   -- empty: the step found none missing
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, step)
);

-- The worker writes it (default privileges of 0006); the operator and the observer read it.
GRANT SELECT ON job_created_bridges TO kvmove_operator, kvmove_observer;
