/* kvmove-devbroker: in-memory Kafka for development and tests (librdkafka's mock cluster). */
#include "bus.h"
#include "number.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "kvmove-devbroker"

static void usage(FILE *out)
{
    fprintf(out, "Usage: " PROG " [OPTION]...\n"
                 "Serve the Kafka protocol on loopback from librdkafka's in-memory mock cluster,\n"
                 "with kvmove's topics created, for development and tests. Nothing is persisted;\n"
                 "production uses a real Kafka cluster.\n"
                 "\n"
                 "Options:\n"
                 "  -b, --brokers=N       number of mock brokers (default 1)\n"
                 "  -p, --partitions=P    partitions of " BUS_TOPIC_REQUESTS
                 " and " BUS_TOPIC_EVENTS "\n"
                 "                        (default 4); " BUS_TOPIC_DLQ " has 1\n"
                 "  -f, --port-file=FILE  also write the bootstrap address to FILE (replaced\n"
                 "                        atomically, removed on a clean exit)\n"
                 "  -h, --help            show this help and exit\n"
                 "\n"
                 "Output:\n"
                 "  One line on stdout once the brokers listen and the topics exist:\n"
                 "    KVMOVE_BROKERS=127.0.0.1:PORT[,127.0.0.1:PORT...]\n"
                 "  Ports are chosen by the system (the mock cluster cannot bind a fixed port).\n"
                 "\n"
                 "Signals:\n"
                 "  SIGTERM, SIGINT   stop and exit 0\n"
                 "  SIGUSR1           take broker 1 down (connections dropped, new ones refused)\n"
                 "  SIGUSR2           bring broker 1 back up\n"
                 "\n"
                 "Limits of the mock (librdkafka 2.0.2): no static group membership, no\n"
                 "read_committed filtering, no persistence.\n");
}

/* A count option, parsed as every kvmove number is (lib/number.c). */
static int parse_count(const char *s, const char *option, int min, int max, int *out)
{
    char err[256];

    if (number_parse_int(option, s, min, max, out, err, sizeof(err)) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return -1;
    }
    return 0;
}

/* Writes ADDR and a newline to PATH through a temporary file and rename(). */
static int write_port_file(const char *path, const char *addr)
{
    char tmp[PATH_MAX];
    FILE *f;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        fprintf(stderr, PROG ": port file name too long: %s\n", path);
        return -1;
    }
    f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "%s\n", addr);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"partitions", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        const char *name;
        int single_partition;
    } topics[] = {
        {BUS_TOPIC_REQUESTS, 0},
        {BUS_TOPIC_EVENTS, 0},
        {BUS_TOPIC_DLQ, 1},
    };
    int n_brokers = 1, partitions = 4, opt, rc = 1;
    const char *port_file = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    const char *bootstraps;
    sigset_t sigs;
    char why[512];
    size_t i;

    while ((opt = getopt_long(argc, argv, "b:p:f:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (parse_count(optarg, "--brokers", 1, 16, &n_brokers) < 0)
                goto usage_error;
            break;
        case 'p':
            if (parse_count(optarg, "--partitions", 1, 1024, &partitions) < 0)
                goto usage_error;
            break;
        case 'f':
            port_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto usage_error;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        goto usage_error;
    }

    /* Blocked before librdkafka starts its threads, so they inherit the mask and only
     * sigtimedwait() below ever takes these signals. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    sigaddset(&sigs, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    conf = rd_kafka_conf_new();
    /* log_level 4: this handle has no bootstrap.servers on purpose; skip that notice. */
    if (rd_kafka_conf_set(conf, "client.id", PROG, why, sizeof(why)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, PROG ": %s\n", why);
        goto out;
    }
    /* The mock cluster needs an rd_kafka_t for its bookkeeping; it is never used to
     * produce. */
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (rk == NULL) {
        fprintf(stderr, PROG ": cannot create the librdkafka handle: %s\n", why);
        goto out;
    }
    conf = NULL; /* now owned by rk */
    mcluster = rd_kafka_mock_cluster_new(rk, n_brokers);
    if (mcluster == NULL) {
        fprintf(stderr, PROG ": cannot create a mock cluster of %d broker(s)\n", n_brokers);
        goto out;
    }
    for (i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        int n = topics[i].single_partition ? 1 : partitions;
        int replicas = n_brokers < 3 ? n_brokers : 3;
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, topics[i].name, n, replicas);

        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, PROG ": cannot create topic %s: %s\n", topics[i].name,
                    rd_kafka_err2str(err));
            goto out;
        }
    }
    bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (port_file != NULL && write_port_file(port_file, bootstraps) < 0)
        goto out;
    printf("KVMOVE_BROKERS=%s\n", bootstraps);
    fflush(stdout);
    fprintf(stderr, PROG ": %d broker(s) at %s, topics %s and %s (%d partitions), %s (1)\n",
            n_brokers, bootstraps, BUS_TOPIC_REQUESTS, BUS_TOPIC_EVENTS, partitions, BUS_TOPIC_DLQ);

    for (;;) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        int sig = sigtimedwait(&sigs, NULL, &ts);

        rd_kafka_poll(rk, 0);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGUSR1 || sig == SIGUSR2) {
            rd_kafka_resp_err_t err = sig == SIGUSR1 ? rd_kafka_mock_broker_set_down(mcluster, 1)
                                                     : rd_kafka_mock_broker_set_up(mcluster, 1);
            fprintf(stderr, PROG ": broker 1 %s%s%s\n", sig == SIGUSR1 ? "down" : "up",
                    err ? ": " : "", err ? rd_kafka_err2str(err) : "");
        }
    }
    rc = 0;
    if (port_file != NULL)
        unlink(port_file);

out:
    if (mcluster != NULL)
        rd_kafka_mock_cluster_destroy(mcluster);
    if (rk != NULL)
        rd_kafka_destroy(rk);
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    return rc;

usage_error:
    fprintf(stderr, "Try '" PROG " --help' for more information.\n");
    return 2;
}
