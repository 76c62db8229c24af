/* hostops: abstract host operations and the command templates that carry them out. */
#ifndef KVMOVE_HOSTOPS_H
#define KVMOVE_HOSTOPS_H

#include <stddef.h>

#include "hostconn.h"
#include "names.h"

/* Every operation kvmove performs on a KVM host. */
typedef enum {
    HOP_IMAGE_VERSION, /* Exadata software version */
    HOP_HOST_INFO,     /* Key: value facts (model, memory, live update, ...) */
    HOP_DOMAIN_LIST,   /* defined domains, one per line */
    HOP_DOMAIN_STATE,  /* "running" / "shut off"; exit 1 if undefined */
    HOP_DOMAIN_INFO,   /* virsh dominfo-like, has "Autostart:" */
    HOP_DOMAIN_DEFINE, /* define from the XML on the guest's configuration volume */
    HOP_DOMAIN_UNDEFINE,
    HOP_AUTOSTART_ON,
    HOP_AUTOSTART_OFF,
    HOP_DOMAIN_SHUTDOWN, /* graceful, waits until off */
    HOP_DOMAIN_DESTROY,  /* forced */
    HOP_DOMAIN_START,    /* boots and waits until ready */
    HOP_VFPOOL_LIST,     /* VF pools in use, one per line; empty = none */
    HOP_IFACE_LIST,      /* attached re* interfaces of {guest} */
    HOP_IFACE_ATTACH,
    HOP_IFACE_DETACH,
    HOP_BRIDGE_LIST,
    HOP_BRIDGE_ADD,          /* {bridge} with {vlan} */
    HOP_BRIDGE_ADD_UNTAGGED, /* {bridge} without a VLAN (es.xml has no vlanId) */
    HOP_BRIDGE_REMOVE,
    HOP_NAT_BRIDGE_ADD,
    HOP_NAT_BRIDGE_REMOVE,
    HOP_VOLUME_LIST,   /* "VOLUME DEVICE" lines of volumes attached to this host */
    HOP_VOLUME_ATTACH, /* {volume} as {device} */
    HOP_VOLUME_DETACH,
    HOP_VOLUME_DETACH_REMOTE, /* storage-side detach of {volume} from {host} */
    HOP_CFG_MOUNTED,          /* exit 0 if the configuration volume is mounted */
    HOP_CFG_MKDIR,
    HOP_CFG_MOUNT,
    HOP_CFG_UMOUNT,
    HOP_CFG_RMDIR,
    HOP_FSTAB_HAS, /* exit 0 if the fstab entry exists */
    HOP_FSTAB_ADD,
    HOP_FSTAB_REMOVE,
    HOP_DOMAIN_WAIT_READY, /* waits until the started guest is ready; absent = start waits */
    HOP__COUNT
} hostop;

/* A value for a template placeholder: {guest}, {volume}, {device}, {bridge}, {vlan}, {iface},
 * {host}. Each is checked against its name_kind before it is put into the command. */
typedef struct hostops_var {
    const char *name;
    const char *value;
} hostops_var;

/* Name of an operation ("domain_state"), as used in the configuration keys template.NAME. */
const char *hostops_name(hostop op);
int hostops_from_name(const char *name, hostop *out);

/* Replaces the template of OP (for the process; e.g. from the configuration file). The
 * template is copied. Returns 0, or -1 if it uses an unknown placeholder. */
int hostops_set_template(hostop op, const char *tmpl, char *errstr, size_t errstr_size);
/* Selects a built-in profile: "exadata" (default: the Exadata KVM host tools) or "libvirt"
 * (plain libvirt hosts: virsh, iproute2, disks on a shared directory; see
 * tests/realhosts/README.md for the mapping). Returns 0 or -1. */
int hostops_set_profile(const char *profile, char *errstr, size_t errstr_size);

/* Returns 1 if OP has a command (a template override or one in the selected profile), 0 if the
 * profile leaves it out (e.g. domain_wait_ready in the exadata profile, where starting waits). */
int hostops_has(hostop op);

/* Renders OP's command with VARS. Every placeholder must have a var and every value must pass
 * its name check. Returns a malloc'd command (caller frees), or NULL with errstr. */
char *hostops_render(hostop op, const hostops_var *vars, size_t n_vars, char *errstr,
                     size_t errstr_size);

/* Renders and runs OP on C. Returns 0 with *EXIT_STATUS and *OUT (malloc'd, may be NULL to
 * discard), or a negative hostconn code / -1 for a render error, with errstr. */
int hostops_run(hostconn *c, hostop op, const hostops_var *vars, size_t n_vars, int timeout_ms,
                int *exit_status, char **out, char *errstr, size_t errstr_size);

/* One operation of a batch. */
typedef struct hostops_call {
    hostop op;
    const hostops_var *vars;
    size_t n_vars;
} hostops_call;

/* How hostops_run_many sends several commands. */
typedef enum {
    HOSTOPS_ONE_EXEC, /* one exec (hostconn_exec_batch): one round trip, one after the other in
                       * the given order, each whatever the exit statuses before it */
    HOSTOPS_AT_ONCE,  /* an exec each, all at once on channels of their own (hostconn_exec_many):
                       * for commands that do not depend on each other, where the slowest one
                       * should count rather than their sum */
    HOSTOPS_EACH,     /* an exec each, one after the other (the spec's sequential plan) */
} hostops_mode;

/* Renders the N CALLS and runs them on C as MODE says. RESULTS[0..N-1] are filled (free with
 * hostconn_result_free). Returns 0 when every command ran to its end (whatever its exit status),
 * -1 for a render error, or the first negative hostconn code, with errstr. */
int hostops_run_many(hostconn *c, const hostops_call *calls, size_t n, hostops_mode mode,
                     int timeout_ms, hostconn_result *results, char *errstr, size_t errstr_size);

/* What a host said about one domain (HOP_DOMAIN_INFO or HOP_DOMAIN_STATE). */
typedef struct hostops_domain {
    int defined;   /* 1 defined, 0 not defined (the host said so), -1 the host could not say */
    int running;   /* 1 if its state is "running" (defined only) */
    int autostart; /* 1 if "Autostart: enable" (HOP_DOMAIN_INFO only) */
} hostops_domain;

/* Reads the answer to a domain query: EXIT_STATUS and OUT (stdout) of `virsh dominfo` or
 * `virsh domstate`, and ERR, its stderr or a message that contains it (hostops_run's errstr).
 * The one rule for "not defined": a failed query whose words say the domain does not exist
 * (virsh: "failed to get domain", "Domain not found"); any other failure (libvirtd down,
 * permission, an injected fault) is "could not ask" (defined = -1), never "not defined". */
void hostops_domain_parse(int exit_status, const char *out, const char *err, hostops_domain *d);

#endif
