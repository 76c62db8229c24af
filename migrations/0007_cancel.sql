-- 0007_cancel: cancel, rollback, VM cluster anti-affinity, the maintenance round trip and the
-- operator's reasons (issue 15).
--
-- A job may end cancelled (kvmove cancel: never started, or stopped at a step boundary before
-- the commit point); a rollback is a new attempt linked to the job it undoes (replay_of,
-- attempt + 1, action 'rollback'); a return moves a guest back to the host an evacuation moved
-- it off (action 'return'). Every job keeps the operator's reason and what it was asked to do
-- on failure and with the guest at the end.

ALTER TABLE jobs DROP CONSTRAINT jobs_action_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_action_check
    CHECK (action IN ('migrate_guest', 'replay', 'rollback', 'return'));
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'rejected', 'cancelled'));

ALTER TABLE jobs ADD COLUMN reason text;                      -- the operator's --reason
ALTER TABLE jobs ADD COLUMN on_failure text NOT NULL DEFAULT 'stop'
    CHECK (on_failure IN ('stop', 'rollback'));
ALTER TABLE jobs ADD COLUMN target_state text NOT NULL DEFAULT 'running'
    CHECK (target_state IN ('running', 'stopped'));
ALTER TABLE jobs ADD COLUMN allow_colocation boolean NOT NULL DEFAULT false;
ALTER TABLE jobs ADD CONSTRAINT jobs_colocation_has_reason
    CHECK (NOT allow_colocation OR coalesce(reason, '') <> '');
-- kvmove cancel of a job that had started: the executor stops at its next step boundary.
ALTER TABLE jobs ADD COLUMN cancel_requested_at timestamptz;
ALTER TABLE jobs ADD COLUMN cancel_reason text;
ALTER TABLE jobs ADD COLUMN cancel_requested_by text;
-- VM cluster anti-affinity: when the job's target was confirmed, under its system's lock,
-- against the other jobs bringing members of the guest's VM cluster to that host.
ALTER TABLE jobs ADD COLUMN placed_at timestamptz;

-- Cancel requests are not jobs: one row per request id, so a redelivery changes nothing.
CREATE TABLE cancel_requests (
    request_id   uuid PRIMARY KEY,
    job_id       uuid NOT NULL,                 -- as requested (the job may not exist)
    outcome      text NOT NULL CHECK (outcome IN ('cancelled', 'requested', 'rejected')),
    message      text NOT NULL,
    reason       text,
    requested_by text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- kvmove evacuate records where it moved each guest; kvmove return moves them back.
CREATE TABLE evacuations (
    id           bigserial PRIMARY KEY,
    host         text NOT NULL,                 -- the evacuated KVM host, as es.xml spells it
    system_name  text REFERENCES systems (name),
    reason       text,
    requested_by text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    returned_at  timestamptz                    -- when kvmove return published its moves
);
CREATE INDEX evacuations_by_host ON evacuations (lower(host), created_at);

CREATE TABLE evacuation_moves (
    evacuation_id bigint NOT NULL REFERENCES evacuations (id) ON DELETE CASCADE,
    guest         text NOT NULL,
    from_host     text NOT NULL,
    to_host       text,                         -- NULL: no target passed preflight
    job_id        uuid,                         -- the move's request id (its job, once recorded)
    message       text NOT NULL DEFAULT '',     -- why it was not moved
    return_job_id uuid,                         -- kvmove return's move back
    PRIMARY KEY (evacuation_id, guest)
);

ALTER TABLE jobs ADD COLUMN evacuation_id bigint REFERENCES evacuations (id);

-- kvmove cleanup --reason: why the operator ran the pending cleanup now.
ALTER TABLE host_cleanups ADD COLUMN done_reason text;
