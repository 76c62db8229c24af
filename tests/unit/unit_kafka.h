/* unit_kafka.h: an in-process librdkafka mock cluster for unit suites (test code). */
#ifndef KVMOVE_UNIT_KAFKA_H
#define KVMOVE_UNIT_KAFKA_H

#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>

typedef struct unit_kafka {
    rd_kafka_t *rk;              /* the handle that hosts the cluster */
    rd_kafka_mock_cluster_t *mc; /* one broker */
    const char *brokers;         /* its bootstrap servers */
} unit_kafka;

typedef struct unit_topic {
    const char *name;
    int partitions;
} unit_topic;

/* Starts K: a mock cluster of one broker with the N topics TOPICS. A failure fails the test. */
static __attribute__((unused)) void unit_kafka_start(unit_kafka *k, const unit_topic *topics,
                                                     size_t n)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    size_t i;

    /* This handle only hosts the mock cluster: silence its "no bootstrap.servers" notice. */
    ck_assert_int_eq(rd_kafka_conf_set(conf, "log_level", "4", why, sizeof(why)), 0);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    ck_assert_msg(k->rk != NULL, "rd_kafka_new: %s", why);
    k->mc = rd_kafka_mock_cluster_new(k->rk, 1);
    ck_assert_ptr_nonnull(k->mc);
    for (i = 0; i < n; i++)
        ck_assert_int_eq(rd_kafka_mock_topic_create(k->mc, topics[i].name, topics[i].partitions, 1),
                         0);
    k->brokers = rd_kafka_mock_cluster_bootstraps(k->mc);
}

/* Stops K (if it runs). */
static __attribute__((unused)) void unit_kafka_stop(unit_kafka *k)
{
    if (k->mc)
        rd_kafka_mock_cluster_destroy(k->mc);
    if (k->rk)
        rd_kafka_destroy(k->rk);
    k->mc = NULL;
    k->rk = NULL;
}

#endif
