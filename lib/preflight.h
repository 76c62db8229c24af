/* preflight: the spec's requirements for an offline migration as a table of named checks. */
#ifndef KVMOVE_PREFLIGHT_H
#define KVMOVE_PREFLIGHT_H

#include <stddef.h>
#include <jansson.h>

#include "esxml.h"
#include "hostconn.h"
#include "jobstore.h"
#include "request.h"
#include "step.h"

/* Every check, in the order they run and are recorded. Values are stable within a release;
 * the names (preflight_name) are what the database, events and tests use. */
typedef enum {
    PREFLIGHT_ESXML_CURRENT,   /* es.xml version present and defines the guest */
    PREFLIGHT_SAME_SYSTEM,     /* source and target are KVM hosts of the same es.xml */
    PREFLIGHT_DISTINCT_HOSTS,  /* source != target */
    PREFLIGHT_SSH_SOURCE,      /* root key auth on the source works */
    PREFLIGHT_SSH_TARGET,      /* root key auth on the target works */
    PREFLIGHT_HARDWARE_SOURCE, /* 2-socket X8M-2 or later, RoCE, a KVM host */
    PREFLIGHT_HARDWARE_TARGET,
    PREFLIGHT_SOFTWARE_SOURCE, /* Exadata software >= 25.1.0 */
    PREFLIGHT_SOFTWARE_TARGET,
    PREFLIGHT_TARGET_VERSION,     /* target software >= source software */
    PREFLIGHT_EXASCALE_STORAGE,   /* guest images on Exascale (EDV volumes) */
    PREFLIGHT_STORAGE_SERVERS,    /* both hosts see the same storage servers */
    PREFLIGHT_NETWORK_VISIBILITY, /* the guest's bridges/VLANs work on the target */
    PREFLIGHT_LIVEUPDATE_SOURCE,  /* no outstanding Exadata Live Update work */
    PREFLIGHT_LIVEUPDATE_TARGET,
    PREFLIGHT_LIVEUPDATE_GUEST,
    PREFLIGHT_GUEST_ON_SOURCE, /* the guest is placed on / defined on the source */
    PREFLIGHT_GUEST_NAME_FREE, /* no domain of that name on the target */
    PREFLIGHT_TARGET_MEMORY,   /* free memory, no over-commit */
    PREFLIGHT_TARGET_VCPUS,    /* vCPUs within the configured over-commit ratio */
    PREFLIGHT_VM_CLUSTER,      /* no other member of the guest's VM cluster on or coming to the
                                  target (anti-affinity) */
    PREFLIGHT__COUNT
} preflight_check;

typedef enum {
    PREFLIGHT_PASSED,
    PREFLIGHT_FAILED,
    PREFLIGHT_SKIPPED, /* could not or need not run (reason in the message) */
    PREFLIGHT_WARNING, /* passed, but something deserves attention (e.g. es.xml disagrees) */
} preflight_status;

/* One row of the check table. */
typedef struct preflight_def {
    preflight_check id;
    const char *name;        /* e.g. "target_memory" */
    const char *requirement; /* the spec's requirement, one line */
    const char *reads;       /* where the answer comes from, e.g. "es.xml; target host-info" */
    int live;                /* 1 if a live host answer is consulted when available */
} preflight_def;

/* The table row of CHECK (static), or NULL if out of range. */
const preflight_def *preflight_def_of(preflight_check check);
/* The check's name ("target_memory"); static; NULL if out of range. */
const char *preflight_name(preflight_check check);
/* Parses a check name (exact). Returns 0 and *OUT, or -1. */
int preflight_from_name(const char *name, preflight_check *out);
/* "passed", "failed", "skipped", "warning" (the preflight_results.status values); static. */
const char *preflight_status_to_string(preflight_status status);

/* What a KVM host said about itself over SSH. Numbers are -1 and strings "" when unknown. */
typedef enum {
    PREFLIGHT_FACTS_NONE,        /* not asked (es.xml-only run) */
    PREFLIGHT_FACTS_OK,          /* connected; the fields below are filled */
    PREFLIGHT_FACTS_UNREACHABLE, /* host down / no route / timed out */
    PREFLIGHT_FACTS_REFUSED,     /* reachable, but key auth or host key failed */
} preflight_facts_state;

typedef struct preflight_facts {
    preflight_facts_state state;
    char error[512]; /* why, when not OK */
    char model[64];
    int sockets;
    char fabric[32];
    char version[64]; /* imageinfo -ver, else host-info Version */
    int cores;
    long memory_mb;
    long free_memory_mb; /* memory minus the domains defined there */
    int used_vcpus;
    int liveupdate; /* 1 pending, 0 none, -1 unknown */
    char node_type[32];
    char storage_servers[1024]; /* comma/space separated as the host says; "" = not reported */
    int have_domains;
    char domains[8192]; /* defined domains, one per line */
    int have_bridges;
    char bridges[4096]; /* bridges, one per line */
    int vf_pools;       /* number of VF pools in use, -1 unknown */
} preflight_facts;

