/* worker log: one line at a time across the worker's threads. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "worker.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void worker_log(const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&log_lock);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&log_lock);
}

void worker_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
