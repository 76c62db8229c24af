-- 0002_plan: the baseline (spec-order, one operation at a time) plan flag; pending source-side
-- cleanups that OFFLINEFORCE could not do on a dead host (fencing of the stale copy).

ALTER TABLE jobs ADD COLUMN sequential boolean NOT NULL DEFAULT false;

CREATE TABLE host_cleanups (
    id         bigserial PRIMARY KEY,
    job_id     uuid NOT NULL REFERENCES jobs (id),
    host       text NOT NULL,
    address    text NOT NULL,
    guest      text NOT NULL,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    reason     text NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT '',
    output     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    done_at    timestamptz,
    UNIQUE (host, guest, job_id)
);
CREATE INDEX host_cleanups_pending ON host_cleanups (host) WHERE status = 'pending';
