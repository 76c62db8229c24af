-- 0003_rejected_requests: requests that never became a job (unparseable or invalid, sent to the
-- dead-letter topic) whose request id could be read: one row per id, so a redelivery of the same
-- message does not publish job.rejected again.

CREATE TABLE rejected_requests (
    request_id  uuid PRIMARY KEY,
    reason      text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now()
);
