/* event: CloudEvents 1.0 (structured JSON) for kvmove.events. */
#ifndef KVMOVE_EVENT_H
#define KVMOVE_EVENT_H

#include <jansson.h>
#include <stddef.h>

#include "bus.h"

/* Event types, without the "io.kvmove." prefix. */
#define EVENT_JOB_ACCEPTED "job.accepted"
#define EVENT_JOB_REJECTED "job.rejected"
#define EVENT_PREFLIGHT_PASSED "preflight.passed"
#define EVENT_PREFLIGHT_FAILED "preflight.failed"
#define EVENT_STEP_STARTED "step.started"
#define EVENT_STEP_COMPLETED "step.completed"
#define EVENT_STEP_SKIPPED "step.skipped"
#define EVENT_STEP_FAILED "step.failed"
#define EVENT_JOB_SUCCEEDED "job.succeeded"
#define EVENT_JOB_FAILED "job.failed"
/* OFFLINEFORCE left source-side work on an unreachable host (the stale copy), and its end. */
#define EVENT_CLEANUP_PENDING "cleanup.pending"
#define EVENT_CLEANUP_COMPLETED "cleanup.completed"
/* kvmove cancel was recorded for the job (it stops at its next step boundary, or completes
 * forward past the commit point), and the job ended cancelled (a rollback attempt follows when
 * it had changed a host). */
#define EVENT_JOB_CANCEL_REQUESTED "job.cancel_requested"
#define EVENT_JOB_CANCELLED "job.cancelled"
/* A cleanup or dry_run request (kvmove cleanup, submit --dry-run: lib/probe.h) ended: data has
 * its request_id (also as job_id), kind, status (succeeded, failed, rejected), submitted_by
 * and, unless it succeeded, the message why; the result is in table probes. */
#define EVENT_PROBE_COMPLETED "probe.completed"

/* Builds a CloudEvent: specversion "1.0", a fresh UUID id, source "/kvmove/worker/SOURCE",
 * type "io.kvmove.TYPE", time now (RFC 3339, ms, UTC), subject GUEST, datacontenttype
 * application/json, and data = DATA with "job_id" set to JOB_ID. DATA is stolen (its reference
 * now belongs to the event, also on failure; pass json_object() or NULL for none; it must be
 * an object). SOURCE NULL or "" gives "/kvmove/worker"; JOB_ID and GUEST NULL or "" leave
 * out data.job_id and subject. Returns a new reference the caller
 * json_decref()s, or NULL on allocation failure. */
json_t *event_build(const char *type, const char *source, const char *job_id, const char *guest,
                    json_t *data);

/* The CloudEvents Kafka protocol binding, structured content mode: the content-type header
 * says the value is a whole CloudEvent in JSON, so SDKs (Kafka.toEvent, Knative, Dapr) read
 * it as one. No ce_* headers: the binding defines them for binary mode only, and a second
 * copy of the attributes could disagree with the value. */
#define EVENT_KAFKA_CONTENT_TYPE "application/cloudevents+json; charset=UTF-8"

/* Returns the headers every event on kvmove.events carries (static, *N gets their count). */
const bus_header *event_kafka_headers(size_t *n);

/* Serialises EV compactly. Returns a malloc'd string the caller frees. */
char *event_dump(const json_t *ev);

/* Returns the short type of a full type ("io.kvmove.step.completed" -> "step.completed"),
 * pointing into TYPE, or NULL if it is not a kvmove type. */
const char *event_short_type(const char *type);

/* Returns 1 if SHORT_TYPE is one of the EVENT_* types above, else 0 (also for NULL). */
int event_type_known(const char *short_type);

/* Checks that EV (borrowed) is a kvmove CloudEvent as event_build makes them: specversion
 * "1.0", non-empty id, source, time, a known io.kvmove type, datacontenttype
 * application/json and an object as data. For consumers of kvmove.events; the full shape is
 * in schema/event.schema.json. Returns 0, or -1 with the reason in errstr. */
int event_validate(const json_t *ev, char *errstr, size_t errstr_size);

#endif
