-- 0008_probes: kvmove cleanup, kvmove submit --dry-run and kvmove evacuate's placement run in a
-- worker (issue 17 item 3).
--
-- The CLI publishes a signed request of kind cleanup, dry_run or plan on kvmove.requests
-- (lib/probe.h);
-- the worker that takes it checks its signature, identity, age, replay and right (cleanup,
-- dry_run, evacuate) as for a migration, records it here queued, and its prober thread runs it under a
-- lease (a worker that dies while running one leaves it to the next prober once the lease ran
-- out: both probes observe before they change anything, so running one again is safe). The CLI
-- reads its row until it has ended. Only the worker has the hosts' SSH key.
CREATE TABLE probes (
    request_id   uuid PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('cleanup', 'dry_run', 'plan')),
    submitted_by text NOT NULL,
    request      jsonb,                  -- the request message as taken ('{}' when refused)
    status       text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'rejected')),
    result       jsonb,                  -- what the CLI prints (prober.c writes it)
    error        text,                   -- failed: why; rejected: the dead letter's reason
    lease_owner  text,
    lease_until  timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX probes_open ON probes (created_at) WHERE status IN ('queued', 'running');

-- The worker writes probes (default privileges of 0006); the operator (the CLI waiting for its
-- result) and the observer read them.
GRANT SELECT ON probes TO kvmove_operator, kvmove_observer;

-- The CLI no longer runs the fence sweep: it writes no cleanup and no event.
REVOKE UPDATE ON host_cleanups FROM kvmove_operator;
REVOKE INSERT ON outbox FROM kvmove_operator;