/* Sets every field of F to "unknown" with STATE. */
void preflight_facts_init(preflight_facts *f, preflight_facts_state state);
/* Parses `vm_maker --host-info` output ("Key: value" lines) into F (fields it names only).
 * Returns the number of keys understood. */
int preflight_facts_parse_info(preflight_facts *f, const char *text);
/* Asks host C everything the checks use (host info, software version, domains, bridges, VF
 * pools) in one batch of read-only commands. Returns 0 with F->state OK, or a negative
 * hostconn code with F->state and F->error set (and errstr). */
int preflight_facts_probe(hostconn *c, int timeout_ms, preflight_facts *f, char *errstr,
                          size_t errstr_size);

/* What an in-flight job reserves on the target (jobstore_reservations_on): memory and vCPUs, and
 * its guest, which may be a member of the guest's VM cluster. */
typedef jobstore_reservation preflight_reservation;

/* Returns a session to HOST (borrowed: the caller's pool keeps and frees it), or a negative
 * hostconn code with errstr. Same contract as migrate_env.connect. */
typedef int (*preflight_connect_fn)(void *ctx, const esxml_host *host, hostconn **out, char *errstr,
                                    size_t errstr_size);
/* Gives back a session preflight_connect_fn gave, once preflight is done with it. Same contract
 * as migrate_env.release. */
typedef void (*preflight_release_fn)(void *ctx, hostconn *c, int rc);

typedef struct preflight_input {
    const esxml *doc;    /* the es.xml the job runs against */
    long config_version; /* its version, for messages */
    const char *guest;
    const char *src_host;
    const char *tgt_host;
    migrate_mode mode;
    /* 1 for a replay (attempt > 1), a takeover or a single-step job: checks that the migration
     * itself changes (guest already on the target, ...) are skipped, saying so. */
    int resume;
    int live;               /* 0 = es.xml only (kvmove submit's MERGE); 1 = ask the hosts too */
    double vcpu_overcommit; /* allowed vCPUs / physical cores on the target; <= 0 means 1.0 */
    /* Live answers: either filled by the caller (tests) or, when NULL and LIVE, probed through
     * CONNECT (which must then be set). */
    const preflight_facts *src_facts;
    const preflight_facts *tgt_facts;
    preflight_connect_fn connect;
    preflight_release_fn release; /* may be NULL */
    void *connect_ctx;            /* of both */
    int command_timeout_ms;
    /* Reservations of in-flight jobs ahead of this one targeting tgt_host (see
     * jobstore_reservations_on); not owned. */
    const preflight_reservation *reservations;
    size_t n_reservations;
    /* 1: another member of the guest's VM cluster may share the target (kvmove submit
     * --allow-colocation); vm_cluster_anti_affinity then warns, naming COLOCATION_REASON. */
    int allow_colocation;
    const char *colocation_reason; /* may be NULL */
} preflight_input;

typedef struct preflight_result {
    preflight_check check;
    preflight_status status;
    char message[1024];
} preflight_result;

typedef struct preflight_report {
    preflight_result results[PREFLIGHT__COUNT]; /* indexed by preflight_check */
    int n_failed, n_warnings, n_skipped;
    preflight_facts src_facts, tgt_facts; /* what the hosts said (state NONE if not asked) */
} preflight_report;

/* Clears IN and fills in what the move REQ asks for against DOC (es.xml version VERSION): the
 * guest, hosts, mode, a single step's resume, the anti-affinity override and its reason, and
 * VCPU_OVERCOMMIT. The caller adds how to reach the hosts (live, connect) and reservations. */
void preflight_input_for(preflight_input *in, const request *req, const esxml *doc, long version,
                         double vcpu_overcommit);

/* Runs every check of the table on IN into *OUT (caller's storage). Never touches a host
 * beyond read-only queries. Returns 0 (the verdict is in OUT: preflight_passed), or -1 with
 * errstr when IN is unusable (NULL doc, names missing, LIVE without facts or connect). */
int preflight_run(const preflight_input *in, preflight_report *out, char *errstr,
                  size_t errstr_size);
/* 1 if no check failed. */
int preflight_passed(const preflight_report *r);
/* The failed checks as a JSON array of {"check", "message"} (new reference). */
json_t *preflight_failed_json(const preflight_report *r);

/* Compares dotted version strings part by part, numerically; a missing or non-numeric part
 * counts as 0 ("25.1" == "25.1.0", "25.1.0" < "25.1.0.0.0.250101"). Returns <0, 0 or >0. */
int preflight_version_cmp(const char *a, const char *b);

#endif
