/* hostops: abstract host operations and the command templates that carry them out. */
#include "hostops.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* Default ("exadata") profile: the Exadata KVM host tools. Values are validated before they
 * are substituted, so the templates need no quoting. */
static const char *const exadata_templates[HOP__COUNT] = {
    [HOP_IMAGE_VERSION] = "imageinfo -ver",
    [HOP_HOST_INFO] = "vm_maker --host-info",
    [HOP_DOMAIN_LIST] = "virsh list --all --name",
    [HOP_DOMAIN_STATE] = "virsh domstate {guest}",
    [HOP_DOMAIN_INFO] = "virsh dominfo {guest}",
    [HOP_DOMAIN_DEFINE] = "virsh define /EXAVMIMAGES/GuestImages/{guest}/{guest}.xml",
    [HOP_DOMAIN_UNDEFINE] = "virsh undefine {guest}",
    [HOP_AUTOSTART_ON] = "virsh autostart {guest}",
    [HOP_AUTOSTART_OFF] = "virsh autostart --disable {guest}",
    [HOP_DOMAIN_SHUTDOWN] = "vm_maker --stop-domain {guest}",
    [HOP_DOMAIN_DESTROY] = "vm_maker --stop-domain {guest} --force",
    [HOP_DOMAIN_START] = "vm_maker --start-domain {guest}",
    [HOP_VFPOOL_LIST] = "vm_maker --list-vf-pools",
    [HOP_IFACE_LIST] = "vm_maker --list-interfaces {guest}",
    [HOP_IFACE_ATTACH] = "vm_maker --attach-interface {guest} {iface}",
    [HOP_IFACE_DETACH] = "vm_maker --detach-interface {guest} {iface}",
    [HOP_BRIDGE_LIST] = "vm_maker --list-bridges",
    [HOP_BRIDGE_ADD] = "vm_maker --add-bridge {bridge} --vlan {vlan}",
    [HOP_BRIDGE_ADD_UNTAGGED] = "vm_maker --add-bridge {bridge}",
    [HOP_BRIDGE_REMOVE] = "vm_maker --remove-bridge {bridge}",
    [HOP_NAT_BRIDGE_ADD] = "vm_maker --add-bridge {bridge}",
    [HOP_NAT_BRIDGE_REMOVE] = "vm_maker --remove-bridge {bridge}",
    [HOP_VOLUME_LIST] = "edvutil lsattach",
    [HOP_VOLUME_ATTACH] = "edvutil attach {volume} {device}",
    [HOP_VOLUME_DETACH] = "edvutil detach {volume}",
    [HOP_VOLUME_DETACH_REMOTE] = "edvutil detach {volume} --host {host}",
    [HOP_CFG_MOUNTED] = "mountpoint -q /EXAVMIMAGES/GuestImages/{guest}",
    [HOP_CFG_MKDIR] = "mkdir -p /EXAVMIMAGES/GuestImages/{guest}",
    [HOP_CFG_MOUNT] = "mount /dev/exc/{device} /EXAVMIMAGES/GuestImages/{guest}",
    [HOP_CFG_UMOUNT] = "umount /EXAVMIMAGES/GuestImages/{guest}",
    [HOP_CFG_RMDIR] = "test ! -d /EXAVMIMAGES/GuestImages/{guest} || rmdir "
                      "/EXAVMIMAGES/GuestImages/{guest}",
    [HOP_FSTAB_HAS] = "grep -qF ' /EXAVMIMAGES/GuestImages/{guest} ' /etc/fstab",
    [HOP_FSTAB_ADD] = "echo '/dev/exc/{device} /EXAVMIMAGES/GuestImages/{guest} xfs "
                      "defaults,nofail 0 0' >> /etc/fstab",
    [HOP_FSTAB_REMOVE] = "sed -i '\\| /EXAVMIMAGES/GuestImages/{guest} |d' /etc/fstab",
};

