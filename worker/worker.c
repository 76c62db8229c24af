/* worker: the state the worker's threads share: the run flag, the set of jobs being held and the
 * renewal of their leases. */
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "worker.h"

volatile sig_atomic_t worker_running = 1;

int worker_wait_work(jobstore *js, int slice_ms, int64_t last_look, int poll_ms, const char *tag)
{
    char err[1024];
    int rc = jobstore_wait(js, slice_ms, err, sizeof(err));

    if (rc < 0) {
        worker_log("[%s] %s", tag, err);
        jobstore_ensure(js, err, sizeof(err));
        return 1;
    }
    return rc > 0 || util_now_ms() - last_look >= poll_ms;
}

int worker_hold(worker *w, int slot, const char *job_id)
{
    int i, rc = 0;

    if (slot < 0 || slot >= w->n_held)
        return 0;
    pthread_mutex_lock(&w->held_lock);
    for (i = 0; job_id && i < w->n_held; i++)
        if (i != slot && strcmp(w->held[i], job_id) == 0)
            rc = -1;
    if (rc == 0)
        util_strlcpy(w->held[slot], job_id ? job_id : "", sizeof(w->held[slot]));
    pthread_mutex_unlock(&w->held_lock);
    return rc;
}

volatile sig_atomic_t worker_renewing = 1;

void *worker_renew_main(void *arg)
{
    worker *w = arg;
    jobstore *js = NULL;
    char err[1024], (*ids)[REQUEST_UUID_LEN] = calloc((size_t)w->n_held + 1, sizeof(*ids));
    const char **held = calloc((size_t)w->n_held + 1, sizeof(*held));
    int renewed, slept, i, ok = 1;
    size_t n;

    while (worker_renewing && ids && held) {
        pthread_mutex_lock(&w->held_lock);
        for (i = 0, n = 0; i < w->n_held; i++) {
            if (w->held[i][0] == '\0')
                continue;
            util_strlcpy(ids[n], w->held[i], sizeof(ids[n]));
            held[n] = ids[n];
            n++;
        }
        pthread_mutex_unlock(&w->held_lock);
        ok = 1;
        if (n > 0 && js == NULL && jobstore_connect(w->s.db, &js, err, sizeof(err)) != 0) {
            worker_log("[worker] lease renewal: %s", err);
            ok = 0;
        } else if (n > 0 && jobstore_lease_renew(js, w->owner, held, n, w->s.lease_s, &renewed, err,
                                                 sizeof(err)) != 0) {
            jobstore_ensure(js, err, sizeof(err));
            ok = 0;
        }
        /* A renewal that failed (the database restarting) is tried again at once, not a third
         * of the lease later: by then the lease may have run out, and another worker would
         * take over jobs still worked on here. Short naps: a stopping worker joins this thread. */
        for (slept = 0; worker_renewing && slept < (ok ? w->s.lease_s * 1000 / 3 : 200);
             slept += 100)
            worker_sleep_ms(100);
    }
    free(ids);
    free(held);
    jobstore_close(js);
    return NULL;
}
