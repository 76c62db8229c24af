/* esxml: the OEDA-style Engineered System XML (es.xml) subset kvmove reads and writes. */
#ifndef KVMOVE_ESXML_H
#define KVMOVE_ESXML_H

#include <stddef.h>

/* The read-only views below point into the loaded document and live as long as it does. */

typedef struct esxml_volume {
    const char *name;   /* EDV volume, e.g. "exa01vm01_sys" */
    const char *device; /* device under /dev/exc, e.g. "exa01vm01_sys_95d9f89a..." */
    int is_config;      /* 1 for the guest configuration files volume (mounted, in fstab) */
} esxml_volume;

typedef struct esxml_network {
    const char *name;       /* network id, e.g. "exa01vm01_client" */
    const char *type;       /* "client", "backup", "private" (RoCE) */
    const char *bridge;     /* bridge on the KVM host, e.g. "vmbondeth0.100"; NULL for private */
    int vlan;               /* 0 when untagged */
    const char *iface;      /* guest interface, e.g. "eth0", "re0" */
    const char *nat_bridge; /* cloud deployments only; NULL otherwise */
} esxml_network;

typedef struct esxml_guest {
    const char *id;       /* machine id in es.xml */
    const char *hostname; /* e.g. "exa01vm01.example.com", spelled as in es.xml (canonical) */
    int cores;            /* guestCores */
    long memory_mb;       /* guestMemory, MiB */
    const esxml_volume *volumes;
    size_t n_volumes;
    const esxml_network *networks;
    size_t n_networks;
    int liveupdate_pending; /* outstanding Exadata Live Update work */
    const char *vm_cluster; /* clusterName of the VM cluster (<clusters>) it belongs to, or NULL */
} esxml_guest;

typedef struct esxml_host {
    const char *id;
    const char *hostname;         /* e.g. "exa01adm02.example.com", spelled as in es.xml */
    const char *admin_ip;         /* address kvmove connects to over SSH; NULL = hostname */
    const char *model;            /* hardware model, e.g. "X8M-2" */
    int sockets;                  /* 2 for 2-socket systems */
    const char *fabric;           /* "RoCE" or "InfiniBand" */
    const char *software_version; /* Exadata System Software, e.g. "25.1.0.0.0.250101" */
    int cores;                    /* physical cores available to guests */
    long memory_mb;               /* memory available to guests, MiB */
    int vf_pools;                 /* 1 if VF pools are in use (re* interfaces need no detach) */
    int liveupdate_pending;
    const char *const *guest_ids; /* ids of the guests placed on this host */
    size_t n_guests;
} esxml_host;

typedef struct esxml_action {
    int id;
    const char *subcommand; /* e.g. "MIGRATE GUEST HOSTNAME=... MODE=OFFLINE ..." */
    int merged;
    int deployed;
} esxml_action;

typedef struct esxml esxml; /* a loaded document; opaque */

/* Loads and validates (against schema/es.xsd, found in XSD_PATH) the document in BUF.
 * Network access and external entities are off. XSD_PATH may be NULL to skip schema
 * validation (structure is still checked). The loader checks every identity constraint of the
 * schema itself (unique ids and hostnames, references that resolve), in time linear in the
 * document, and validates against the schema without them; the schema file is read and compiled
 * once per process (per path). Thread-safe (each document to one thread). Returns 0 and a new
 * document in *OUT that the caller frees with esxml_free(), or -1 with the reason (file, line,
 * element) in errstr. */
int esxml_load_buffer(const char *buf, size_t len, const char *xsd_path, esxml **out, char *errstr,
                      size_t errstr_size);
/* As esxml_load_buffer, reading PATH. */
int esxml_load_file(const char *path, const char *xsd_path, esxml **out, char *errstr,
                    size_t errstr_size);
void esxml_free(esxml *doc); /* accepts NULL */

/* Name of the system (root's name attribute, e.g. "exa01"); deployment kind. */
const char *esxml_system_name(const esxml *doc);
int esxml_is_cloud(const esxml *doc); /* 1 for cloud deployments (NAT bridges in use) */
/* Exascale: 1 if guest images are on Exascale storage. Storage servers list. */
int esxml_uses_exascale(const esxml *doc);
/* The Exascale cluster name and the vault holding guest images; NULL without <exascale>. */
const char *esxml_exascale_cluster(const esxml *doc);
const char *esxml_exascale_vault(const esxml *doc);
size_t esxml_storage_server_count(const esxml *doc);
const char *esxml_storage_server(const esxml *doc, size_t i);

