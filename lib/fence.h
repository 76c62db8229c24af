/* fence: removes the stale copy of a guest that OFFLINEFORCE left on an unreachable source. */
#ifndef KVMOVE_FENCE_H
#define KVMOVE_FENCE_H

#include <stddef.h>

#include "esxml.h"
#include "hostconn.h"
#include "jobstore.h"
#include "settings.h"

/* Cleans GUEST off HOST over C: a running stale copy is destroyed, the definition (and with it
 * autostart) removed, the configuration volume unmounted with its fstab entry and directory,
 * volumes still attached detached, and bridges only this guest used removed (DOC, the newest
 * es.xml, says which guests remain on HOST). Each action observes first, so running it again
 * is safe. Returns 0 with *OUTPUT (malloc'd lines, caller frees), or a negative code with
 * errstr (-HOSTCONN_E* for the connection). */
int fence_guest(hostconn *c, const esxml *doc, const char *host, const char *guest, int timeout_ms,
                char **output, char *errstr, size_t errstr_size);

/* Called with each progress line (may be NULL). */
typedef void (*fence_log_fn)(void *ctx, const char *line);

/* Runs every pending cleanup (only HOST's / GUEST's when not NULL) that can be done now:
 * connects to its host with S's SSH settings, fences, records the outcome (cleanup.completed
 * event). Unreachable hosts stay pending. *DONE and *LEFT (may be NULL) get the counts.
 * Returns 0, or a negative jobstore code. */
int fence_sweep(jobstore *js, const settings *s, const char *host, const char *guest,
                const char *source, fence_log_fn log, void *log_ctx, int *done, int *left,
                char *errstr, size_t errstr_size);

#endif
