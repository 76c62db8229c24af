/* cleanup: `kvmove cleanup` has a worker run the pending OFFLINEFORCE cleanups (stale copies) now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

/* How long kvmove cleanup waits for a worker by default. */
#define CLEANUP_TIMEOUT_S 300

/* Asks a worker for the sweep (the cleanup request, signed) and prints its progress lines.
 * Returns EXIT_DONE with *DONE, or an exit code after saying why. */
static int sweep(cli *c, const char *host, const char *guest, const char *reason, int timeout_s,
                 int *done)
{
    probe_request p;
    json_t *row = NULL, *l;
    size_t i;
    int rc;

    probe_init(&p, PROBE_CLEANUP);
    util_strlcpy(p.host, host ? host : "", sizeof(p.host));
    util_strlcpy(p.guest, guest ? guest : "", sizeof(p.guest));
    util_strlcpy(p.reason, reason ? reason : "", sizeof(p.reason));
    if ((rc = cli_probe(c, &p, timeout_s, &row)) != EXIT_DONE)
        return rc;
    if (strcmp(jstr(row, "status"), "succeeded") != 0) {
        fprintf(stderr, "kvmove: %s\n", jshown(row, "error"));
        json_decref(row);
        return EXIT_UNREACHABLE;
    }
    if (!c->json)
        json_array_foreach(json_object_get(json_object_get(row, "result"), "lines"), i, l)
            printf("%s\n", shown_lines(json_string_value(l)));
    *done = (int)json_integer_value(json_object_get(json_object_get(row, "result"), "done"));
    json_decref(row);
    return EXIT_DONE;
}

int cmd_cleanup(cli *c, int argc, char **argv)
{
    const char *host = NULL, *guest = NULL, *reason = NULL;
    int list = 0, done = 0, left = 0, rc, timeout_s = CLEANUP_TIMEOUT_S;
    const cli_opt opts[] = {
        CLI_TEXT("host", &host),     CLI_TEXT("guest", &guest),
        CLI_FLAG("list", &list),     CLI_FLAG("json", &c->json),
        CLI_TEXT("reason", &reason), CLI_INT("timeout", &timeout_s, 0, CLI_TIMEOUT_MAX),
    };
    char err[1024];
    jobstore *js = NULL;
    json_t *rows = NULL, *r;
    size_t i;

    if ((rc = cli_parse(
             "cleanup", opts, CLI_NOPTS(opts),
             "Usage: kvmove cleanup [--host H] [--guest G] [--list] [--reason TEXT]\n"
             "                      [--timeout SEC] [--json]\n"
             "Run the source-side cleanups that MODE=OFFLINEFORCE left pending on a host it\n"
             "could not reach: the stale copy of each guest is destroyed if it runs, its\n"
             "definition (and autostart) removed, its configuration volume unmounted with\n"
             "its fstab entry and directory, and bridges only it used removed. Workers do\n"
             "this by themselves when the host is back; this asks one to run it now (a\n"
             "signed cleanup request: it needs the right 'cleanup'; the CLI needs no SSH\n"
             "key) and waits up to --timeout SEC (default 300; 0 = no limit) for it.\n"
             "--list only lists them. --reason is stored with each cleanup and carried in\n"
             "its cleanup.completed event. Exit status: 0 nothing left pending, 1 some\n"
             "still pending or the request refused, 3 no worker answered or the broker or\n"
             "database is unreachable.\n",
             0, argc, argv)) != CLI_GO_ON)
        return rc;
    if (!list && (rc = sweep(c, host, guest, reason, timeout_s, &done)) != EXIT_DONE)
        return rc;
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    if (jobstore_cleanups_json(js, host, guest, &rows, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        jobstore_close(js);
        return EXIT_UNREACHABLE;
    }
    jobstore_close(js);
    left = 0;
    json_array_foreach(rows, i, r) if (strcmp(jstr(r, "status"), "pending") == 0) left++;
    if (c->json) {
        print_json(rows);
    } else {
        if (!list)
            printf("%d cleanup%s done now, %d still pending\n", done, done == 1 ? "" : "s", left);
        json_array_foreach(rows, i, r)
            printf("  %-28s %-28s %-8s %s%s%s\n", jshown(r, "host"), jshown(r, "guest"),
                   jshown(r, "status"), jshown(r, "job_id"),
                   *jstr(r, "last_error") ? "  last error: " : "", jshown(r, "last_error"));
    }
    json_decref(rows);
    return left ? EXIT_FAILED : EXIT_DONE;
}
