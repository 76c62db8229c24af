/* worker log: one line at a time across the worker's threads, as text or as JSON lines. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "worker.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_json;    /* set once by worker_log_setup, before any thread starts */
static int log_journal; /* likewise: stdout is systemd's journal */

/* What the calling thread is working on, for the JSON fields. */
static __thread struct {
    char job[64];
    char guest[256];
    char step[64];
} log_ctx;

static const char *const level_names[] = {"debug", "info", "warning", "error"};
/* The syslog priority of each level, as journald reads it from a "<N>" line prefix
 * (sd-daemon(3): SD_DEBUG, SD_INFO, SD_WARNING, SD_ERR). */
static const int level_priorities[] = {7, 6, 4, 3};

/* Whether stdout is the journal: systemd sets $JOURNAL_STREAM to the device and inode of the
 * stream it connected (systemd.exec(5)); a redirected stdout no longer matches them. */
static int stdout_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
           fstat(STDOUT_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

int worker_log_setup(const char *format, char *errstr, size_t errstr_size)
{
    log_journal = stdout_is_journal();
    if (strcmp(format, "text") == 0)
        log_json = 0;
    else if (strcmp(format, "json") == 0)
        log_json = 1;
    else {
        util_errf(errstr, errstr_size, "log format '%s' is not 'text' or 'json'", format);
        return -1;
    }
    return 0;
}

void worker_log_context(const char *job, const char *guest, const char *step)
{
    util_strlcpy(log_ctx.job, job ? job : "", sizeof(log_ctx.job));
    util_strlcpy(log_ctx.guest, guest ? guest : "", sizeof(log_ctx.guest));
    util_strlcpy(log_ctx.step, step ? step : "", sizeof(log_ctx.step));
}

/* Sets KEY of O to VALUE, or to null when VALUE is empty. */
static void set_or_null(json_t *o, const char *key, const char *value)
{
    json_object_set_new(o, key, value && value[0] ? json_string(value) : json_null());
}

/* MSG as a JSON string; bytes that are not UTF-8 (host output may hold any) become '?'. */
static json_t *utf8_string(const char *msg)
{
    json_t *v = json_string(msg);
    char *copy, *p;

    if (v != NULL || (copy = strdup(msg)) == NULL)
        return v ? v : json_string("");
    for (p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

/* One JSON object: time, level, job, guest, step, component, message. The "[tag] " prefix
 * of a text line becomes the component (the job and guest are fields of their own). */
static void emit_json(worker_log_level level, const char *line)
{
    char ts[64], component[128] = "";
    const char *msg = line, *end;
    struct timeval tv;
    struct tm tm;
    json_t *o = json_object();
    char *out;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03ldZ", (long)(tv.tv_usec / 1000));
    if (line[0] == '[' && (end = strstr(line, "] ")) != NULL &&
        (size_t)(end - line) < sizeof(component)) {
        memcpy(component, line + 1, (size_t)(end - line - 1));
        component[end - line - 1] = '\0';
        msg = end + 2;
    }
    json_object_set_new(o, "time", json_string(ts));
    json_object_set_new(o, "level", json_string(level_names[level]));
    set_or_null(o, "job", log_ctx.job);
    set_or_null(o, "guest", log_ctx.guest);
    set_or_null(o, "step", log_ctx.step);
    /* a job's tag repeats job and guest: the component is only kept for other lines */
    set_or_null(o, "component", log_ctx.job[0] ? "" : component);
    json_object_set_new(o, "message", utf8_string(msg));
    out = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (out) {
        fputs(out, stdout);
        fputc('\n', stdout);
        free(out);
    }
    json_decref(o);
}

static void vlog(worker_log_level level, const char *fmt, va_list ap)
{
    char *line = NULL;

    pthread_mutex_lock(&log_lock);
    if (log_journal)
        fprintf(stdout, "<%d>", level_priorities[level]);
    if (!log_json) {
        vfprintf(stdout, fmt, ap);
        fputc('\n', stdout);
    } else if (vasprintf(&line, fmt, ap) >= 0) {
        emit_json(level, line);
        free(line);
    }
    fflush(stdout);
    pthread_mutex_unlock(&log_lock);
}

void worker_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(WORKER_LOG_INFO, fmt, ap);
    va_end(ap);
}

void worker_log_at(worker_log_level level, const char *fmt, ...)
{
    va_list ap;

    if ((int)level < 0 || level > WORKER_LOG_ERROR)
        level = WORKER_LOG_INFO;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void worker_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
