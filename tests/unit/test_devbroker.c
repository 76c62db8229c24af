/* Unit tests for the development broker's accept(2) (worker/devbroker_nodelay.c): the
 * connections librdkafka's mock cluster accepts have Nagle's algorithm off, as a Kafka broker's. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unit_kafka.h"
#include "unit_run.h"

/* Upper bound on how long a test waits for the mock cluster to accept; not a speed assertion. */
#define PATIENCE_MS 30000

static int nodelay(int fd)
{
    int on = -1;
    socklen_t len = sizeof(on);

    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    return on;
}

/* A client connected to 127.0.0.1:PORT; fails the test when it cannot connect. */
static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* This process's descriptor of the server side of CLIENT's connection (its peer is CLIENT's
 * own address), or -1 while nobody has accepted it. */
static int server_side_of(int client)
{
    struct sockaddr_in mine, peer;
    socklen_t len = sizeof(mine);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;

    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(getsockname(client, (struct sockaddr *)&mine, &len), 0);
    while (found < 0 && (e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || fd == client || fd == dirfd(d) || fstat(fd, &st) != 0 ||
            !S_ISSOCK(st.st_mode))
            continue;
        len = sizeof(peer);
        if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0 && peer.sin_family == AF_INET &&
            same_addr(&peer, &mine))
            found = fd;
    }
    closedir(d);
    return found;
}

UNIT_TEST(test_accept_disables_nagle)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd, sfd;

    ck_assert_int_ge(lfd, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    cfd = connect_to(ntohs(a.sin_port));
    ck_assert_int_eq(nodelay(cfd), 0); /* the default, on the side nobody changed */
    sfd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(sfd, 0);
    ck_assert_int_eq(nodelay(sfd), 1);
    close(sfd);
    close(cfd);
    close(lfd);
}
END_TEST

UNIT_TEST(test_accept_passes_errors_through)
{
    ck_assert_int_eq(accept(-1, NULL, NULL), -1);
}
END_TEST

/* The mock cluster's own listener (in this process) uses this accept(2): the server side of a
 * connection to its bootstrap port has TCP_NODELAY set. */
UNIT_TEST(test_mock_cluster_connections_have_nodelay)
{
    static const unit_topic topics[] = {{"t.one", 1}};
    struct timespec pause = {0, 10 * 1000 * 1000};
    unit_kafka k = {0};
    const char *colon;
    int cfd, sfd = -1, waited;

    unit_kafka_start(&k, topics, 1);
    colon = strrchr(k.brokers, ':');
    ck_assert_ptr_nonnull(colon);
    cfd = connect_to(atoi(colon + 1));
    for (waited = 0; sfd < 0 && waited < PATIENCE_MS; waited += 10) {
        sfd = server_side_of(cfd);
        if (sfd < 0)
            nanosleep(&pause, NULL);
    }
    ck_assert_msg(sfd >= 0, "the mock cluster did not accept the connection");
    ck_assert_int_eq(nodelay(sfd), 1);
    close(cfd);
    unit_kafka_stop(&k);
}
END_TEST

int main(void)
{
    return unit_main("devbroker");
}
