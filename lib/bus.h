/* bus: Kafka producer and consumer for kvmove's topics (librdkafka). */
#ifndef KVMOVE_BUS_H
#define KVMOVE_BUS_H

#include <stddef.h>
#include <stdint.h>

#define BUS_TOPIC_REQUESTS "kvmove.requests"
#define BUS_TOPIC_EVENTS "kvmove.events"
#define BUS_TOPIC_DLQ "kvmove.requests.dlq"

/* Extra librdkafka properties ("key=value", as given with -X), applied after kvmove's
 * defaults. */
typedef struct bus_props {
    const char *const *kv;
    size_t n;
} bus_props;

typedef struct bus_producer bus_producer;

/* A header on a produced or consumed message. VALUE is text unless VALUE_LEN says how many
 * bytes it has (binary values, e.g. Spring's big-endian numbers); VALUE_LEN 0 means
 * strlen(VALUE), so {"name", "text"} is a complete header. */
typedef struct bus_header {
    const char *name;
    const char *value;
    size_t value_len;
} bus_header;

/* Creates an idempotent producer (enable.idempotence=true, acks=all) for BROKERS.
 * Returns 0 and *OUT (free with bus_producer_close), or -1 with errstr. */
int bus_producer_new(const char *brokers, const bus_props *props, bus_producer **out, char *errstr,
                     size_t errstr_size);
/* Produces one message and waits until it is delivered (or TIMEOUT_MS passes). KEY may be
 * NULL; HEADERS (N_HEADERS entries, values may be NULL) are copied. Safe to call from several
 * threads on one producer. Returns 0 when the broker acknowledged it, -1 with the delivery
 * error in errstr. After a timeout the message may still be delivered later (the producer
 * keeps retrying until message.timeout.ms): callers retry with the same idempotency key. */
int bus_produce_sync(bus_producer *p, const char *topic, const char *key, const void *value,
                     size_t len, const bus_header *headers, size_t n_headers, int timeout_ms,
                     char *errstr, size_t errstr_size);
/* Connects P to the cluster ahead of the first message (metadata for TOPIC, up to
 * TIMEOUT_MS), so that the first event does not pay for the connection and the idempotent
 * producer's set-up. Failure is not an error: the first produce retries. */
void bus_producer_warm(bus_producer *p, const char *topic, int timeout_ms);

/* One message of a batch for bus_produce_many. */
typedef struct bus_out {
    const char *topic;
    const char *key; /* may be NULL */
    const void *value;
    size_t len;
    int delivered;             /* set: 1 when the broker acknowledged it */
    const bus_header *headers; /* N_HEADERS entries (copied), may be NULL */
    size_t n_headers;
    int32_t partition; /* set: where a delivered message was stored (-1 if not delivered) */
    int64_t offset;
} bus_out;

/* Produces the N messages at once and waits (up to TIMEOUT_MS in all) for their delivery
 * reports, setting each one's DELIVERED: one round of batching instead of a round trip per
 * message. Messages after one that could not be queued are not sent. Returns the number
 * delivered (N when all were), or -1 with errstr when none could be queued. Safe to call from
 * several threads. */
int bus_produce_many(bus_producer *p, bus_out *msgs, size_t n, int timeout_ms, char *errstr,
                     size_t errstr_size);

/* What this process produced so far (every producer): *MESSAGES queued for the brokers and
 * the *BATCHES (produce calls: one bus_produce_many or bus_produce_sync each) that carried them.
 * Either may be NULL. */
void bus_counters(unsigned long *messages, unsigned long *batches);

/* Flushes (up to 10 s), drops what is still undelivered after that, and destroys (accepts
 * NULL). */
void bus_producer_close(bus_producer *p);
/* Copies the most recent client-level error reported by librdkafka for P (e.g. "broker
 * transport failure") into errstr. Returns 1 if there was one, 0 if not. */
int bus_producer_last_error(bus_producer *p, char *errstr, size_t errstr_size);

typedef struct bus_consumer bus_consumer;

typedef struct bus_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *key; /* NUL-terminated copy, may be NULL */
    size_t key_len;
    const char *value; /* NUL-terminated copy, may be NULL */
    size_t len;
    const bus_header *headers; /* copies (names and values NUL-terminated, value_len set),
                                * owned by the consumer, valid as long as the message */
    size_t n_headers;
    int64_t timestamp_ms;       /* the record's timestamp (ms since the epoch), -1 if none */
    const char *timestamp_type; /* "CreateTime", "LogAppendTime", or NULL if none */
} bus_message;

/* Returns the value of the last header of MSG named NAME (a NUL-terminated copy owned by the
 * consumer, valid as long as MSG), or NULL if there is none. A header with a null value reads
 * as "". */
const char *bus_message_header(const bus_message *msg, const char *name);

