-- 0001_init: jobs, their steps, preflight results, the event outbox and es.xml versions.

CREATE TABLE configs (
    version     bigserial PRIMARY KEY,
    system_name text NOT NULL,
    state       text NOT NULL CHECK (state IN ('loaded', 'migration-merged', 'migration-deployed')),
    document    text NOT NULL,
    note        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id             uuid PRIMARY KEY,
    request_id     uuid NOT NULL UNIQUE,          -- one request id = one job
    replay_of      uuid REFERENCES jobs (id),
    attempt        integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    action         text NOT NULL CHECK (action IN ('migrate_guest', 'replay')),
    guest          text NOT NULL,
    mode           text NOT NULL CHECK (mode IN ('OFFLINE', 'OFFLINEFORCE')),
    src_host       text NOT NULL,
    tgt_host       text NOT NULL,
    only_step      text,                           -- WHERE STEPNAME=: run this step alone
    from_step      text,
    config_version bigint REFERENCES configs (version),
    memory_mb      bigint NOT NULL DEFAULT 0,      -- reserved on tgt_host while active
    vcpus          integer NOT NULL DEFAULT 0,
    status         text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'rejected')),
    lease_owner    text,
    lease_expires  timestamptz,
    error          text,
    submitted_by   text NOT NULL DEFAULT '',
    submitted_at   timestamptz,
    request        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    CHECK (src_host <> tgt_host OR status = 'rejected')
);

-- At most one active job per guest: the schema itself refuses a second one.
CREATE UNIQUE INDEX jobs_one_active_per_guest ON jobs (guest) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_runnable ON jobs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_by_guest ON jobs (guest, created_at);

CREATE TABLE job_steps (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step        text NOT NULL,
    seq         integer NOT NULL,
    host        text,
    status      text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
    attempts    integer NOT NULL DEFAULT 0,
    started_at  timestamptz,
    finished_at timestamptz,
    elapsed_ms  bigint,
    message     text NOT NULL DEFAULT '',
    output      text NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, step)
);

CREATE TABLE preflight_results (
    job_id     uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    check_name text NOT NULL,
    seq        integer NOT NULL,
    status     text NOT NULL CHECK (status IN ('passed', 'failed', 'skipped', 'warning')),
    message    text NOT NULL,
    checked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, check_name)
);

-- Events are written here in the transaction of the state change they report, then published
-- to Kafka and marked; consumers de-duplicate on event_id (the CloudEvents id).
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    job_id       uuid,
    topic        text NOT NULL,
    key          text,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
