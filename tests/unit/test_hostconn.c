/* test_hostconn: hostconn against a private sshd on 127.0.0.1 (tests/unit/sshd_fixture.sh). */
#include "hostconn.h"

#include <check.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit_run.h"

static char dir[PATH_MAX];    /* the sshd's state directory (keys, known_hosts, config) */
static char script[PATH_MAX]; /* sshd_fixture.sh */
static int port;

static void path_in_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static void find_script(void)
{
    const char *src = getenv("KVMOVE_SOURCE_DIR");
    const char *slash;

    if (src != NULL) {
        snprintf(script, sizeof(script), "%s/tests/unit/sshd_fixture.sh", src);
        return;
    }
#ifdef KVMOVE_SOURCE_DIR
    snprintf(script, sizeof(script), "%s/tests/unit/sshd_fixture.sh", KVMOVE_SOURCE_DIR);
#else
    slash = strrchr(__FILE__, '/');
    snprintf(script, sizeof(script), "%.*s/sshd_fixture.sh",
             slash != NULL ? (int)(slash - __FILE__) : 1, slash != NULL ? __FILE__ : ".");
#endif
    (void)slash;
}

static void fixture(const char *verb)
{
    char cmd[3 * PATH_MAX];

    if (strcmp(verb, "start") == 0)
        snprintf(cmd, sizeof(cmd), "'%s' start '%s' %d", script, dir, port);
    else
        snprintf(cmd, sizeof(cmd), "'%s' stop '%s'", script, dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

static void remove_dir(void)
{
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_hostconn: could not remove %s\n", dir);
}

static void sshd_setup(void)
{
    char cmd[3 * PATH_MAX];

    find_script();
    ck_assert_msg(access(script, X_OK) == 0,
                  "%s not found: run from the source tree or set KVMOVE_SOURCE_DIR", script);
    snprintf(dir, sizeof(dir), "/tmp/test_hostconn.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    port = getenv("KVMOVE_TEST_PORT") ? atoi(getenv("KVMOVE_TEST_PORT"))
                                      : 20000 + (int)(getpid() % 20000);
    snprintf(cmd, sizeof(cmd), "'%s' start '%s' %d", script, dir, port);
    if (system(cmd) != 0) {
        remove_dir(); /* teardown does not run after a failed setup */
        ck_abort_msg("%s failed", cmd);
    }
}

static void sshd_teardown(void)
{
    fixture("stop");
    remove_dir();
}

UNIT_TCASE("exec", .setup_once = sshd_setup, .teardown_once = sshd_teardown, .timeout = 30);
UNIT_TCASE("batch", .setup_once = sshd_setup, .teardown_once = sshd_teardown, .timeout = 30);
UNIT_TCASE("open", .setup_once = sshd_setup, .teardown_once = sshd_teardown);
UNIT_TCASE("broken", .setup_once = sshd_setup, .teardown_once = sshd_teardown, .timeout = 30);

/* Opens a connection to the fixture's sshd with its client key and known_hosts. */
static hostconn *open_ok(void)
{
    char id[PATH_MAX + 32], kh[PATH_MAX + 32], errstr[512];
    hostconn_opts o = {0};
    hostconn *c = NULL;
    int rc;

    path_in_dir(id, sizeof(id), "id_ed25519");
    path_in_dir(kh, sizeof(kh), "known_hosts");
    o.port = port;
    o.identity = id;
    o.known_hosts = kh;
    o.connect_timeout_ms = 5000;
    rc = hostconn_open("127.0.0.1", &o, &c, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "hostconn_open: %d %s", rc, errstr);
    ck_assert_str_eq(hostconn_address(c), "127.0.0.1");
    return c;
}

/* ---- commands on one session ---------------------------------------------------------- */

static const struct {
    const char *command;
    int exit_status;
    const char *out;
    const char *err;
} exec_cases[] = {
    {"echo hello", 0, "hello\n", ""},
    {"true", 0, "", ""},
    {"echo oops >&2; exit 3", 3, "", "oops\n"},
    {"echo to-out; echo to-err >&2; exit 1", 1, "to-out\n", "to-err\n"},
    {"printf 'a b\\nc'", 0, "a b\nc", ""},
    {"kill -9 $$", -1, "", ""}, /* died of a signal: no exit status (keep it last) */
};

UNIT_LOOP(test_exec_table, exec_cases)
{
    hostconn *c = open_ok();
    char errstr[512], *out = NULL, *err = NULL;
    int status = 12345;
    int rc;

    rc = hostconn_exec(c, exec_cases[_i].command, 10000, &status, &out, &err, errstr,
                       sizeof(errstr));
    ck_assert_msg(rc == 0, "'%s': %d %s", exec_cases[_i].command, rc, errstr);
    ck_assert_int_eq(status, exec_cases[_i].exit_status);
    ck_assert_str_eq(out, exec_cases[_i].out);
    ck_assert_str_eq(err, exec_cases[_i].err);
    free(out);
    free(err);
    hostconn_close(c);
}
END_TEST

UNIT_TEST(test_exec_discard_output)
{
    hostconn *c = open_ok();
    char errstr[512];
    int status = -5;

    ck_assert_int_eq(hostconn_exec(c, "echo x; echo y >&2; exit 7", 10000, &status, NULL, NULL,
                                   errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(status, 7);
    hostconn_close(c);
}
END_TEST

UNIT_TEST(test_exec_reuses_session)
{
    hostconn *c = open_ok();
    char errstr[512], *a = NULL, *b = NULL;

    /* SSH_CLIENT names the client's source port: the same one means the same connection. */
    ck_assert_int_eq(
        hostconn_exec(c, "echo $SSH_CLIENT", 10000, NULL, &a, NULL, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(
        hostconn_exec(c, "echo $SSH_CLIENT", 10000, NULL, &b, NULL, errstr, sizeof(errstr)), 0);
    ck_assert_str_ne(a, "\n");
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    hostconn_close(c);
}
END_TEST

UNIT_TEST(test_exec_large_output_capped)
{
    hostconn *c = open_ok();
    char errstr[512], *out = NULL, *err = NULL;
    int status = -5;
    size_t i, len;

    /* 2 MiB on stdout: 1 MiB kept, the rest drained so the command still runs to its end. */
    ck_assert_int_eq(hostconn_exec(c, "head -c 2097152 /dev/zero | tr '\\0' x; echo end >&2", 20000,
                                   &status, &out, &err, errstr, sizeof(errstr)),
                     0);
    ck_assert_int_eq(status, 0);
    len = strlen(out);
    ck_assert_uint_eq(len, 1024 * 1024);
    for (i = 0; i < len; i++)
        if (out[i] != 'x')
            ck_abort_msg("byte %zu of the output is 0x%02x", i, (unsigned char)out[i]);
    ck_assert_str_eq(err, "end\n");
    free(out);
    free(err);
    hostconn_close(c);
}
END_TEST

UNIT_TEST(test_exec_timeout_then_session_works)
{
    hostconn *c = open_ok();
    char errstr[512] = "", *out = (char *)"untouched", *before = NULL, *after = NULL;
    int status = -5;

    ck_assert_int_eq(
        hostconn_exec(c, "echo $SSH_CLIENT", 10000, NULL, &before, NULL, errstr, sizeof(errstr)),
        0);
    ck_assert_int_eq(hostconn_exec(c, "sleep 5", 300, &status, &out, NULL, errstr, sizeof(errstr)),
                     -HOSTCONN_ETIMEOUT);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(errstr, "sleep 5"));
    ck_assert_ptr_nonnull(strstr(errstr, "300 ms"));
    /* Still the same session, and it works. */
    ck_assert_int_eq(
        hostconn_exec(c, "echo $SSH_CLIENT", 10000, &status, &after, NULL, errstr, sizeof(errstr)),
        0);
    ck_assert_int_eq(status, 0);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    hostconn_close(c);
}
END_TEST

UNIT_TEST(test_exec_many_concurrent)
{
    static const char *const cmds[] = {"sleep 0.3; echo 0", "sleep 0.3; echo 1",
                                       "sleep 0.3; echo 2", "sleep 0.3; echo 3",
                                       "sleep 0.3; echo 4"};
    hostconn *c = open_ok();
    hostconn_result res[5];
    char errstr[512], want[8];
    size_t i;
    int rc;

    rc = hostconn_exec_many(c, cmds, 5, 10000, res, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "%d %s", rc, errstr);
    for (i = 0; i < 5; i++) {
        snprintf(want, sizeof(want), "%zu\n", i);
        ck_assert_int_eq(res[i].error, 0);
        ck_assert_int_eq(res[i].exit_status, 0);
        ck_assert_str_eq(res[i].out, want);
        ck_assert_str_eq(res[i].err, "");
    }
    hostconn_result_free(res, 5);
    ck_assert_ptr_null(res[0].out);
    hostconn_close(c);
}
END_TEST

UNIT_TEST(test_exec_many_rendezvous)
{
    char path[PATH_MAX + 32], cmd[3 * PATH_MAX];
    const char *cmds[5];
    hostconn *c = open_ok();
    hostconn_result res[5];
    char errstr[512];
    size_t i;
    int rc;

    /* Each command announces itself, then waits until all five have: this only finishes
     * within the timeout if the five really run at the same time. */
    path_in_dir(path, sizeof(path), "rendezvous");
    snprintf(cmd, sizeof(cmd),
             "echo x >> '%s'; while [ $(wc -l < '%s') -lt 5 ]; do sleep 0.05; done; echo met", path,
             path);
    for (i = 0; i < 5; i++)
        cmds[i] = cmd;
    rc = hostconn_exec_many(c, cmds, 5, 3000, res, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "%d %s", rc, errstr);
    for (i = 0; i < 5; i++)
        ck_assert_str_eq(res[i].out, "met\n");
    hostconn_result_free(res, 5);
    hostconn_close(c);
}
END_TEST

UNIT_TEST(test_exec_many_more_than_parallel)
{
    enum { N = HOSTCONN_MAX_PARALLEL * 2 + 3 };
    char cmdbuf[N][32], want[32], errstr[512];
    const char *cmds[N];
    hostconn_result res[N];
    hostconn *c = open_ok();
    size_t i;
    int rc;

    for (i = 0; i < N; i++) {
        snprintf(cmdbuf[i], sizeof(cmdbuf[i]), "echo %zu; exit %zu", i, i % 4);
        cmds[i] = cmdbuf[i];
    }
    rc = hostconn_exec_many(c, cmds, N, 20000, res, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "%d %s", rc, errstr);
    for (i = 0; i < N; i++) {
        snprintf(want, sizeof(want), "%zu\n", i);
        ck_assert_str_eq(res[i].out, want);
        ck_assert_int_eq(res[i].exit_status, (int)(i % 4));
    }
    hostconn_result_free(res, N);
    hostconn_close(c);
}
END_TEST

UNIT_TEST(test_exec_many_partial_timeout)
{
    static const char *const cmds[] = {"echo quick", "sleep 5; echo slow"};
    hostconn *c = open_ok();
    hostconn_result res[2];
    char errstr[512];

    ck_assert_int_eq(hostconn_exec_many(c, cmds, 2, 500, res, errstr, sizeof(errstr)),
                     -HOSTCONN_ETIMEOUT);
    ck_assert_int_eq(res[0].error, 0);
    ck_assert_int_eq(res[0].exit_status, 0);
    ck_assert_str_eq(res[0].out, "quick\n");
    ck_assert_int_eq(res[1].error, -HOSTCONN_ETIMEOUT);
    ck_assert_str_eq(res[1].out, "");
    ck_assert_ptr_nonnull(strstr(errstr, "sleep 5"));
    hostconn_result_free(res, 2);
    hostconn_close(c);
}
END_TEST

/* ---- batches: several commands in one exec ----------------------------------------------- */

/* Every command of exec_cases but the one that kills its shell ($$ is the batch's shell in a
 * part) and some more, as one batch: each part's result is what hostconn_exec gives for it
 * alone. */
UNIT_TEST_IN("batch", test_batch_same_as_exec)
{
    static const char *const extra[] = {
        "printf 'no newline'",
        "echo \"it's\"; printf '%s\\n' 'quoted '\\''word'\\'''",
        "exit 7",
        "echo 'a\nb'; echo x >&2",
        "echo '$(id -u) `id -u` ${HOME}'",
        "(exit 4)",
        "printf '\\n\\n'",
        "cat; echo read-eof",
        "echo $kvmove_undefined_var $1 $#",
    };
    enum {
        NE = sizeof(exec_cases) / sizeof(exec_cases[0]) - 1,
        NX = sizeof(extra) / sizeof(extra[0])
    };
    const char *cmds[NE + NX];
    hostconn_result res[NE + NX];
    hostconn *c = open_ok();
    char errstr[512];
    size_t i;

    for (i = 0; i < NE; i++)
        cmds[i] = exec_cases[i].command;
    for (i = 0; i < NX; i++)
        cmds[NE + i] = extra[i];
    ck_assert_int_eq(hostconn_exec_batch(c, cmds, NE + NX, 10000, res, errstr, sizeof(errstr)), 0);
    for (i = 0; i < NE + NX; i++) {
        char *out = NULL, *err = NULL;
        int status = 12345;
        if (strncmp(cmds[i], "cat", 3) == 0)
            continue; /* alone, it waits for the channel's EOF, which hostconn never sends */
        ck_assert_int_eq(
            hostconn_exec(c, cmds[i], 10000, &status, &out, &err, errstr, sizeof(errstr)), 0);
        ck_assert_int_eq(res[i].error, 0);
        ck_assert_msg(res[i].exit_status == status, "'%s': batch %d, alone %d", cmds[i],
                      res[i].exit_status, status);
        ck_assert_msg(strcmp(res[i].out, out) == 0, "'%s': batch '%s', alone '%s'", cmds[i],
                      res[i].out, out);
        ck_assert_msg(strcmp(res[i].err, err) == 0, "'%s': stderr batch '%s', alone '%s'", cmds[i],
                      res[i].err, err);
        free(out);
        free(err);
    }
    ck_assert_str_eq(res[NE + 1].out, "it's\nquoted 'word'\n");
    ck_assert_str_eq(res[NE + 4].out, "$(id -u) `id -u` ${HOME}\n");
    ck_assert_str_eq(res[NE + 7].out, "read-eof\n");
    hostconn_result_free(res, NE + NX);
    hostconn_close(c);
}
END_TEST

/* One exec for the whole batch, and a failing part changes nothing for the others. */
UNIT_TEST_IN("batch", test_batch_one_exec_failing_part)
{
    static const char *const cmds[] = {"echo one", "echo bad >&2; false", "exit 3", "echo four"};
    hostconn *c = open_ok();
    hostconn_result res[4];
    unsigned long before = hostconn_commands();
    char errstr[512];

    ck_assert_int_eq(hostconn_exec_batch(c, cmds, 4, 10000, res, errstr, sizeof(errstr)), 0);
    ck_assert_uint_eq(hostconn_commands() - before, 1);
    ck_assert_int_eq(res[0].exit_status, 0);
    ck_assert_str_eq(res[0].out, "one\n");
    ck_assert_int_eq(res[1].exit_status, 1);
    ck_assert_str_eq(res[1].err, "bad\n");
    ck_assert_int_eq(res[2].exit_status, 3);
    ck_assert_int_eq(res[3].exit_status, 0);
    ck_assert_str_eq(res[3].out, "four\n");
    hostconn_result_free(res, 4);
    hostconn_close(c);
}
END_TEST

/* Output that looks like separators: another call's marker, and the part's own command line
 * (which holds the marker in two halves only) stay the part's data. */
UNIT_TEST_IN("batch", test_batch_forged_separator)
{
    static const char *const cmds[] = {
        "printf '\\n0123456789abcdef0123456789abcdef 0 0\\n'; printf '\\n0123456789abcdef0123456789"
        "abcdef 0\\n' >&2",
        "tr '\\0' ' ' </proc/$$/cmdline; echo", "echo last"};
    hostconn *c = open_ok();
    hostconn_result res[3];
    char errstr[512];

    ck_assert_int_eq(hostconn_exec_batch(c, cmds, 3, 10000, res, errstr, sizeof(errstr)), 0);
    ck_assert_str_eq(res[0].out, "\n0123456789abcdef0123456789abcdef 0 0\n");
    ck_assert_str_eq(res[0].err, "\n0123456789abcdef0123456789abcdef 0\n");
    ck_assert_ptr_nonnull(strstr(res[1].out, "kvmove_batch"));
    ck_assert_int_eq(res[2].exit_status, 0);
    ck_assert_str_eq(res[2].out, "last\n");
    hostconn_result_free(res, 3);
    hostconn_close(c);
}
END_TEST

/* A part that does not end in time: the ones before are complete, it and the rest time out,
 * and errstr names that part, not the batch. */
UNIT_TEST_IN("batch", test_batch_timeout)
{
    static const char *const cmds[] = {"echo quick", "echo started; sleep 5; echo slow", "echo x"};
    hostconn *c = open_ok();
    hostconn_result res[3];
    char errstr[512];

    ck_assert_int_eq(hostconn_exec_batch(c, cmds, 3, 500, res, errstr, sizeof(errstr)),
                     -HOSTCONN_ETIMEOUT);
    ck_assert_int_eq(res[0].error, 0);
    ck_assert_str_eq(res[0].out, "quick\n");
    ck_assert_int_eq(res[1].error, -HOSTCONN_ETIMEOUT);
    ck_assert_str_eq(res[1].out, "started\n");
    ck_assert_int_eq(res[2].error, -HOSTCONN_ETIMEOUT);
    ck_assert_ptr_nonnull(strstr(errstr, "sleep 5"));
    ck_assert_ptr_null(strstr(errstr, "kvmove_batch"));
    hostconn_result_free(res, 3);
    hostconn_close(c);
}
END_TEST

/* Output past the 1 MiB cap: the part whose separator was cut off (and the rest) are
 * incomplete, never given a wrong end. */
UNIT_TEST_IN("batch", test_batch_output_cut_at_cap)
{
    static const char *const cmds[] = {"echo small", "head -c 1100000 /dev/zero | tr '\\0' x",
                                       "echo after"};
    hostconn *c = open_ok();
    hostconn_result res[3];
    char errstr[512];

    ck_assert_int_eq(hostconn_exec_batch(c, cmds, 3, 20000, res, errstr, sizeof(errstr)),
                     -HOSTCONN_EIO);
    ck_assert_int_eq(res[0].error, 0);
    ck_assert_str_eq(res[0].out, "small\n");
    ck_assert_int_eq(res[1].error, -HOSTCONN_EIO);
    ck_assert_int_eq(res[1].exit_status, -1);
    ck_assert_int_eq(res[2].error, -HOSTCONN_EIO);
    ck_assert_ptr_nonnull(strstr(errstr, "head -c"));
    hostconn_result_free(res, 3);
    hostconn_close(c);
}
END_TEST

#define M "00112233445566778899aabbccddeeff"

/* The splitter alone, on hostile and broken answers. */
static const struct {
    const char *out, *err;
    size_t complete;
    const char *out0, *err1, *left_out; /* part 0's stdout, part 1's stderr, the first
                                           incomplete part's stdout */
    int status1;
} split_cases[] = {
    {"a\n" M " 0 0\nb\n" M " 1 3\n", "\n" M " 0\ne\n" M " 1\n", 2, "a", "e", NULL, 3},
    /* empty outputs, no trailing newline in the data */
    {"\n" M " 0 0\n\n" M " 1 0\n", "\n" M " 0\n\n" M " 1\n", 2, "", "", NULL, 0},
    /* truncated in part 1's data */
    {"a\n" M " 0 0\nhalf", "\n" M " 0\n\n" M " 1\n", 1, "a", NULL, "half", -1},
    /* truncated inside part 1's separator */
    {"a\n" M " 0 0\nb\n" M " 1", "\n" M " 0\n\n" M " 1\n", 1, "a", NULL, "b\n" M " 1", -1},
    /* stderr's separator of part 1 missing */
    {"a\n" M " 0 0\nb\n" M " 1 0\n", "\n" M " 0\nerr", 1, "a", NULL, "b\n" M " 1 0\n", -1},
    /* out of order: part 1's separator says 2 */
    {"a\n" M " 0 0\nb\n" M " 2 0\n", "\n" M " 0\n\n" M " 2\n", 1, "a", NULL, "b\n" M " 2 0\n", -1},
    /* malformed status */
    {"a\n" M " 0 x\n", "\n" M " 0\n", 0, NULL, NULL, "a\n" M " 0 x\n", -1},
    {"a\n" M " 0 999\n", "\n" M " 0\n", 0, NULL, NULL, "a\n" M " 0 999\n", -1},
    /* another marker is data */
    {"\nffffffffffffffffffffffffffffffff 0 0\n\n" M " 0 0\n\n" M " 1 0\n", "\n" M " 0\n\n" M " 1\n",
     2, "\nffffffffffffffffffffffffffffffff 0 0\n", "", NULL, 0},
    /* nothing at all */
    {NULL, NULL, 0, NULL, NULL, "", -1},
};

UNIT_LOOP_IN("batch", test_batch_split_cases, split_cases)
{
    hostconn_result res[2];
    size_t got = hostconn_batch_split(M, 2, split_cases[_i].out, split_cases[_i].err, res);

    ck_assert_uint_eq(got, split_cases[_i].complete);
    if (split_cases[_i].out0)
        ck_assert_str_eq(res[0].out, split_cases[_i].out0);
    if (got == 2) {
        ck_assert_str_eq(res[1].err, split_cases[_i].err1);
        ck_assert_int_eq(res[1].exit_status, split_cases[_i].status1);
        ck_assert_int_eq(res[1].error, 0);
    } else {
        ck_assert_int_eq(res[got].error, -HOSTCONN_EIO);
        ck_assert_int_eq(res[got].exit_status, -1);
        ck_assert_str_eq(res[got].out, split_cases[_i].left_out);
        ck_assert_int_eq(res[1].error, -HOSTCONN_EIO);
    }
    hostconn_result_free(res, 2);
}
END_TEST

/* The command quotes every part as one word and never holds the marker whole. */
UNIT_TEST_IN("batch", test_batch_command_form)
{
    static const char *const cmds[] = {"echo 'x'; touch /tmp/y", "a\nb"};
    char *s = hostconn_batch_command(cmds, 2, M);

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_null(strstr(s, M));
    ck_assert_ptr_nonnull(strstr(s, "}; kvmove_batch '0011223344556677' '8899aabbccddeeff' "
                                    "'echo '\\''x'\\''; touch /tmp/y' 'a\nb'"));
    free(s);
    ck_assert_ptr_null(hostconn_batch_command(cmds, 2, "short"));
    ck_assert_ptr_null(hostconn_batch_command(cmds, 2, "00112233445566778899AABBCCDDEEFF"));
}
END_TEST

/* ---- failures to open ------------------------------------------------------------------- */

/* A loopback port nobody listens on: bound (so nobody else takes it) but never listening. */
static int closed_port(int *fd)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);

    *fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(*fd, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static const struct {
    const char *known_hosts; /* file in the fixture's dir */
    const char *identity;    /* file in the fixture's dir */
    int closed;              /* connect to a closed port instead of the sshd */
    int expect;
    const char *errstr_has; /* "%k" = the known_hosts path, else literal */
} open_cases[] = {
    {"known_hosts_other", "id_ed25519", 0, -HOSTCONN_EHOSTKEY, "%k"},
    {"known_hosts_other", "id_ed25519", 0, -HOSTCONN_EHOSTKEY, "does NOT match"},
    {"no_such_known_hosts", "id_ed25519", 0, -HOSTCONN_EHOSTKEY, "%k"},
    {"no_such_known_hosts", "id_ed25519", 0, -HOSTCONN_EHOSTKEY, "is not in"},
    {"known_hosts", "other_id_ed25519", 0, -HOSTCONN_EAUTH, "refused the key"},
    {"known_hosts", "no_such_key", 0, -HOSTCONN_EAUTH, "no_such_key"},
    {"known_hosts", "id_ed25519", 1, -HOSTCONN_EUNREACHABLE, "cannot connect to 127.0.0.1"},
};

UNIT_LOOP_IN("open", test_open_failures, open_cases)
{
    char id[PATH_MAX + 32], kh[PATH_MAX + 32], errstr[1024] = "";
    hostconn_opts o = {0};
    hostconn *c = (hostconn *)&o; /* must be reset to NULL on failure */
    int fd = -1;
    int rc;

    path_in_dir(id, sizeof(id), open_cases[_i].identity);
    path_in_dir(kh, sizeof(kh), open_cases[_i].known_hosts);
    o.port = open_cases[_i].closed ? closed_port(&fd) : port;
    o.identity = id;
    o.known_hosts = kh;
    o.connect_timeout_ms = 5000;
    rc = hostconn_open("127.0.0.1", &o, &c, errstr, sizeof(errstr));
    ck_assert_msg(rc == open_cases[_i].expect, "case %d: got %d (%s)", _i, rc, errstr);
    ck_assert_ptr_null(c);
    if (strcmp(open_cases[_i].errstr_has, "%k") == 0)
        ck_assert_msg(strstr(errstr, kh) != NULL, "'%s' does not name %s", errstr, kh);
    else
        ck_assert_msg(strstr(errstr, open_cases[_i].errstr_has) != NULL, "'%s' lacks '%s'", errstr,
                      open_cases[_i].errstr_has);
    if (fd >= 0)
        close(fd);
}
END_TEST

UNIT_TEST_IN("open", test_open_defaults_from_home)
{
    char home[PATH_MAX + 32], cmd[5 * PATH_MAX], errstr[512], *out = NULL;
    hostconn_opts o = {0};
    hostconn *c = NULL;
    int rc;

    /* No identity and no known_hosts given: ~/.ssh/id_ed25519 and ~/.ssh/known_hosts. */
    path_in_dir(home, sizeof(home), "home");
    snprintf(cmd, sizeof(cmd),
             "mkdir -p '%s/.ssh' && cp '%s/id_ed25519' '%s/known_hosts' '%s/.ssh/'", home, dir, dir,
             home);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(setenv("HOME", home, 1), 0);
    o.port = port;
    rc = hostconn_open("127.0.0.1", &o, &c, errstr, sizeof(errstr));
    ck_assert_msg(rc == 0, "%d %s", rc, errstr);
    ck_assert_int_eq(hostconn_exec(c, "id -un", 10000, NULL, &out, NULL, errstr, sizeof(errstr)),
                     0);
    ck_assert_str_eq(out, "root\n");
    free(out);
    hostconn_close(c);
    /* Without the key in ~/.ssh there is nothing to authenticate with. */
    snprintf(cmd, sizeof(cmd), "rm '%s/.ssh/id_ed25519'", home);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(hostconn_open("127.0.0.1", &o, &c, errstr, sizeof(errstr)), -HOSTCONN_EAUTH);
    ck_assert_ptr_nonnull(strstr(errstr, "no identity file"));
}
END_TEST

/* ---- broken sessions -------------------------------------------------------------------- */

UNIT_TEST_IN("broken", test_reconnect_after_server_restart)
{
    hostconn *c = open_ok();
    char errstr[512], *before = NULL, *after = NULL;
    int status = -5;

    ck_assert_int_eq(
        hostconn_exec(c, "echo $SSH_CLIENT", 10000, NULL, &before, NULL, errstr, sizeof(errstr)),
        0);
    fixture("stop"); /* also ends the connection's sshd process */
    fixture("start");
    ck_assert_msg(hostconn_exec(c, "echo $SSH_CLIENT", 10000, &status, &after, NULL, errstr,
                                sizeof(errstr)) == 0,
                  "exec after restart: %s", errstr);
    ck_assert_int_eq(status, 0);
    ck_assert_str_ne(before, after); /* a new connection (another source port) */
    free(before);
    free(after);
    hostconn_close(c);
}
END_TEST

UNIT_TEST_IN("broken", test_broken_during_command_not_resent)
{
    hostconn *c = open_ok();
    char errstr[512], path[PATH_MAX + 32], cmd[2 * PATH_MAX], *out = NULL;
    int status = -5;

    /* The command kills the sshd process serving its connection: the session breaks while the
     * command runs, so its outcome is unknown and it must not be run a second time. */
    path_in_dir(path, sizeof(path), "runs");
    snprintf(cmd, sizeof(cmd), "echo run >> '%s'; kill -9 $PPID; sleep 2", path);
    ck_assert_int_eq(hostconn_exec(c, cmd, 10000, &status, NULL, NULL, errstr, sizeof(errstr)),
                     -HOSTCONN_EIO);
    ck_assert_ptr_nonnull(strstr(errstr, "broke"));
    /* The next command reconnects, and shows the first one ran exactly once. */
    snprintf(cmd, sizeof(cmd), "wc -l < '%s'", path);
    ck_assert_msg(hostconn_exec(c, cmd, 10000, &status, &out, NULL, errstr, sizeof(errstr)) == 0,
                  "exec after break: %s", errstr);
    ck_assert_str_eq(out, "1\n");
    free(out);
    hostconn_close(c);
}
END_TEST

UNIT_TEST_IN("broken", test_unreachable_after_server_stop)
{
    hostconn *c = open_ok();
    char errstr[512];

    fixture("stop");
    ck_assert_int_eq(hostconn_exec(c, "true", 10000, NULL, NULL, NULL, errstr, sizeof(errstr)),
                     -HOSTCONN_EUNREACHABLE);
    ck_assert_ptr_nonnull(strstr(errstr, "127.0.0.1"));
    fixture("start");
    ck_assert_int_eq(hostconn_exec(c, "true", 10000, NULL, NULL, NULL, errstr, sizeof(errstr)), 0);
    hostconn_close(c);
}
END_TEST

int main(void)
{
    return unit_main("hostconn");
}
