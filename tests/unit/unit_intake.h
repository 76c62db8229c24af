/* unit_intake.h: a request's intake on a connection and thread of its own, for the suites that
 * hold one intake back behind a lock while another runs (test code). */
#ifndef KVMOVE_UNIT_INTAKE_H
#define KVMOVE_UNIT_INTAKE_H

#include <check.h>
#include <pthread.h>
#include <string.h>

#include "jobstore.h"
#include "request.h"

typedef struct unit_intake {
    const request *r;
    jobstore *js;
    pthread_t thread;
    jobstore_intake result; /* jobstore_intake_request's, once joined */
    int rc;
    char err[1024];
} unit_intake;

static inline void *unit_intake_main(void *arg)
{
    unit_intake *c = arg;

    c->rc = jobstore_intake_request(c->js, c->r, 0, 0, "test", &c->result, c->err, sizeof(c->err));
    return NULL;
}

/* Starts the intake of R on a connection of its own to CONNINFO. */
static inline void unit_intake_start(unit_intake *c, const char *conninfo, const request *r)
{
    char err[1024];

    memset(c, 0, sizeof(*c));
    c->r = r;
    ck_assert_msg(jobstore_connect(conninfo, &c->js, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(pthread_create(&c->thread, NULL, unit_intake_main, c), 0);
}

/* Waits for the intake to end and closes its connection (C->rc, ->result, ->err tell how). */
static inline void unit_intake_join(unit_intake *c)
{
    pthread_join(c->thread, NULL);
    jobstore_close(c->js);
    c->js = NULL;
}

#endif