/* "libvirt" profile: plain KVM hosts managed by libvirt, with the guests' disks on storage that
 * every host mounts at LV_SHARED (NFS, a cluster file system, ...). A volume is the file or
 * directory LV_SHARED/VOLUME; attaching it to a host is a symlink LV_DIR/volumes/DEVICE to it
 * (the domain XML names the disks by that path, so a host without the attachment cannot start
 * the guest); the configuration volume is a directory holding GUEST.xml, bind-mounted at
 * LV_DIR/guests/GUEST like the Exadata cfg volume. Readiness: the guest writes a line containing
 * KVMOVE-READY to its serial console, which the domain XML logs to LV_SERIAL. Facts a plain host
 * cannot measure (hardware model, fabric, platform release) are declared by the site in LV_FACTS
 * as "Key: value" lines; they follow the measured ones, so they win. Templates must not use
 * braces other than placeholders (no awk programs, no ${var}). */
#define LV_SHARED "/srv/kvmove-shared"
#define LV_DIR "/var/lib/libvirt/kvmove"
#define LV_SERIAL "/var/log/libvirt/qemu/{guest}.serial"
#define LV_FACTS "/etc/kvmove/host-facts"
#define LV_DOMSTATE_IS(st) "virsh domstate {guest} 2>/dev/null | grep -qx \"" st "\""
static const char *const libvirt_templates[HOP__COUNT] = {
    [HOP_IMAGE_VERSION] = "sed -n 's/^Version: *//p' " LV_FACTS " 2>/dev/null | grep . || "
                          "virsh version --daemon | sed -n 's/^Running against daemon: *//p'",
    [HOP_HOST_INFO] =
        "ni=$(virsh nodeinfo) || exit 1; "
        "m=$(echo \"$ni\" | sed -n 's/^Memory size: *\\([0-9]*\\) KiB/\\1/p'); u=0; c=0; "
        "for d in $(virsh list --all --name); do di=$(virsh dominfo \"$d\"); "
        "k=$(echo \"$di\" | sed -n 's/^Max memory: *\\([0-9]*\\) KiB/\\1/p'); "
        "n=$(echo \"$di\" | sed -n 's/^CPU(s): *//p'); u=$((u + k)); c=$((c + n)); done; "
        "echo \"$ni\" | sed -n -e 's/^CPU model: */Model: /p' -e 's/^CPU socket(s): */Sockets: "
        "/p' -e 's/^CPU(s): */Cores: /p'; "
        "echo \"Version: $(virsh version --daemon | sed -n 's/^Running against daemon: *//p')\"; "
        "echo \"MemoryMB: $((m / 1024))\"; echo \"FreeMemoryMB: $(((m - u) / 1024))\"; "
        "echo \"UsedVcpus: $c\"; echo 'LiveUpdatePending: no'; echo 'NodeType: KVMHOST'; "
        "cat " LV_FACTS " 2>/dev/null; true",
    [HOP_DOMAIN_LIST] = "virsh list --all --name | sed '/^$/d'",
    [HOP_DOMAIN_STATE] = "virsh domstate {guest}",
    [HOP_DOMAIN_INFO] = "virsh dominfo {guest}",
    [HOP_DOMAIN_DEFINE] = "virsh define " LV_DIR "/guests/{guest}/{guest}.xml",
    [HOP_DOMAIN_UNDEFINE] = "virsh undefine {guest}",
    [HOP_AUTOSTART_ON] = "virsh autostart {guest}",
    [HOP_AUTOSTART_OFF] = "virsh autostart --disable {guest}",
    /* ACPI power button, repeated every 5 s in case the guest missed it while booting. */
    [HOP_DOMAIN_SHUTDOWN] =
        "virsh domstate {guest} >/dev/null || exit 1; timeout 120 sh -c 'i=0; "
        "until " LV_DOMSTATE_IS(
            "shut off") "; do "
                        "[ $((i % 25)) -ne 0 ] || virsh shutdown {guest} >/dev/null; "
                        "i=$((i + 1)); sleep 0.2; done' || "
                        "(echo '{guest} did not shut down within 120 s' >&2; exit 1)",
    [HOP_DOMAIN_DESTROY] = LV_DOMSTATE_IS("shut off") " || virsh destroy {guest}",
    [HOP_DOMAIN_START] = LV_DOMSTATE_IS("running") " || virsh start {guest}",
    [HOP_DOMAIN_WAIT_READY] =
        "timeout 300 sh -c 'until grep -qs KVMOVE-READY " LV_SERIAL "; do " LV_DOMSTATE_IS(
            "running") " || exit 1; sleep 0.2; done' || "
                       "(echo '{guest} is not ready: no KVMOVE-READY line in " LV_SERIAL
                       "' >&2; exit 1)",
    /* No SR-IOV VF pools: re* (RDMA) interfaces belong in the domain XML on these hosts. */
    [HOP_VFPOOL_LIST] = "true",
    [HOP_IFACE_LIST] = "virsh domiflist {guest}",
    [HOP_IFACE_ATTACH] = "echo 'libvirt profile: interface {iface} of {guest} must be part of "
                         "its domain XML' >&2; exit 1",
    [HOP_IFACE_DETACH] = "echo 'libvirt profile: interface {iface} of {guest} must be part of "
                         "its domain XML' >&2; exit 1",
    [HOP_BRIDGE_LIST] = "ip -o link show type bridge | sed 's/^[0-9]*: \\([^:@]*\\).*/\\1/'",
    /* The VLAN is recorded as the bridge's alias; sites with a tagged uplink override this
     * template (template.bridge_add) to enslave UPLINK.{vlan} as well. */
    [HOP_BRIDGE_ADD] = "ip link add name {bridge} type bridge && ip link set {bridge} alias "
                       "'kvmove vlan {vlan}' && ip link set {bridge} up",
    [HOP_BRIDGE_ADD_UNTAGGED] = "ip link add name {bridge} type bridge && ip link set {bridge} up",
    [HOP_BRIDGE_REMOVE] = "ip link delete {bridge} type bridge",
    [HOP_NAT_BRIDGE_ADD] = "ip link add name {bridge} type bridge && ip link set {bridge} up",
    [HOP_NAT_BRIDGE_REMOVE] = "ip link delete {bridge} type bridge",
    [HOP_VOLUME_LIST] = "mkdir -p " LV_DIR "/volumes && find " LV_DIR "/volumes -maxdepth 1 "
                        "-type l -printf '%l %f\\n' | sed 's|^.*/\\([^/ ]*\\) |\\1 |'",
    [HOP_VOLUME_ATTACH] =
        "if [ ! -e " LV_SHARED "/{volume} ]; then echo 'volume {volume} not "
        "found on the shared storage " LV_SHARED "' >&2; exit 1; fi; "
        "mkdir -p " LV_DIR "/volumes && ln -sfn " LV_SHARED "/{volume} " LV_DIR "/volumes/{device}",
    /* -ignore_readdir_race: the guest's other volumes are detached at the same time (one
     * session, concurrent commands), and a link another find deletes meanwhile is no error. */
    [HOP_VOLUME_DETACH] =
        "find " LV_DIR "/volumes -maxdepth 1 -ignore_readdir_race -lname '" LV_SHARED
        "/{volume}' -delete",
    /* A shared file system has no storage-side attachment to drop for a dead host. */
    [HOP_VOLUME_DETACH_REMOTE] = "true",
    [HOP_CFG_MOUNTED] = "mountpoint -q " LV_DIR "/guests/{guest}",
    [HOP_CFG_MKDIR] = "mkdir -p " LV_DIR "/guests/{guest}",
    [HOP_CFG_MOUNT] = "mount --bind " LV_DIR "/volumes/{device} " LV_DIR "/guests/{guest}",
    [HOP_CFG_UMOUNT] = "umount " LV_DIR "/guests/{guest}",
    [HOP_CFG_RMDIR] = "test ! -d " LV_DIR "/guests/{guest} || rmdir " LV_DIR "/guests/{guest}",
    [HOP_FSTAB_HAS] = "grep -qF ' " LV_DIR "/guests/{guest} ' /etc/fstab",
    [HOP_FSTAB_ADD] = "echo '" LV_DIR "/volumes/{device} " LV_DIR "/guests/{guest} none "
                      "bind,nofail 0 0' >> /etc/fstab",
    [HOP_FSTAB_REMOVE] = "sed -i '\\| " LV_DIR "/guests/{guest} |d' /etc/fstab",
};

