/* devbroker_nodelay: TCP_NODELAY on the connections librdkafka's mock cluster accepts.
 *
 * The mock cluster sets no option on the sockets it accepts, so Nagle's algorithm holds a
 * response written while an earlier one is still unacknowledged until the client's delayed
 * ACK comes (40 ms on Linux): measured with `bench/run history`, about one `kvmove watch JOB`
 * in three waited ~45 ms for its first fetch that way. A Kafka broker disables Nagle on every
 * connection it accepts; this definition of accept(2), linked into kvmove-devbroker, is the one
 * librdkafka's mock cluster calls (the executable's symbol comes first), and does the same. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int accept(int fd, struct sockaddr *addr, socklen_t *addr_len)
{
    int one = 1;
    int s = accept4(fd, addr, addr_len, 0);

    /* Not a TCP socket (no such option): nothing to change, the connection is as accepted. */
    if (s >= 0)
        (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return s;
}
