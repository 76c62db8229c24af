/* fencer: a worker thread that removes stale copies left by OFFLINEFORCE once their host is back.
 */
#include <stdio.h>

#include "fence.h"
#include "worker.h"

volatile sig_atomic_t fencer_run = 1;

static void fence_log(void *ctx, const char *line)
{
    (void)ctx;
    worker_log("[fence] %s", line);
}

void *fencer_main(void *arg)
{
    worker *w = arg;
    jobstore *js = NULL;
    char err[1024];
    int done, left, slept;

    while (fencer_run) {
        if (js == NULL && jobstore_connect(w->s.db, &js, err, sizeof(err)) != 0) {
            js = NULL;
        } else if (js != NULL) {
            /* Every host with pending cleanups is tried each round; unreachable ones stay
             * pending (their stale copies cannot start: OFFLINEFORCE detached the volumes
             * storage-side). */
            if (fence_sweep(js, &w->s, NULL, NULL, w->source, fence_log, NULL, &done, &left, err,
                            sizeof(err)) != 0) {
                worker_log("[fence] %s", err);
                jobstore_ensure(js, err, sizeof(err));
            } else if (done > 0) {
                worker_log("[fence] %d stale cop%s removed, %d still pending", done,
                           done == 1 ? "y" : "ies", left);
            }
        }
        for (slept = 0; fencer_run && slept < 2000; slept += 100)
            worker_sleep_ms(100);
    }
    jobstore_close(js);
    return NULL;
}
