/* cleanup: `kvmove cleanup` runs the pending OFFLINEFORCE cleanups (stale copies) on demand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fence.h"

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("%s\n", shown_lines(line));
    fflush(stdout);
}

int cmd_cleanup(cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                         {"guest", required_argument, NULL, 'g'},
                                         {"list", no_argument, NULL, 'l'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"reason", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *host = NULL, *guest = NULL, *reason = NULL;
    int ch, list = 0, done = 0, left = 0, rc;
    char err[1024], source[300];
    jobstore *js = NULL;
    json_t *rows = NULL, *r;
    size_t i;

    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            host = optarg;
            break;
        case 'g':
            guest = optarg;
            break;
        case 'l':
            list = 1;
            break;
        case 'j':
            c->json = 1;
            break;
        case 'r':
            reason = optarg;
            break;
        case 'h':
            printf("Usage: kvmove cleanup [--host H] [--guest G] [--list] [--reason TEXT] "
                   "[--json]\n"
                   "Run the source-side cleanups that MODE=OFFLINEFORCE left pending on a host it\n"
                   "could not reach: the stale copy of each guest is destroyed if it runs, its\n"
                   "definition (and autostart) removed, its configuration volume unmounted with\n"
                   "its fstab entry and directory, and bridges only it used removed. Workers do\n"
                   "this by themselves when the host is back; this runs it now. --list only\n"
                   "lists them. --reason is stored with each cleanup and carried in its\n"
                   "cleanup.completed event. Exit status: 0 nothing left pending, 1 some still\n"
                   "pending.\n");
            return EXIT_DONE;
        default:
            return usage_error("cleanup", "%s", "invalid option");
        }
    }
    if (optind != argc)
        return usage_error("cleanup", "unexpected argument '%s'", argv[optind]);
    if ((rc = open_store(c, &js)) != 0)
        return rc;
    if (!list && reason &&
        jobstore_cleanup_reason(js, host, guest, reason, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvmove: %s\n", err);
        jobstore_close(js);
        return EXIT_UNREACHABLE;
    }
    if (!list) {
        snprintf(source, sizeof(source), "cli:%s", getenv("USER") ? getenv("USER") : "kvmove");
        for (i = 0; i < strlen(source); i++)
            if (source[i] == ' ')
                source[i] = '_';
        if (fence_sweep(js, &c->s, host, guest, source, c->json ? NULL : print_line, NULL, &done,
                        &left, err, sizeof(err)) != 0) {
            fprintf(stderr, "kvmove: %s\n", err);
            jobstore_close(js);
            return EXIT_UNREACHABLE;
        }
    }
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
