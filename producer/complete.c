/* complete: `kvmove __complete WHAT`, the data the shell completion (completion/kvmove) asks
 * for: step names, statuses, setting keys, and from PostgreSQL job ids and the hosts and guests
 * of the stored es.xml. One word per line on stdout; nothing on stderr, whatever fails (the
 * shell would print it on the command line being typed). Verbs and options come from --help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "esxml.h"
#include "settings.h"
#include "step.h"

/* Most job ids offered: the newest first, enough for a screen of candidates. */
#define COMPLETE_JOBS 200

/* Job ids, newest first, of the STATUSES (NULL-terminated; none = every status). */
static int complete_jobs(cli *c, char **statuses)
{
    char err[1024];
    jobstore *js = NULL;
    json_t *list, *v;
    size_t i;
    int k = 0;

    if (jobstore_connect(c->s.db, &js, err, sizeof(err)) != 0)
        return EXIT_UNREACHABLE;
    do {
        const char *status = statuses[0] ? statuses[k] : NULL;
        if (jobstore_jobs_list_json(js, status, NULL, NULL, COMPLETE_JOBS, &list, err,
                                    sizeof(err)) != 0)
            break;
        json_array_foreach(list, i, v) puts(jstr(v, "id"));
        json_decref(list);
    } while (statuses[0] && statuses[++k]);
    jobstore_close(js);
    return EXIT_DONE;
}

/* The KVM hosts (HOSTS 1) or guests (0) of the newest es.xml version of every system stored, or
 * the systems themselves (SYSTEMS 1). */
static int complete_machines(cli *c, int hosts, int systems)
{
    char err[1024], *text = NULL;
    jobstore_config_info info;
    jobstore *js = NULL;
    json_t *list = NULL, *seen = json_object();
    size_t i, k;

    if (seen == NULL || jobstore_connect(c->s.db, &js, err, sizeof(err)) != 0)
        goto out;
    if (jobstore_config_list(js, NULL, &list, err, sizeof(err)) != 0)
        goto out;
    /* Newest first: the first version seen of a system is its newest. */
    for (i = json_array_size(list); i-- > 0;) {
        const char *system = jstr(json_array_get(list, i), "system");
        long version =
            (long)json_integer_value(json_object_get(json_array_get(list, i), "version"));
        esxml *doc = NULL;
        if (json_object_get(seen, system) != NULL)
            continue;
        json_object_set_new(seen, system, json_true());
        if (systems) {
            puts(system);
            continue;
        }
        if (jobstore_config_get(js, system, version, &text, &info, err, sizeof(err)) != 0)
            continue;
        /* No schema validation: it was validated when stored, and this runs on every TAB. */
        if (esxml_load_buffer(text, strlen(text), NULL, &doc, err, sizeof(err)) == 0) {
            if (hosts)
                for (k = 0; k < esxml_host_count(doc); k++)
                    puts(esxml_host_at(doc, k)->hostname);
            else
                for (k = 0; k < esxml_guest_count(doc); k++)
                    puts(esxml_guest_at(doc, k)->hostname);
        }
        esxml_free(doc);
        free(text);
        text = NULL;
    }
out:
    json_decref(list);
    json_decref(seen);
    jobstore_close(js);
    return EXIT_DONE;
}

int cmd_complete(cli *c, int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    size_t i;

    if (strcmp(what, "steps") == 0) {
        for (i = 0; i < STEP__COUNT; i++)
            puts(step_to_string((step_id)i));
    } else if (strcmp(what, "statuses") == 0) {
        for (i = 0; i < JOB__COUNT; i++)
            puts(job_status_to_string((job_status)i));
    } else if (strcmp(what, "modes") == 0) {
        puts("offline");
        puts("offlineforce");
    } else if (strcmp(what, "settings") == 0) {
        const char *key;
        for (i = 0; (key = settings_key(i)) != NULL; i++)
            puts(key);
    } else if (strcmp(what, "jobs") == 0) {
        return complete_jobs(c, argv + 2);
    } else if (strcmp(what, "hosts") == 0 || strcmp(what, "guests") == 0 ||
               strcmp(what, "systems") == 0) {
        return complete_machines(c, strcmp(what, "hosts") == 0, strcmp(what, "systems") == 0);
    } else {
        return EXIT_USAGE;
    }
    return EXIT_DONE;
}
