/* test_bus_partitioner: bus's producers put a key on the partition Java's default partitioner
 * (Kafka's Utils.murmur2, as kafkajs and every Java producer use it) puts it on, so that one
 * guest's requests stay on one partition whichever client published them. (bus's own suite is
 * test_bus.c; this part is a file of its own.) */
#include "bus.h"

#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "unit_kafka.h"
#include "unit_run.h"

#define TOPIC "t.twelve"
#define PARTITIONS 12
#define PATIENCE_MS 30000

/* Kafka's org.apache.kafka.common.utils.Utils.murmur2, written from its definition. */
static int32_t java_murmur2(const char *key)
{
    const uint8_t *data = (const uint8_t *)key;
    size_t length = strlen(key), i;
    const uint32_t m = 0x5bd1e995;
    uint32_t h = 0x9747b28c ^ (uint32_t)length;

    for (i = 0; i + 4 <= length; i += 4) {
        uint32_t k = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16 |
                     (uint32_t)data[i + 3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (length % 4) {
    case 3:
        h ^= (uint32_t)data[i + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[i + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[i];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

/* Java's DefaultPartitioner for a keyed record: toPositive(murmur2(key)) % partitions. */
static int java_partition(const char *key, int partitions)
{
    return (int)(((uint32_t)java_murmur2(key) & 0x7fffffff) % (uint32_t)partitions);
}

UNIT_TCASE("core", .timeout = 60);

/* Kafka's own test vectors for murmur2 (UtilsTest.testMurmur2): the reference is right. */
UNIT_TEST(test_murmur2_vectors)
{
    static const struct {
        const char *key;
        int32_t hash;
    } v[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        ck_assert_msg(java_murmur2(v[i].key) == v[i].hash, "murmur2(%s) = %d, Kafka says %d",
                      v[i].key, java_murmur2(v[i].key), v[i].hash);
}
END_TEST

/* Guest names as request keys: each lands where a Java producer would put it. */
UNIT_TEST(test_same_partition_as_java)
{
    static const char *const keys[] = {
        "exa01vm01.example.com",
        "exa01vm02.example.com",
        "exa01vm03.example.com",
        "exa01vm04.example.com",
        "exa01vm05.example.com",
        "exa01vm06.example.com",
        "exa01vm07.example.com",
        "exa01vm08.example.com",
        "exa01vm09.example.com",
        "cld02vm01.example.com",
        "cld02vm02.example.com",
        "g",
        "21",
        "foobar",
        "abc",
        "EXA01VM01.EXAMPLE.COM",
    };
    const size_t n = sizeof(keys) / sizeof(keys[0]);
    static const unit_topic topic = {TOPIC, PARTITIONS};
    unit_kafka kafka;
    bus_producer *p = NULL;
    bus_consumer *c = NULL;
    char err[512] = "";
    const char *brokers;
    size_t i, seen = 0;
    int waited = 0;

    unit_kafka_start(&kafka, &topic, 1);
    brokers = kafka.brokers;

    ck_assert_msg(bus_producer_new(brokers, NULL, &p, err, sizeof(err)) == 0, "%s", err);
    for (i = 0; i < n; i++)
        ck_assert_msg(bus_produce_sync(p, TOPIC, keys[i], keys[i], strlen(keys[i]), NULL, 0, 10000,
                                       err, sizeof(err)) == 0,
                      "%s", err);
    bus_producer_close(p);

    ck_assert_msg(bus_consumer_new_from_start(brokers, NULL, TOPIC, &c, err, sizeof(err)) == 0,
                  "%s", err);
    while (seen < n && waited < PATIENCE_MS) {
        bus_message m;
        int r = bus_consumer_poll(c, 500, &m, err, sizeof(err));
        ck_assert_msg(r >= 0, "%s", err);
        if (r == 0) {
            waited += 500;
            continue;
        }
        ck_assert_ptr_nonnull(m.key);
        ck_assert_msg(m.partition == java_partition(m.key, PARTITIONS),
                      "key %s went to partition %d, a Java producer puts it on %d", m.key,
                      (int)m.partition, java_partition(m.key, PARTITIONS));
        seen++;
    }
    ck_assert_int_eq(seen, n);
    bus_consumer_close(c);
    unit_kafka_stop(&kafka);
}
END_TEST

int main(void)
{
    return unit_main("bus_partitioner");
}