static const char *const op_names[HOP__COUNT] = {
    [HOP_IMAGE_VERSION] = "image_version",
    [HOP_HOST_INFO] = "host_info",
    [HOP_DOMAIN_LIST] = "domain_list",
    [HOP_DOMAIN_STATE] = "domain_state",
    [HOP_DOMAIN_INFO] = "domain_info",
    [HOP_DOMAIN_DEFINE] = "domain_define",
    [HOP_DOMAIN_UNDEFINE] = "domain_undefine",
    [HOP_AUTOSTART_ON] = "autostart_on",
    [HOP_AUTOSTART_OFF] = "autostart_off",
    [HOP_DOMAIN_SHUTDOWN] = "domain_shutdown",
    [HOP_DOMAIN_DESTROY] = "domain_destroy",
    [HOP_DOMAIN_START] = "domain_start",
    [HOP_VFPOOL_LIST] = "vfpool_list",
    [HOP_IFACE_LIST] = "iface_list",
    [HOP_IFACE_ATTACH] = "iface_attach",
    [HOP_IFACE_DETACH] = "iface_detach",
    [HOP_BRIDGE_LIST] = "bridge_list",
    [HOP_BRIDGE_ADD] = "bridge_add",
    [HOP_BRIDGE_ADD_UNTAGGED] = "bridge_add_untagged",
    [HOP_BRIDGE_REMOVE] = "bridge_remove",
    [HOP_NAT_BRIDGE_ADD] = "nat_bridge_add",
    [HOP_NAT_BRIDGE_REMOVE] = "nat_bridge_remove",
    [HOP_VOLUME_LIST] = "volume_list",
    [HOP_VOLUME_ATTACH] = "volume_attach",
    [HOP_VOLUME_DETACH] = "volume_detach",
    [HOP_VOLUME_DETACH_REMOTE] = "volume_detach_remote",
    [HOP_CFG_MOUNTED] = "cfg_mounted",
    [HOP_CFG_MKDIR] = "cfg_mkdir",
    [HOP_CFG_MOUNT] = "cfg_mount",
    [HOP_CFG_UMOUNT] = "cfg_umount",
    [HOP_CFG_RMDIR] = "cfg_rmdir",
    [HOP_FSTAB_HAS] = "fstab_has",
    [HOP_FSTAB_ADD] = "fstab_add",
    [HOP_FSTAB_REMOVE] = "fstab_remove",
    [HOP_DOMAIN_WAIT_READY] = "domain_wait_ready",
};

