-- 0006_auth: who may move a guest (README, "Design notes: authenticated requests").
-- operator_keys: the Ed25519 public keys an administrator enrolled, each one operator's
-- (identity); a request is taken only when one of them, enabled, signed its exact bytes.
-- grants: the rights (lib/authz.h: migrate, force, evacuate, cleanup, dry_run) an identity has on
-- one es.xml system, or on every system ('*'). request_origins: the Kafka message each request id
-- was first taken from; the same id in another message is a replay.
-- Roles (NOLOGIN groups: an administrator makes login roles members of them): kvmove_worker
-- (intake, executors, fencer, outbox), kvmove_operator (the CLI: es.xml versions, reading jobs,
-- kvmove cleanup's sweep; never a job's status), kvmove_observer (reads everything). Migrations
-- and the enrolment of keys and grants are the database owner's (the administrator's).

CREATE TABLE operator_keys (
    key_id      text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{32}$'),
    identity    text NOT NULL CHECK (identity ~ '^[A-Za-z0-9_.@+-]{1,63}$'),
    public_key  text NOT NULL UNIQUE,
    enabled     boolean NOT NULL DEFAULT true,
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    enrolled_by text NOT NULL DEFAULT session_user
);
CREATE INDEX operator_keys_identity ON operator_keys (identity);

CREATE TABLE grants (
    identity   text NOT NULL CHECK (identity ~ '^[A-Za-z0-9_.@+-]{1,63}$'),
    system     text NOT NULL CHECK (system = '*' OR system ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$'),
    "right"    text NOT NULL CHECK ("right" IN ('migrate', 'force', 'evacuate', 'cleanup', 'dry_run')),
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by text NOT NULL DEFAULT session_user,
    PRIMARY KEY (identity, system, "right")
);

CREATE TABLE request_origins (
    request_id  uuid PRIMARY KEY,
    topic       text NOT NULL,
    "partition" integer NOT NULL,
    "offset"    bigint NOT NULL,
    key_id      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Roles are the cluster's, shared by every database in it: created once, granted per database.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['kvmove_worker', 'kvmove_operator', 'kvmove_observer'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- another database's migration made it at the same moment
            END;
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO kvmove_worker, kvmove_operator, '
                   'kvmove_observer', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO kvmove_worker, kvmove_operator, kvmove_observer;

-- The worker: every table it runs jobs with; the keys and grants it only reads.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kvmove_worker;
REVOKE INSERT, UPDATE, DELETE ON operator_keys, grants, schema_migrations FROM kvmove_worker;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO kvmove_worker;

-- The operator: es.xml versions (kvmove config load/merge/deploy/prune), reads of jobs and their
-- steps (status, follow, evacuate's placement), and the fence sweep kvmove cleanup still runs
-- itself (host_cleanups, the events it writes to the outbox). No write to jobs or job_steps.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO kvmove_operator;
REVOKE SELECT ON request_origins FROM kvmove_operator;
GRANT INSERT, UPDATE, DELETE ON configs, systems, system_machines TO kvmove_operator;
GRANT UPDATE ON host_cleanups TO kvmove_operator;
GRANT INSERT ON outbox TO kvmove_operator;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO kvmove_operator;

-- The observer: reads.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO kvmove_observer;

-- Tables later migrations create (run by the same owner) get the worker's and observer's
-- rights; the operator's are granted by the migration that needs them.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO kvmove_worker;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO kvmove_worker;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO kvmove_observer;
