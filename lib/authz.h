/* authz: who may do what: the rights an administrator grants (per es.xml system, or '*' for every
 * system), the one table of which rights a request needs, and the verdict with its reason. */
#ifndef KVMOVE_AUTHZ_H
#define KVMOVE_AUTHZ_H

#include <stddef.h>

#include "probe.h"
#include "request.h"

/* The rights, as table grants stores them by name (authz_right_name). Add a right here and a row
 * to the rules in authz.c; nothing else changes. */
typedef enum {
    AUTHZ_MIGRATE,  /* migrate_guest and replay, MODE=OFFLINE */
    AUTHZ_FORCE,    /* MODE=OFFLINEFORCE (with migrate) */
    AUTHZ_EVACUATE, /* evacuate's plan, return (evacuate's moves are migrate_guest requests) */
    AUTHZ_CLEANUP,  /* kvmove cleanup: the pending OFFLINEFORCE cleanups */
    AUTHZ_DRY_RUN,  /* read-only host probing: submit --dry-run */
    AUTHZ__COUNT
} authz_right;

#define AUTHZ_ANY_SYSTEM "*"

/* "migrate", "force", "evacuate", "cleanup", "dry_run" (static; NULL when out of range). */
const char *authz_right_name(authz_right r);
/* Parses a right's name (exact). Returns 0 and *OUT, or -1. */
int authz_right_from_name(const char *name, authz_right *out);
/* The rights' names joined by SEP into BUF (for help texts and errors); returns BUF. */
char *authz_right_names(const char *sep, char *buf, size_t size);

/* A set of rights: bit (1u << right). */
typedef unsigned authz_rights;

/* What request R needs: the rights (all of them) and the phrase that names what they allow
 * ("force migrations"). MODE is the mode the job will run with (a replay's is its job's unless R
 * overrides it). Returns 0, or -1 when no rule covers R (refused: errstr). */
int authz_needed(const request *r, migrate_mode mode, authz_rights *rights, const char **what,
                 char *errstr, size_t errstr_size);

/* The verdict on IDENTITY doing R in SYSTEM ("" = a request for every system, or one whose
 * system is not known: only rights granted on AUTHZ_ANY_SYSTEM count) with the rights GRANTED
 * there (those of SYSTEM and of '*'). Returns 0 when allowed, -1 with the reason in errstr:
 * "alice may not force migrations on system exa01: ask an administrator to grant 'force'". */
int authz_check(const char *identity, const char *system, authz_rights granted, const request *r,
                migrate_mode mode, char *errstr, size_t errstr_size);

/* The verdict on IDENTITY running a probe of KIND (kvmove cleanup: cleanup; submit --dry-run:
 * dry_run; evacuate's plan: evacuate) in SYSTEM, as authz_check: 0 when allowed, -1 with the reason
 * in errstr. */
int authz_check_probe(const char *identity, const char *system, authz_rights granted,
                      probe_kind kind, char *errstr, size_t errstr_size);

#endif