/* Creates a consumer-group member of GROUP subscribed to TOPIC, with manual offset commits
 * (enable.auto.commit=false) and auto.offset.reset=earliest; session.timeout.ms=10000 unless
 * PROPS say otherwise. Against the mock cluster (kvmove-devbroker) a group forms 3 s after
 * its first join and re-forms session.timeout.ms - 1 s after a member leaves, so tests may
 * pass session.timeout.ms=5000 (keep it above 3000 there). Returns 0 or -1 with errstr. */
int bus_consumer_new(const char *brokers, const bus_props *props, const char *group,
                     const char *topic, bus_consumer **out, char *errstr, size_t errstr_size);
/* Creates a group-less consumer assigned to every partition of TOPIC starting at the current
 * end (high watermark) of each partition, read before returning: messages produced after this
 * call are seen. Used by `kvmove submit --wait` to follow events. */
int bus_consumer_new_tail(const char *brokers, const bus_props *props, const char *topic,
                          bus_consumer **out, char *errstr, size_t errstr_size);
/* As bus_consumer_new_tail, but from the beginning of every partition. */
int bus_consumer_new_from_start(const char *brokers, const bus_props *props, const char *topic,
                                bus_consumer **out, char *errstr, size_t errstr_size);
/* A group-less consumer of every partition of TOPIC that reads nothing until bus_consumer_start
 * says where (for readers that place themselves: bus_consumer_ends, _offsets_for_time, or
 * offsets known otherwise). Returns 0 and *OUT (free with bus_consumer_close), or -1. */
int bus_consumer_new_idle(const char *brokers, const bus_props *props, const char *topic,
                          bus_consumer **out, char *errstr, size_t errstr_size);
/* The partition count of a group-less consumer's topic. */
int bus_consumer_partitions(const bus_consumer *c);
/* END[p] = the end (high watermark) of each partition p now. Returns 0 or -1 with errstr. */
int bus_consumer_ends(bus_consumer *c, int64_t *end, char *errstr, size_t errstr_size);
/* Lowers AT[p] to the offset of partition p's first message timestamped at or after SINCE_MS
 * (ms since the epoch; Kafka's ListOffsets by time, rd_kafka_offsets_for_times) where the broker
 * knows one. A broker that cannot look up by time (librdkafka's mock cluster, kvmove-devbroker)
 * leaves AT as it is. Returns 0 or -1 with errstr. */
int bus_consumer_offsets_for_time(bus_consumer *c, int64_t since_ms, int64_t *at, char *errstr,
                                  size_t errstr_size);
/* Starts reading partition p at offset AT[p] (AT NULL: at the beginning of every partition).
 * ENDS (NULL: unknown) are the partitions' ends when AT was chosen: the partitions with
 * something to read (AT[p] < ENDS[p]) are started first, so that the first fetch asks for them.
 * Returns 0 or -1 with errstr. */
int bus_consumer_start(bus_consumer *c, const int64_t *at, const int64_t *ends, char *errstr,
                       size_t errstr_size);
/* Waits up to TIMEOUT_MS for a message. Returns 1 and fills *MSG (valid until the next poll
 * or close), 0 on timeout, -1 on a fatal consumer error (errstr). Partition EOF and
 * transient errors are not returned. */
int bus_consumer_poll(bus_consumer *c, int timeout_ms, bus_message *msg, char *errstr,
                      size_t errstr_size);
/* Commits the offset after MSG synchronously. Returns 0 or -1 (e.g. the partition was
 * revoked, or no group). Blocks up to about socket.timeout.ms (10 s by default) while the
 * group coordinator is unreachable. */
int bus_consumer_commit(bus_consumer *c, const bus_message *msg, char *errstr, size_t errstr_size);
/* Sends MSG, which consumer group GROUP could not use because of REASON, to the dead-letter
 * topic (BUS_TOPIC_DLQ) the way Kafka Connect and Spring Kafka do: same key and value, the
 * original headers first, then where it came from and why, all as UTF-8 text, under the names
 * tools already read (see schema/asyncapi.yaml):
 *   kvmove.original.topic / .partition / .offset / .timestamp (ms) / .timestamp.type /
 *   .consumer.group, kvmove.error, kvmove.worker (WORKER)
 *   __connect.errors.topic / .partition / .offset / .exception.message (Kafka Connect)
 *   kafka_dlt-original-topic / -timestamp-type / -consumer-group, kafka_dlt-exception-message
 *   (Spring Kafka's names for the fields Spring itself writes as text; its partition, offset
 *   and timestamp are binary Java integers, which kcat and line-based tools print raw, so
 *   they are left out)
 * Waits up to TIMEOUT_MS for the broker. Returns 0 when it took it, -1 with errstr. */
int bus_dead_letter(bus_producer *p, const bus_message *msg, const char *group, const char *reason,
                    const char *worker, int timeout_ms, char *errstr, size_t errstr_size);

/* Leaves the group (rd_kafka_consumer_close) and destroys. Accepts NULL. */
void bus_consumer_close(bus_consumer *c);
/* As bus_producer_last_error, for a consumer: why polls may be timing out. */
int bus_consumer_last_error(bus_consumer *c, char *errstr, size_t errstr_size);

#endif
