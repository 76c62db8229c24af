/* ssh_bench: per-command cost of a reused SSH session vs a new connection per command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostconn.h"
#include "util.h"

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, long long *us, int n)
{
    long long sum = 0;
    int i;

    for (i = 0; i < n; i++)
        sum += us[i];
    qsort(us, (size_t)n, sizeof(us[0]), cmp_ll);
    printf("  %-32s mean %7.2f ms  p50 %7.2f ms  p99 %7.2f ms  (%d commands)\n", what,
           (double)sum / n / 1000.0, us[n / 2] / 1000.0, us[(n * 99) / 100] / 1000.0, n);
}

int main(int argc, char **argv)
{
    hostconn_opts o = {0};
    hostconn *c = NULL;
    char err[1024];
    long long *reuse, *fresh;
    int n, i, st;

    if (argc != 7) {
        fprintf(stderr, "usage: ssh_bench ADDRESS PORT IDENTITY KNOWN_HOSTS N COMMAND\n");
        return 2;
    }
    o.port = atoi(argv[2]);
    o.identity = argv[3];
    o.known_hosts = argv[4];
    n = atoi(argv[5]);
    reuse = calloc((size_t)n, sizeof(long long));
    fresh = calloc((size_t)n, sizeof(long long));
    if (hostconn_open(argv[1], &o, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "ssh_bench: %s\n", err);
        return 1;
    }
    for (i = 0; i < n; i++) {
        int64_t t = util_now_ms();
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (hostconn_exec(c, argv[6], 10000, &st, NULL, NULL, err, sizeof(err)) != 0) {
            fprintf(stderr, "ssh_bench: %s\n", err);
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        (void)t;
        reuse[i] = (b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000;
    }
    hostconn_close(c);
    for (i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (hostconn_open(argv[1], &o, &c, err, sizeof(err)) != 0 ||
            hostconn_exec(c, argv[6], 10000, &st, NULL, NULL, err, sizeof(err)) != 0) {
            fprintf(stderr, "ssh_bench: %s\n", err);
            return 1;
        }
        hostconn_close(c);
        clock_gettime(CLOCK_MONOTONIC, &b);
        fresh[i] = (b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000;
    }
    {
        long long sr = 0, sf = 0;
        for (i = 0; i < n; i++)
            sr += reuse[i], sf += fresh[i];
        report("reused session", reuse, n);
        report("new connection per command", fresh, n);
        printf("  ratio (new connection / reused): %.1fx\n", (double)sf / (double)sr);
    }
    free(reuse);
    free(fresh);
    return 0;
}