/* Names. A guest or KVM host is identified by its hostname, compared without regard to ASCII
 * case (DNS names: "EXA01VM01.example.com" is exa01vm01.example.com), and no two machines of a
 * document share a hostname in any spelling (the loader refuses that). Its canonical spelling
 * is the one es.xml uses: the hostname field of its view, or the functions below; kvmove names
 * machines that way in host commands, records and events. Machine ids compare exactly.
 * Lookups are by index (constant time); the document is indexed once per load or edit. */

/* 1 if A and B name the same machine (ASCII case ignored); 0 if not or either is NULL. The one
 * rule for comparing guest and host names: use it rather than strcmp/strcasecmp. */
int esxml_name_equal(const char *a, const char *b);

size_t esxml_host_count(const esxml *doc);
const esxml_host *esxml_host_at(const esxml *doc, size_t i);
/* Finds a KVM host by hostname in any case. NULL if none (also for NULL, or a guest's name). */
const esxml_host *esxml_host_find(const esxml *doc, const char *hostname);
/* The es.xml spelling of KVM host HOSTNAME (given in any case), or NULL if es.xml has no such
 * KVM host. The string belongs to the document (valid until esxml_free, also across edits). */
const char *esxml_host_canonical_name(const esxml *doc, const char *hostname);

size_t esxml_guest_count(const esxml *doc);
const esxml_guest *esxml_guest_at(const esxml *doc, size_t i);
/* Finds a guest by hostname in any case. NULL if none (also for NULL, or a KVM host's name). */
const esxml_guest *esxml_guest_find(const esxml *doc, const char *hostname);
/* The es.xml spelling of guest HOSTNAME (given in any case), or NULL if es.xml has no such
 * guest. The string belongs to the document (valid until esxml_free, also across edits). */
const char *esxml_guest_canonical_name(const esxml *doc, const char *hostname);
/* Finds a guest by machine id (exact). NULL if none or the id is a KVM host's. */
const esxml_guest *esxml_guest_find_id(const esxml *doc, const char *id);
/* The KVM host the guest is placed on, or NULL. GUEST may be a view from before an edit. */
const esxml_host *esxml_guest_host(const esxml *doc, const esxml_guest *guest);
/* 1 if a guest placed on HOST other than EXCEPT (compared by id; may be NULL) uses BRIDGE as
 * a bridge or as a NAT bridge, else 0. The one rule for "may this host's bridge go": no step or
 * cleanup removes a bridge another guest there still needs. Bridge names compare exactly. */
int esxml_bridge_in_use(const esxml *doc, const esxml_host *host, const esxml_guest *except,
                        const char *bridge);

/* 1 if A and B are two different guests of one VM cluster (es.xml <clusters>: e.g. the nodes of
 * a RAC cluster, which run one per KVM host), else 0 (also for NULL). The one rule for VM cluster
 * anti-affinity. */
int esxml_vm_cluster_peers(const esxml_guest *a, const esxml_guest *b);

size_t esxml_action_count(const esxml *doc);
const esxml_action *esxml_action_at(const esxml *doc, size_t i);

/* Edits (they invalidate earlier views of the edited objects). Each returns 0 or -1 with
 * the reason in errstr. (Earlier views stay allocated, showing the state before the edit,
 * until esxml_free; look objects up again after an edit.) */
/* Appends an action with the next free id; merged=1, deployed=0. *ID_OUT gets its id. */
int esxml_action_add(esxml *doc, const char *subcommand, int *id_out, char *errstr,
                     size_t errstr_size);
int esxml_action_set_deployed(esxml *doc, int id, char *errstr, size_t errstr_size);
/* Moves the guest's <machine id=.../> reference from its current host to TGT_HOSTNAME.
 * Moving a guest to the host it is already on succeeds and changes nothing. */
int esxml_guest_move(esxml *doc, const char *guest_hostname, const char *tgt_hostname, char *errstr,
                     size_t errstr_size);

/* Serialises the document (UTF-8, indented). Returns 0 and a malloc'd buffer in *BUF (length
 * in *LEN) that the caller frees, or -1. */
int esxml_dump(const esxml *doc, char **buf, size_t *len, char *errstr, size_t errstr_size);

#endif