/* Placeholders and the pattern their values must match. */
static const struct {
    const char *name;
    name_kind kind;
} placeholders[] = {
    {"guest", NAME_GUEST},   {"volume", NAME_VOLUME}, {"device", NAME_DEVICE},
    {"bridge", NAME_BRIDGE}, {"vlan", NAME_NUMBER},   {"iface", NAME_IFACE},
    {"host", NAME_HOST},
};

/* Overrides set with hostops_set_template (owned here, freed never: process lifetime). */
static char *overrides[HOP__COUNT];
/* The selected profile's table (set once at start-up, before any job runs). */
static const char *const *profile_templates = exadata_templates;

const char *hostops_name(hostop op)
{
    return op < HOP__COUNT ? op_names[op] : NULL;
}

int hostops_from_name(const char *name, hostop *out)
{
    int i;

    for (i = 0; i < HOP__COUNT; i++) {
        if (strcasecmp(name, op_names[i]) == 0) {
            *out = (hostop)i;
            return 0;
        }
    }
    return -1;
}

static const char *template_of(hostop op)
{
    return overrides[op] ? overrides[op] : profile_templates[op];
}

static int placeholder_find(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
        if (strlen(placeholders[i].name) == len && strncmp(placeholders[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

int hostops_set_template(hostop op, const char *tmpl, char *errstr, size_t errstr_size)
{
    const char *p = tmpl;
    char *copy;

    if (op >= HOP__COUNT)
        return -1;
    while ((p = strchr(p, '{')) != NULL) {
        const char *end = strchr(p, '}');
        if (end == NULL || placeholder_find(p + 1, (size_t)(end - p - 1)) < 0) {
            util_errf(errstr, errstr_size,
                      "template for %s: unknown placeholder at \"%.20s\" (known: {guest} "
                      "{volume} {device} {bridge} {vlan} {iface} {host})",
                      op_names[op], p);
            return -1;
        }
        p = end + 1;
    }
    copy = strdup(tmpl);
    if (copy == NULL)
        return -1;
    free(overrides[op]);
    overrides[op] = copy;
    return 0;
}

int hostops_set_profile(const char *profile, char *errstr, size_t errstr_size)
{
    /* Overrides (template.* settings) stay in force on top of the profile. */
    if (strcmp(profile, "exadata") == 0) {
        profile_templates = exadata_templates;
        return 0;
    }
    if (strcmp(profile, "libvirt") == 0) {
        profile_templates = libvirt_templates;
        return 0;
    }
    util_errf(errstr, errstr_size, "unknown host profile '%s' (known: exadata, libvirt)", profile);
    return -1;
}

int hostops_has(hostop op)
{
    return op < HOP__COUNT && template_of(op) != NULL;
}

char *hostops_render(hostop op, const hostops_var *vars, size_t n_vars, char *errstr,
                     size_t errstr_size)
{
    const char *t, *p;
    size_t cap = 256, len = 0;
    char *out;

    if (op >= HOP__COUNT) {
        util_errf(errstr, errstr_size, "unknown host operation %d", (int)op);
        return NULL;
    }
    t = template_of(op);
    if (t == NULL) {
        util_errf(errstr, errstr_size, "host operation %s has no command in this profile",
                  op_names[op]);
        return NULL;
    }
    out = malloc(cap);
    if (out == NULL)
        return NULL;
    for (p = t; *p;) {
        const char *piece = p, *end;
        size_t plen = 1;
        char piecebuf[2];
        if (*p == '{' && (end = strchr(p, '}')) != NULL) {
            int ph = placeholder_find(p + 1, (size_t)(end - p - 1));
            size_t i;
            const char *val = NULL;
            if (ph < 0) {
                util_errf(errstr, errstr_size, "template for %s has an unknown placeholder",
                          op_names[op]);
                free(out);
                return NULL;
            }
            for (i = 0; i < n_vars; i++)
                if (strcmp(vars[i].name, placeholders[ph].name) == 0)
                    val = vars[i].value;
            if (val == NULL) {
                util_errf(errstr, errstr_size, "%s: no value for {%s}", op_names[op],
                          placeholders[ph].name);
                free(out);
                return NULL;
            }
            if (name_check(placeholders[ph].kind, placeholders[ph].name, val, errstr,
                           errstr_size) != 0) {
                free(out);
                return NULL;
            }
            piece = val;
            plen = strlen(val);
            p = end + 1;
        } else {
            piecebuf[0] = *p;
            piecebuf[1] = '\0';
            piece = piecebuf;
            p++;
        }
        if (len + plen + 1 > cap) {
            char *n;
            while (len + plen + 1 > cap)
                cap *= 2;
            n = realloc(out, cap);
            if (n == NULL) {
                free(out);
                return NULL;
            }
            out = n;
        }
        memcpy(out + len, piece, plen);
        len += plen;
    }
    out[len] = '\0';
    return out;
}

int hostops_run(hostconn *c, hostop op, const hostops_var *vars, size_t n_vars, int timeout_ms,
                int *exit_status, char **out, char *errstr, size_t errstr_size)
{
    char *command = hostops_render(op, vars, n_vars, errstr, errstr_size);
    char *err = NULL;
    int rc;

    if (command == NULL)
        return -1;
    rc = hostconn_exec(c, command, timeout_ms, exit_status, out, &err, errstr, errstr_size);
    if (rc == 0 && *exit_status != 0 && err && *err) {
        /* Keep the host's own words for the caller's message. */
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        util_errf(errstr, errstr_size, "'%s' on %s exited %d: %s", command, hostconn_address(c),
                  *exit_status, err);
    } else if (rc == 0 && *exit_status != 0) {
        util_errf(errstr, errstr_size, "'%s' on %s exited %d", command, hostconn_address(c),
                  *exit_status);
    }
    free(err);
    free(command);
    return rc;
}

int hostops_run_many(hostconn *c, const hostops_call *calls, size_t n, hostops_mode mode,
                     int timeout_ms, hostconn_result *results, char *errstr, size_t errstr_size)
{
    char **commands = calloc(n ? n : 1, sizeof(char *));
    size_t i;
    int rc = 0;

    if (commands == NULL)
        return -1;
    memset(results, 0, sizeof(*results) * n);
    for (i = 0; i < n; i++) {
        commands[i] =
            hostops_render(calls[i].op, calls[i].vars, calls[i].n_vars, errstr, errstr_size);
        if (commands[i] == NULL) {
            rc = -1;
            goto out;
        }
    }
    if (mode == HOSTOPS_ONE_EXEC) {
        rc = hostconn_exec_batch(c, (const char *const *)commands, n, timeout_ms, results, errstr,
                                 errstr_size);
        goto out;
    }
    if (mode == HOSTOPS_AT_ONCE) {
        rc = hostconn_exec_many(c, (const char *const *)commands, n, timeout_ms, results, errstr,
                                errstr_size);
        goto out;
    }
    for (i = 0; i < n && rc == 0; i++) {
        rc = hostconn_exec(c, commands[i], timeout_ms, &results[i].exit_status, &results[i].out,
                           &results[i].err, errstr, errstr_size);
        results[i].error = rc;
    }
out:
    for (i = 0; i < n; i++)
        free(commands[i]);
    free(commands);
    return rc;
}

/* The value of the "KEY:" line of TEXT with its leading blanks skipped, or NULL. */
static const char *field_of(const char *text, const char *key)
{
    size_t n = strlen(key);
    const char *p = text;

    while (p && *p) {
        if (strncmp(p, key, n) == 0)
            return p + n + strspn(p + n, " \t");
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

void hostops_domain_parse(int exit_status, const char *out, const char *err, hostops_domain *d)
{
    const char *state, *autostart;

    memset(d, 0, sizeof(*d));
    if (exit_status != 0) {
        d->defined =
            err && (strstr(err, "failed to get domain") || strstr(err, "Domain not found") ||
                    strstr(err, "no domain with matching name"))
                ? 0
                : -1;
        return;
    }
    d->defined = 1;
    if (out == NULL)
        return;
    /* dominfo has a "State:" line; domstate prints the state alone */
    state = field_of(out, "State:");
    if (state == NULL)
        state = out + strspn(out, " \t\n");
    d->running = strncmp(state, "running", 7) == 0;
    autostart = field_of(out, "Autostart:");
    d->autostart = autostart && strncmp(autostart, "enable", 6) == 0;
}
