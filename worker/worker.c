/* worker: the state the worker's threads share: the run flag and the set of jobs being held. */
#include <string.h>

#include "util.h"
#include "worker.h"

volatile sig_atomic_t worker_running = 1;

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
