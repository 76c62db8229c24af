/* fasthost: bench fixture, not product code: a compiled KVM host command dispatcher for sshd's
 * ForceCommand, so that benchmarks measure kvmove and not the simulator's bash tools.
 *
 * It implements the commands kvmove's default ("exadata") templates send (lib/hostops.c), with
 * the semantics tests/hostsim/COMMANDS.md gives them, on the simulator's own state layout: a
 * root made by `hostsim init` is served by this program instead of tests/hostsim/hostsim-exec
 * when its sshd_config's ForceCommand names it, and `hostsim state` and `hostsim check` read
 * the result. Latency lines and the fail-once / fail-always faults are honoured; hang and pause
 * are not (the benchmarks do not use them). Any other command exits 127. kvmove's batch form
 * (several commands in one exec, tests/hostsim/COMMANDS.md "Batches") is run part by part, as
 * the simulator does.
 *
 * Usage (from sshd_config): ForceCommand kvmove-bench-fasthost HOSTDIR */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 32
#define MAX_LIST 64

static char H[4096];     /* this host's directory */
static char ROOT[4096];  /* the simulator root */
static const char *NAME; /* this host's name (last part of H) */
static const char *CMD;  /* the command as received */
static int root_fd = -1; /* the root lock, once taken */

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int fail(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return rc;
}

/* Reads FILE whole (NUL-terminated, caller frees), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t size = 0;

    if (f == NULL)
        return NULL;
    if (getdelim(&buf, &size, '\0', f) < 0) {
        free(buf);
        buf = strdup("");
    }
    fclose(f);
    return buf;
}

/* The first line of FILE into OUT ("" when absent). */
static void read_line(const char *path, char *out, size_t size)
{
    char *s = slurp(path);
    out[0] = '\0';
    if (s) {
        s[strcspn(s, "\n")] = '\0';
        snprintf(out, size, "%s", s);
        free(s);
    }
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *pathf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return buf;
}
#define P(...) pathf((char[8192]){0}, 8192, __VA_ARGS__)

static int valid_name(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") && *s != '-';
}

static void lock_root(void)
{
    if (root_fd < 0 && (root_fd = open(P("%s/lock", ROOT), O_RDWR | O_CREAT, 0644)) >= 0)
        flock(root_fd, LOCK_EX);
}

static void unlock_root(void)
{
    if (root_fd >= 0)
        close(root_fd);
    root_fd = -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of directory DIR (no dot files), sorted: *OUT is a malloc'd array of N malloc'd
 * names (free with free_list). */
static int list_dir(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **l = NULL;
    int n = 0, cap = 0;

    *out = NULL;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **m = realloc(l, (size_t)(cap = cap ? cap * 2 : 64) * sizeof(*l));
            if (m == NULL)
                break;
            l = m;
        }
        l[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(l, (size_t)n, sizeof(*l), cmp_str);
    *out = l;
    return n;
}

static void free_list(char **l, int n)
{
    while (n-- > 0)
        free(l[n]);
    free(l);
}

/* ---- domain XML fields (as hs_xml_fields) ---- */

typedef struct dom {
    char name[256];
    long vcpu, memkib;
    char devs[MAX_LIST][256];
    int n_devs;
    char bridges[MAX_LIST][256];
    int n_bridges;
    char private_ifs[512];
} dom;

/* The value of the quoted attribute starting after PREFIX at each occurrence in X. */
static int attr_values(const char *x, const char *prefix, char out[][256], int max)
{
    int n = 0;
    size_t pl = strlen(prefix);

    while (n < max && (x = strstr(x, prefix)) != NULL) {
        const char *v = x + pl, *end;
        char q = *v++;
        if ((q != '\'' && q != '"') || (end = strchr(v, q)) == NULL)
            break;
        snprintf(out[n++], 256, "%.*s", (int)(end - v), v);
        x = end;
    }
    return n;
}

static void element_text(const char *x, const char *open, char *out, size_t size)
{
    const char *s = strstr(x, open), *e;
    out[0] = '\0';
    if (s == NULL || (s = strchr(s, '>')) == NULL || (e = strchr(++s, '<')) == NULL)
        return;
    snprintf(out, size, "%.*s", (int)(e - s), s);
}

static void dom_parse(const char *x, dom *d)
{
    char buf[64], tmp[1][256];

    memset(d, 0, sizeof(*d));
    element_text(x, "<name>", d->name, sizeof(d->name));
    element_text(x, "<vcpu", buf, sizeof(buf));
    d->vcpu = atol(buf);
    element_text(x, "<memory", buf, sizeof(buf));
    d->memkib = atol(buf);
    d->n_devs = attr_values(x, "source dev=", d->devs, MAX_LIST);
    for (int i = 0; i < d->n_devs; i++) {
        if (strncmp(d->devs[i], "/dev/exc/", 9) == 0)
            memmove(d->devs[i], d->devs[i] + 9, strlen(d->devs[i] + 9) + 1);
        else
            d->devs[i][0] = '\0';
    }
    d->n_bridges = attr_values(x, "source bridge=", d->bridges, MAX_LIST);
    if (attr_values(x, "private=", tmp, 1) == 1)
        snprintf(d->private_ifs, sizeof(d->private_ifs), "%s", tmp[0]);
}

static int dom_load(const char *hostdir, const char *g, dom *d)
{
    char *x = slurp(P("%s/domains/%s/xml", hostdir, g));
    if (x == NULL)
        return -1;
    dom_parse(x, d);
    free(x);
    return 0;
}

/* ---- safety invariant (as hs_check_invariants) ---- */

typedef struct placement {
    const char *guest, *host;
    int running, autostart;
} placement;

static int cmp_placement(const void *a, const void *b)
{
    const placement *x = a, *y = b;
    int c = strcmp(x->guest, y->guest);
    return c ? c : strcmp(x->host, y->host);
}

/* Appends to ROOT/violations a line for each guest running, or set to autostart, on two
 * powered-on hosts. */
static void check_invariants(void)
{
    char **hosts, ***doms, st[64];
    int nh = list_dir(P("%s/hosts", ROOT), &hosts), *nd = calloc((size_t)nh + 1, sizeof(int));
    placement *pl = NULL;
    size_t n = 0, cap = 0, i, j;
    int h, k, what;
    FILE *v = NULL;
    long long t = now_ms();

    doms = calloc((size_t)nh + 1, sizeof(*doms));
    for (h = 0; doms && nd && h < nh; h++) {
        if (exists(P("%s/hosts/%s/off", ROOT, hosts[h])))
            continue;
        nd[h] = list_dir(P("%s/hosts/%s/domains", ROOT, hosts[h]), &doms[h]);
        for (k = 0; k < nd[h]; k++) {
            if (n == cap) {
                placement *m = realloc(pl, (cap = cap ? cap * 2 : 256) * sizeof(*pl));
                if (m == NULL)
                    break;
                pl = m;
            }
            read_line(P("%s/hosts/%s/domains/%s/state", ROOT, hosts[h], doms[h][k]), st,
                      sizeof(st));
            pl[n].guest = doms[h][k];
            pl[n].host = hosts[h];
            pl[n].running = strcmp(st, "running") == 0;
            pl[n].autostart =
                exists(P("%s/hosts/%s/domains/%s/autostart", ROOT, hosts[h], doms[h][k]));
            n++;
        }
    }
    if (n > 1)
        qsort(pl, n, sizeof(*pl), cmp_placement);
    for (what = 0; what < 2; what++)
        for (i = 0; i < n; i = j) {
            char on[4096] = "";
            int count = 0;
            for (j = i; j < n && strcmp(pl[j].guest, pl[i].guest) == 0; j++)
                if (what == 0 ? pl[j].running : pl[j].autostart) {
                    snprintf(on + strlen(on), sizeof(on) - strlen(on), " %s", pl[j].host);
                    count++;
                }
            if (count < 2)
                continue;
            if (v == NULL && (v = fopen(P("%s/violations", ROOT), "a")) == NULL)
                break;
            fprintf(v, "%lld %s %s on%s after %s: %s\n", t, what == 0 ? "running" : "autostart",
                    pl[i].guest, on, NAME, CMD);
        }
    if (v)
        fclose(v);
    for (h = 0; doms && nd && h < nh; h++)
        free_list(doms[h], nd[h]);
    free(doms);
    free(nd);
    free(pl);
    free_list(hosts, nh);
}

static int changed(void)
{
    check_invariants();
    unlock_root();
    return 0;
}

/* ---- mounts (as hs_mount_line, hs_do_mount, hs_do_umount) ---- */

/* The "DEVICE MOUNTPOINT" line whose mount point or device is MP into LINE; 1 if found. */
static int mount_line(const char *mp, char *line, size_t size)
{
    char *m = slurp(P("%s/mounts", H)), *s, *save = NULL;
    int found = 0;

    for (s = m ? strtok_r(m, "\n", &save) : NULL; s && !found; s = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(s, ' ');
        if (sp == NULL)
            continue;
        if (strcmp(sp + 1, mp) == 0 ||
            (strncmp(s, mp, (size_t)(sp - s)) == 0 && strlen(mp) == (size_t)(sp - s))) {
            snprintf(line, size, "%s", s);
            found = 1;
        }
    }
    free(m);
    return found;
}

static void aside_name(const char *mp, char *out, size_t size)
{
    size_t i;
    snprintf(out, size, "%s", mp);
    for (i = 0; out[i]; i++)
        if (out[i] == '/')
            out[i] = '%';
}

static int do_mount(const char *dev, const char *mp)
{
    char v[256], l[1024], aside[1024];
    FILE *f;

    if (strncmp(dev, "/dev/exc/", 9) != 0 || !exists(P("%s%s", H, dev)))
        return fail(32, "mount: %s: special device %s does not exist.", mp, dev);
    if (mount_line(mp, l, sizeof(l)))
        return fail(32, "mount: %s: %.*s already mounted on %s.", mp, (int)strcspn(l, " "), l, mp);
    if (strncmp(mp, "/EXAVMIMAGES/", 13) != 0 || !is_dir(P("%s%s", H, mp)))
        return fail(32, "mount: %s: mount point does not exist.", mp);
    {
        struct stat st;
        if (lstat(P("%s%s", H, mp), &st) == 0 && S_ISLNK(st.st_mode))
            return fail(32, "mount: %s: mount point does not exist.", mp);
    }
    read_line(P("%s%s", H, dev), v, sizeof(v));
    mkdir(P("%s/exascale/volumes/%s", ROOT, v), 0755);
    if (rmdir(P("%s%s", H, mp)) != 0) {
        aside_name(mp, aside, sizeof(aside));
        mkdir(P("%s/.under", H), 0755);
        rename(P("%s%s", H, mp), P("%s/.under/%s", H, aside));
    }
    if (symlink(P("%s/exascale/volumes/%s", ROOT, v), P("%s%s", H, mp)) != 0)
        return fail(32, "mount: %s: %s", mp, strerror(errno));
    if ((f = fopen(P("%s/mounts", H), "a")) == NULL)
        return fail(32, "mount: cannot record the mount");
    fprintf(f, "%s %s\n", dev, mp);
    fclose(f);
    return 0;
}

static int do_umount(const char *arg)
{
    char l[1024], aside[1024], *m, *s, *save = NULL;
    const char *mp;
    FILE *f;

    if (!mount_line(arg, l, sizeof(l)))
        return fail(32, "umount: %s: not mounted.", arg);
    mp = strchr(l, ' ') + 1;
    unlink(P("%s%s", H, mp));
    aside_name(mp, aside, sizeof(aside));
    if (is_dir(P("%s/.under/%s", H, aside)))
        rename(P("%s/.under/%s", H, aside), P("%s%s", H, mp));
    else
        mkdir(P("%s%s", H, mp), 0755);
    m = slurp(P("%s/mounts", H));
    if ((f = fopen(P("%s/mounts", H), "w")) == NULL) {
        free(m);
        return fail(32, "umount: cannot record the unmount");
    }
    for (s = m ? strtok_r(m, "\n", &save) : NULL; s; s = strtok_r(NULL, "\n", &save))
        if (strcmp(s, l) != 0)
            fprintf(f, "%s\n", s);
    fclose(f);
    free(m);
    return 0;
}

/* ---- the tools ---- */

static int imageinfo(char **a, int n)
{
    char *info = slurp(P("%s/info", H)), *v;
    if (n != 2 || strcmp(a[1], "-ver"))
        return fail(127, "fasthost: unsupported: %s", CMD);
    v = info ? strstr(info, "Version: ") : NULL;
    printf("%.*s\n", v ? (int)strcspn(v + 9, "\n") : 0, v ? v + 9 : "");
    free(info);
    return 0;
}

static int need_dom(const char *g, const char *tool)
{
    if (g && valid_name(g) && is_dir(P("%s/domains/%s", H, g)))
        return 0;
    if (strcmp(tool, "virsh") == 0)
        return fail(1, "error: failed to get domain '%s'", g ? g : "");
    return fail(1, "[ERROR] Domain '%s' is not defined on this host", g ? g : "");
}

static void info_value(const char *info, const char *key, char *out, size_t size)
{
    char k[64];
    const char *s;
    out[0] = '\0';
    snprintf(k, sizeof(k), "\n%s:", key);
    if (info == NULL)
        return;
    if (strncmp(info, k + 1, strlen(k + 1)) == 0)
        s = info + strlen(k + 1);
    else if ((s = strstr(info, k)) != NULL)
        s += strlen(k);
    else
        return;
    while (*s == ' ')
        s++;
    snprintf(out, size, "%.*s", (int)strcspn(s, "\n"), s);
}

static int host_info(void)
{
    static const char *keys[] = {
        "Model",    "Sockets",      "Fabric",    "Version",           "Cores",
        "MemoryMB", "FreeMemoryMB", "UsedVcpus", "LiveUpdatePending", "NodeType"};
    char *info = slurp(P("%s/info", H)), **doms, v[256];
    long mem = 0, vcpu = 0;
    int nd = list_dir(P("%s/domains", H), &doms), i;
    dom d;

    for (i = 0; i < nd; i++)
        if (dom_load(H, doms[i], &d) == 0) {
            mem += d.memkib / 1024;
            vcpu += d.vcpu;
        }
    free_list(doms, nd);
    for (i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++) {
        info_value(info, keys[i], v, sizeof(v));
        if (!*v && strcmp(keys[i], "FreeMemoryMB") == 0) {
            info_value(info, "MemoryMB", v, sizeof(v));
            snprintf(v, sizeof(v), "%ld", atol(v) - mem);
        } else if (!*v && strcmp(keys[i], "UsedVcpus") == 0)
            snprintf(v, sizeof(v), "%ld", vcpu);
        printf("%s: %s\n", keys[i], v);
    }
    info_value(info, "StorageServers", v, sizeof(v));
    if (*v)
        printf("StorageServers: %s\n", v);
    free(info);
    return 0;
}

static int stop_domain(const char *g, int force)
{
    int rc = need_dom(g, "vm_maker");
    if (rc)
        return rc;
    if (!force && exists(P("%s/domains/%s/hung", H, g)))
        return fail(1,
                    "[ERROR] Domain %s did not shut down: it does not answer the ACPI power "
                    "button\n[ERROR] Use --force to destroy it",
                    g);
    lock_root();
    write_text(P("%s/domains/%s/state", H, g), "shut off\n");
    unlink(P("%s/domains/%s/hung", H, g));
    printf(force ? "[INFO] Domain %s destroyed\n" : "[INFO] Domain %s stopped\n", g);
    return changed();
}

/* A powered-on host other than this one where G runs, into OUT ("" if none). */
static void running_elsewhere(const char *g, char *out, size_t size)
{
    char **hosts, st[64];
    int nh = list_dir(P("%s/hosts", ROOT), &hosts), i;

    out[0] = '\0';
    for (i = 0; i < nh && !*out; i++) {
        if (strcmp(hosts[i], NAME) == 0 || exists(P("%s/hosts/%s/off", ROOT, hosts[i])))
            continue;
        read_line(P("%s/hosts/%s/domains/%s/state", ROOT, hosts[i], g), st, sizeof(st));
        if (strcmp(st, "running") == 0)
            snprintf(out, size, "%s", hosts[i]);
    }
    free_list(hosts, nh);
}

static int start_domain(const char *g)
{
    char mp[1024], l[1024], other[256], st[64];
    int rc = need_dom(g, "vm_maker"), i;
    dom d;

    if (rc)
        return rc;
    dom_load(H, g, &d);
    for (i = 0; i < d.n_devs; i++)
        if (!exists(P("%s/dev/exc/%s", H, d.devs[i])))
            return fail(1,
                        "[ERROR] Failed to start domain %s: volume device /dev/exc/%s is not "
                        "attached",
                        g, d.devs[i]);
    snprintf(mp, sizeof(mp), "/EXAVMIMAGES/GuestImages/%s", g);
    if (!mount_line(mp, l, sizeof(l)) || strcmp(strchr(l, ' ') + 1, mp) != 0)
        return fail(1, "[ERROR] Failed to start domain %s: configuration volume not mounted at %s",
                    g, mp);
    for (i = 0; i < d.n_bridges; i++)
        if (!exists(P("%s/bridges/%s", H, d.bridges[i])))
            return fail(1,
                        "[ERROR] Failed to start domain %s: Cannot get interface MTU on '%s': No "
                        "such device",
                        g, d.bridges[i]);
    lock_root();
    running_elsewhere(g, other, sizeof(other));
    if (*other)
        return fail(1,
                    "[ERROR] Failed to start domain %s: qemu: Failed to get \"write\" lock "
                    "(image in use by %s)",
                    g, other);
    read_line(P("%s/domains/%s/state", H, g), st, sizeof(st));
    write_text(P("%s/domains/%s/state", H, g), "running\n");
    printf(strcmp(st, "running") == 0 ? "[INFO] Domain %s is already running\n"
                                      : "[INFO] Domain %s started\n",
           g);
    return changed();
}

static int bridge_in_use(const char *b, char *by, size_t size)
{
    char **doms;
    int nd = list_dir(P("%s/domains", H), &doms), i, j, found = 0;
    dom d;

    for (i = 0; i < nd && !found; i++)
        if (dom_load(H, doms[i], &d) == 0)
            for (j = 0; j < d.n_bridges && !found; j++)
                if (strcmp(d.bridges[j], b) == 0) {
                    snprintf(by, size, "%s", doms[i]);
                    found = 1;
                }
    free_list(doms, nd);
    return found;
}

static int list_names(const char *dir)
{
    char **l;
    int n = list_dir(dir, &l), i;
    for (i = 0; i < n; i++)
        printf("%s\n", l[i]);
    free_list(l, n);
    return 0;
}

static int vm_maker(char **a, int n)
{
    const char *op = n > 1 ? a[1] : "";
    char by[256], *s;

    if (strcmp(op, "--host-info") == 0)
        return host_info();
    if (strcmp(op, "--stop-domain") == 0 && n >= 3)
        return stop_domain(a[2], n > 3 && strcmp(a[3], "--force") == 0);
    if (strcmp(op, "--start-domain") == 0 && n >= 3)
        return start_domain(a[2]);
    if (strcmp(op, "--list-vf-pools") == 0) {
        if ((s = slurp(P("%s/vfpools", H))) != NULL) {
            for (char *t = strtok(s, "\n"); t; t = strtok(NULL, "\n"))
                printf("%s\n", t);
            free(s);
        }
        return 0;
    }
    if (strcmp(op, "--list-interfaces") == 0 && n >= 3) {
        int rc = need_dom(a[2], "vm_maker");
        return rc ? rc : list_names(P("%s/ifaces/%s", H, a[2]));
    }
    if ((strcmp(op, "--attach-interface") == 0 || strcmp(op, "--detach-interface") == 0) &&
        n >= 4) {
        int rc = need_dom(a[2], "vm_maker");
        const char *f;
        if (rc)
            return rc;
        if (!valid_name(a[3]))
            return fail(1, "[ERROR] bad interface name '%s'", a[3]);
        f = P("%s/ifaces/%s/%s", H, a[2], a[3]);
        if (op[2] == 'a') {
            if (exists(f))
                return fail(1, "[ERROR] Interface %s is already attached to %s", a[3], a[2]);
            mkdir(P("%s/ifaces/%s", H, a[2]), 0755);
            write_text(f, "");
            printf("[INFO] Interface %s attached to %s\n", a[3], a[2]);
        } else {
            if (!exists(f))
                return fail(1, "[ERROR] Interface %s is not attached to %s", a[3], a[2]);
            unlink(f);
            printf("[INFO] Interface %s detached from %s\n", a[3], a[2]);
        }
        return 0;
    }
    if (strcmp(op, "--list-bridges") == 0)
        return list_names(P("%s/bridges", H));
    if (strcmp(op, "--add-bridge") == 0 && n >= 3) {
        const char *vlan = "";
        if (!valid_name(a[2]))
            return fail(1, "[ERROR] bad bridge name '%s'", a[2]);
        if (n >= 5 && strcmp(a[3], "--vlan") == 0) {
            vlan = a[4];
            if (!*vlan || strspn(vlan, "0123456789") != strlen(vlan))
                return fail(1, "[ERROR] bad vlan '%s'", vlan);
        }
        if (exists(P("%s/bridges/%s", H, a[2])))
            return fail(1, "[ERROR] Bridge %s already exists", a[2]);
        write_text(P("%s/bridges/%s", H, a[2]), P("%s\n", vlan));
        printf("[INFO] Bridge %s added\n", a[2]);
        return 0;
    }
    if (strcmp(op, "--remove-bridge") == 0 && n >= 3) {
        if (!valid_name(a[2]))
            return fail(1, "[ERROR] bad bridge name '%s'", a[2]);
        if (!exists(P("%s/bridges/%s", H, a[2])))
            return fail(1, "[ERROR] Bridge %s does not exist", a[2]);
        if (bridge_in_use(a[2], by, sizeof(by)))
            return fail(1, "[ERROR] Bridge %s is in use by domain %s", a[2], by);
        unlink(P("%s/bridges/%s", H, a[2]));
        printf("[INFO] Bridge %s removed\n", a[2]);
        return 0;
    }
    return fail(1, "[ERROR] fasthost vm_maker: unsupported: %s", CMD);
}

static int virsh(char **a, int n)
{
    const char *sub = n > 1 ? a[1] : "", *g = n > 2 ? a[2] : NULL;
    char st[64], *x;
    int rc;
    dom d;

    if (strcmp(sub, "list") == 0 && n == 4 && strcmp(a[2], "--all") == 0 &&
        strcmp(a[3], "--name") == 0)
        return list_names(P("%s/domains", H));
    if (strcmp(sub, "autostart") == 0 && g && strcmp(g, "--disable") == 0) {
        g = n > 3 ? a[3] : NULL;
        if ((rc = need_dom(g, "virsh")) != 0)
            return rc;
        lock_root();
        unlink(P("%s/domains/%s/autostart", H, g));
        printf("Domain '%s' unmarked as autostarted\n\n", g);
        return changed();
    }
    if (strcmp(sub, "define") == 0 && g) {
        const char *f = P("%s%s", H, g);
        char ifs[512], *tok, *save = NULL;
        if (strncmp(g, "/EXAVMIMAGES/", 13) != 0 || (x = slurp(f)) == NULL)
            return fail(1, "error: Failed to open file '%s': No such file or directory", g);
        dom_parse(x, &d);
        if (!valid_name(d.name)) {
            free(x);
            return fail(1, "error: Failed to define domain from %s: missing or bad <name>", g);
        }
        lock_root();
        if (exists(P("%s/domains/%s", H, d.name))) {
            free(x);
            return fail(1, "error: operation failed: domain '%s' already exists", d.name);
        }
        mkdir(P("%s/domains/%s", H, d.name), 0755);
        write_text(P("%s/domains/%s/xml", H, d.name), x);
        write_text(P("%s/domains/%s/state", H, d.name), "shut off\n");
        free(x);
        if (exists(P("%s/vfpools", H)) && d.private_ifs[0]) {
            mkdir(P("%s/ifaces/%s", H, d.name), 0755);
            snprintf(ifs, sizeof(ifs), "%s", d.private_ifs);
            for (tok = strtok_r(ifs, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
                write_text(P("%s/ifaces/%s/%s", H, d.name, tok), "");
        }
        printf("Domain '%s' defined from %s\n\n", d.name, g);
        return changed();
    }
    if ((rc = need_dom(g, "virsh")) != 0)
        return rc;
    if (strcmp(sub, "domstate") == 0) {
        read_line(P("%s/domains/%s/state", H, g), st, sizeof(st));
        printf("%s\n", st);
        return 0;
    }
    if (strcmp(sub, "dominfo") == 0) {
        char uuid[128];
        read_line(P("%s/domains/%s/state", H, g), st, sizeof(st));
        x = slurp(P("%s/domains/%s/xml", H, g));
        dom_parse(x ? x : "", &d);
        element_text(x ? x : "", "<uuid>", uuid, sizeof(uuid));
        free(x);
        printf("%-15s %s\n%-15s %s\n%-15s %s\n%-15s %s\n%-15s %s\n%-15s %ld\n%-15s %ld KiB\n"
               "%-15s %ld KiB\n%-15s %s\n%-15s %s\n\n",
               "Id:", strcmp(st, "running") == 0 ? "1" : "-", "Name:", g,
               "UUID:", *uuid ? uuid : "-", "OS Type:", "hvm", "State:", st, "CPU(s):", d.vcpu,
               "Max memory:", d.memkib, "Used memory:", d.memkib, "Persistent:", "yes",
               "Autostart:", exists(P("%s/domains/%s/autostart", H, g)) ? "enable" : "disable");
        return 0;
    }
    if (strcmp(sub, "dumpxml") == 0) {
        x = slurp(P("%s/domains/%s/xml", H, g));
        fputs(x ? x : "", stdout);
        free(x);
        return 0;
    }
    if (strcmp(sub, "undefine") == 0) {
        lock_root();
        read_line(P("%s/domains/%s/state", H, g), st, sizeof(st));
        if (strcmp(st, "running") == 0)
            return fail(1,
                        "error: Failed to undefine domain '%s'\nerror: Requested operation is "
                        "not valid: domain is running",
                        g);
        {
            char **l;
            int k, nl = list_dir(P("%s/domains/%s", H, g), &l);
            for (k = 0; k < nl; k++)
                unlink(P("%s/domains/%s/%s", H, g, l[k]));
            free_list(l, nl);
            rmdir(P("%s/domains/%s", H, g));
            nl = list_dir(P("%s/ifaces/%s", H, g), &l);
            for (k = 0; k < nl; k++)
                unlink(P("%s/ifaces/%s/%s", H, g, l[k]));
            free_list(l, nl);
            rmdir(P("%s/ifaces/%s", H, g));
        }
        printf("Domain '%s' has been undefined\n\n", g);
        return changed();
    }
    if (strcmp(sub, "autostart") == 0) {
        lock_root();
        write_text(P("%s/domains/%s/autostart", H, g), "");
        printf("Domain '%s' marked as autostarted\n\n", g);
        return changed();
    }
    if (strcmp(sub, "start") == 0)
        return start_domain(g);
    if (strcmp(sub, "shutdown") == 0)
        return stop_domain(g, 0);
    if (strcmp(sub, "destroy") == 0)
        return stop_domain(g, 1);
    return fail(1, "error: fasthost virsh: unsupported: %s", CMD);
}

/* The device name under which volume V is attached in HOSTDIR into OUT; 1 if found. */
static int dev_of(const char *hostdir, const char *v, char *out, size_t size)
{
    char **l, cur[256];
    int n = list_dir(P("%s/dev/exc", hostdir), &l), i, found = 0;

    for (i = 0; i < n && !found; i++) {
        read_line(P("%s/dev/exc/%s", hostdir, l[i]), cur, sizeof(cur));
        if (strcmp(cur, v) == 0) {
            snprintf(out, size, "%s", l[i]);
            found = 1;
        }
    }
    free_list(l, n);
    return found;
}

static int edvutil(char **a, int n)
{
    const char *op = n > 1 ? a[1] : "";
    char at[256], d[256], l[1024], cur[256];

    if (strcmp(op, "lsattach") == 0) {
        char **devs;
        int nd = list_dir(P("%s/dev/exc", H), &devs), i;
        for (i = 0; i < nd; i++) {
            read_line(P("%s/dev/exc/%s", H, devs[i]), cur, sizeof(cur));
            printf("%s %s\n", cur, devs[i]);
        }
        free_list(devs, nd);
        return 0;
    }
    if (strcmp(op, "attach") == 0 && n == 4) {
        if (!valid_name(a[2]) || !valid_name(a[3]))
            return fail(1, "edvutil: usage: edvutil attach VOLUME DEVICE");
        if (!is_dir(P("%s/exascale/volumes/%s", ROOT, a[2])))
            return fail(1, "edvutil: volume %s does not exist", a[2]);
        lock_root();
        read_line(P("%s/exascale/attachments/%s", ROOT, a[2]), at, sizeof(at));
        if (*at && strcmp(at, NAME) != 0)
            return fail(1, "edvutil: volume %s is attached to host %s", a[2], at);
        if (exists(P("%s/dev/exc/%s", H, a[3]))) {
            read_line(P("%s/dev/exc/%s", H, a[3]), cur, sizeof(cur));
            if (strcmp(cur, a[2]) != 0)
                return fail(1, "edvutil: device %s is in use by volume %s", a[3], cur);
        }
        write_text(P("%s/exascale/attachments/%s", ROOT, a[2]), P("%s\n", NAME));
        write_text(P("%s/dev/exc/%s", H, a[3]), P("%s\n", a[2]));
        printf("Volume %s attached to %s as /dev/exc/%s\n", a[2], NAME, a[3]);
        return 0;
    }
    if (strcmp(op, "detach") == 0 && n == 5 && strcmp(a[3], "--host") == 0) {
        size_t hl = strlen(a[4]);
        if (!valid_name(a[2]))
            return fail(1, "edvutil: usage: edvutil detach VOLUME [--host HOST]");
        lock_root();
        read_line(P("%s/exascale/attachments/%s", ROOT, a[2]), at, sizeof(at));
        if (!*at || !(strcmp(at, a[4]) == 0 || (strncmp(at, a[4], hl) == 0 && at[hl] == '.')))
            return fail(1, "edvutil: volume %s is not attached to host %s", a[2], a[4]);
        unlink(P("%s/exascale/attachments/%s", ROOT, a[2]));
        if (dev_of(P("%s/hosts/%s", ROOT, at), a[2], d, sizeof(d)))
            unlink(P("%s/hosts/%s/dev/exc/%s", ROOT, at, d));
        printf("Volume %s detached from %s\n", a[2], at);
        return 0;
    }
    if (strcmp(op, "detach") == 0 && n == 3) {
        if (!valid_name(a[2]))
            return fail(1, "edvutil: usage: edvutil detach VOLUME [--host HOST]");
        lock_root();
        read_line(P("%s/exascale/attachments/%s", ROOT, a[2]), at, sizeof(at));
        if (strcmp(at, NAME) != 0)
            return fail(1, "edvutil: volume %s is not attached to this host", a[2]);
        if (dev_of(H, a[2], d, sizeof(d))) {
            char **doms, st[64], mp[300];
            int nd, i, j, busy = 0;
            dom dm;
            snprintf(mp, sizeof(mp), "/dev/exc/%s", d);
            if (mount_line(mp, l, sizeof(l)))
                return fail(1, "edvutil: device /dev/exc/%s is busy (mounted on %s)", d,
                            strchr(l, ' ') + 1);
            nd = list_dir(P("%s/domains", H), &doms);
            for (i = 0; i < nd && !busy; i++) {
                read_line(P("%s/domains/%s/state", H, doms[i]), st, sizeof(st));
                if (strcmp(st, "running") != 0 || dom_load(H, doms[i], &dm) != 0)
                    continue;
                for (j = 0; j < dm.n_devs && !busy; j++)
                    busy = strcmp(dm.devs[j], d) == 0;
            }
            free_list(doms, nd);
            if (busy)
                return fail(1, "edvutil: device /dev/exc/%s is busy (in use by running domain %s)",
                            d, dm.name);
            unlink(P("%s/dev/exc/%s", H, d));
        }
        unlink(P("%s/exascale/attachments/%s", ROOT, a[2]));
        printf("Volume %s detached from %s\n", a[2], NAME);
        return 0;
    }
    return fail(1, "edvutil: fasthost: unsupported: %s", CMD);
}

/* Removes the lines of fstab containing NEEDLE (sed -i '\| MP |d'), or appends LINE. */
static int fstab_edit(const char *needle, const char *append)
{
    char *t = slurp(P("%s/etc/fstab", H)), *s, *save = NULL;
    FILE *f;

    if (append) {
        free(t);
        if ((f = fopen(P("%s/etc/fstab", H), "a")) == NULL)
            return fail(1, "fasthost: cannot write /etc/fstab");
        fprintf(f, "%s\n", append);
        return fclose(f) == 0 ? 0 : 1;
    }
    if ((f = fopen(P("%s/etc/fstab", H), "w")) == NULL) {
        free(t);
        return fail(4, "sed: cannot write /etc/fstab");
    }
    for (s = t ? strtok_r(t, "\n", &save) : NULL; s; s = strtok_r(NULL, "\n", &save))
        if (strstr(s, needle) == NULL)
            fprintf(f, "%s\n", s);
    fclose(f);
    free(t);
    return 0;
}

/* TEXT with the host's paths mapped into H (as hostsim-exec's textual mapping). */
static char *map_paths(const char *text)
{
    static const char *roots[] = {"/EXAVMIMAGES", "/etc/fstab", "/dev/exc"};
    size_t cap = strlen(text) * 4 + strlen(H) * 16 + 1, o = 0;
    char *out = malloc(cap);
    const char *s = text;

    while (out && *s) {
        size_t i, matched = 0;
        for (i = 0; i < 3 && !matched; i++)
            if (strncmp(s, roots[i], strlen(roots[i])) == 0) {
                o += (size_t)snprintf(out + o, cap - o, "%s%s", H, roots[i]);
                s += strlen(roots[i]);
                matched = 1;
            }
        if (!matched && o + 1 < cap)
            out[o++] = *s++;
    }
    if (out)
        out[o] = '\0';
    return out;
}

/* Splits CMD into words: blanks separate, single quotes group (no other shell syntax). */
static int split(char *cmd, char **a)
{
    int n = 0;
    char *r = cmd, *w = cmd;

    while (*r && n < MAX_ARGS) {
        while (*r == ' ')
            r++;
        if (!*r)
            break;
        a[n++] = w;
        while (*r && *r != ' ') {
            if (*r == '\'') {
                char *e = strchr(r + 1, '\'');
                if (e == NULL)
                    return -1;
                memmove(w, r + 1, (size_t)(e - r - 1));
                w += e - r - 1;
                r = e + 1;
            } else
                *w++ = *r++;
        }
        if (*r)
            r++;
        *w++ = '\0';
    }
    return n;
}

static int dispatch(char *cmd)
{
    char *a[MAX_ARGS], l[1024];
    int n = split(cmd, a);

    if (n <= 0)
        return fail(127, "fasthost: cannot parse: %s", CMD);
    if (strcmp(a[0], "imageinfo") == 0)
        return imageinfo(a, n);
    if (strcmp(a[0], "vm_maker") == 0)
        return vm_maker(a, n);
    if (strcmp(a[0], "virsh") == 0)
        return virsh(a, n);
    if (strcmp(a[0], "edvutil") == 0)
        return edvutil(a, n);
    if (strcmp(a[0], "mountpoint") == 0 && n == 3 && strcmp(a[1], "-q") == 0)
        return mount_line(a[2], l, sizeof(l)) && strcmp(strchr(l, ' ') + 1, a[2]) == 0 ? 0 : 1;
    if (strcmp(a[0], "mkdir") == 0 && n == 3 && strcmp(a[1], "-p") == 0) {
        char *m = map_paths(a[2]), *p;
        for (p = m + strlen(H) + 1; (p = strchr(p, '/')) != NULL; p++) {
            *p = '\0';
            mkdir(m, 0755);
            *p = '/';
        }
        mkdir(m, 0755);
        free(m);
        return 0;
    }
    if (strcmp(a[0], "mount") == 0 && n == 3)
        return do_mount(a[1], a[2]);
    if (strcmp(a[0], "umount") == 0 && n == 2)
        return do_umount(a[1]);
    if (strcmp(a[0], "test") == 0 && n == 7 && strcmp(a[1], "!") == 0 && strcmp(a[2], "-d") == 0 &&
        strcmp(a[4], "||") == 0 && strcmp(a[5], "rmdir") == 0 && strcmp(a[3], a[6]) == 0) {
        char *m = map_paths(a[3]);
        int rc = 0;
        if (is_dir(m) && rmdir(m) != 0)
            rc = fail(1, "rmdir: failed to remove '%s': %s", a[3], strerror(errno));
        free(m);
        return rc;
    }
    if (strcmp(a[0], "grep") == 0 && n == 4 && strcmp(a[1], "-qF") == 0 &&
        strcmp(a[3], "/etc/fstab") == 0) {
        char *t = slurp(P("%s/etc/fstab", H)), *m = map_paths(a[2]);
        int rc = t && m && strstr(t, m) ? 0 : 1;
        free(t);
        free(m);
        return rc;
    }
    if (strcmp(a[0], "echo") == 0 && n == 4 && strcmp(a[2], ">>") == 0 &&
        strcmp(a[3], "/etc/fstab") == 0) {
        char *m = map_paths(a[1]);
        int rc = fstab_edit(NULL, m);
        free(m);
        return rc;
    }
    if (strcmp(a[0], "sed") == 0 && n == 4 && strcmp(a[1], "-i") == 0 &&
        strcmp(a[3], "/etc/fstab") == 0 && strncmp(a[2], "\\|", 2) == 0 && strlen(a[2]) > 4 &&
        strcmp(a[2] + strlen(a[2]) - 2, "|d") == 0) {
        char *m;
        int rc;
        a[2][strlen(a[2]) - 2] = '\0';
        m = map_paths(a[2] + 2);
        rc = fstab_edit(m, NULL);
        free(m);
        return rc;
    }
    return fail(127, "fasthost: unsupported command: %s", CMD);
}

/* Fault lines "MODE PATTERN": returns 1 when the command is to fail (fail-once is used up). */
static int injected_failure(void)
{
    char *t = slurp(P("%s/faults", H)), *s, *save = NULL, *kept;
    int hit = 0, fd;
    size_t k = 0;
    FILE *f;

    if (t == NULL || !*t) {
        free(t);
        return 0;
    }
    fd = open(P("%s/faults.lock", H), O_RDWR | O_CREAT, 0644);
    flock(fd, LOCK_EX);
    free(t);
    t = slurp(P("%s/faults", H));
    kept = calloc(1, strlen(t ? t : "") + 2);
    for (s = t ? strtok_r(t, "\n", &save) : NULL; s; s = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(s, ' ');
        int match = !hit && sp && sp[1] && strstr(CMD, sp + 1) != NULL;
        if (match && strncmp(s, "fail-once ", 10) == 0) {
            hit = 2;
            continue;
        }
        if (match && strncmp(s, "fail-always ", 12) == 0)
            hit = 1;
        k += (size_t)sprintf(kept + k, "%s\n", s);
    }
    if (hit == 2 && (f = fopen(P("%s/faults", H), "w")) != NULL) {
        fputs(kept, f);
        fclose(f);
    }
    free(kept);
    free(t);
    close(fd);
    return hit != 0;
}

static long latency_ms(void)
{
    char *t = slurp(P("%s/latency", H)), *s, *save = NULL;
    long ms = 0;

    for (s = t ? strtok_r(t, "\n", &save) : NULL; s; s = strtok_r(NULL, "\n", &save)) {
        char *sp = strrchr(s, ' ');
        if (sp == NULL || sp == s)
            continue;
        *sp = '\0';
        if (strspn(sp + 1, "0123456789") == strlen(sp + 1) && strstr(CMD, s))
            ms += atol(sp + 1);
    }
    free(t);
    return ms;
}

/* Runs CMD (one command) with its fault, latency, host lock and commands.log line. */
static int run_one(void)
{
    long long t0 = now_ms(), t1;
    char *cmd, *logged, *p;
    int rc, hl = -1;
    long ms;
    FILE *log;

    if (!*CMD) {
        rc = fail(1, "fasthost: interactive sessions are not supported; send a command");
        goto out;
    }
    if (injected_failure()) {
        rc = fail(1, "hostsim: injected failure");
        goto out;
    }
    if ((ms = latency_ms()) > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if ((hl = open(P("%s/lock", H), O_RDWR | O_CREAT, 0644)) >= 0)
        flock(hl, LOCK_EX); /* one command at a time per host, as the simulator */
    cmd = strdup(CMD);
    rc = cmd ? dispatch(cmd) : 1;
    free(cmd);
    fflush(stdout);
    unlock_root();
    if (hl >= 0)
        close(hl);
out:
    t1 = now_ms();
    logged = strdup(CMD);
    for (p = logged; p && *p; p++)
        if (*p == '\n')
            *p = ' ';
    if ((log = fopen(P("%s/commands.log", H), "a")) != NULL) {
        fprintf(log, "%lld\t%lld\t%d\t%s\n", t0, t1, rc, logged ? logged : "");
        fclose(log);
    }
    free(logged);
    return rc;
}

/* The arguments of kvmove's batch form (tests/hostsim/COMMANDS.md "Batches"): single-quoted
 * words, ' written as '\''. Returns their number (words[] malloc'd), or -1 if TEXT is not
 * all such words. */
static int batch_words(const char *text, char **words, int max)
{
    int n = 0;
    const char *r = text;

    while (*r) {
        char *w;
        size_t k = 0;
        if (n == max || *r != '\'')
            goto bad;
        w = malloc(strlen(r) + 1);
        if (w == NULL)
            goto bad;
        words[n++] = w;
        for (;;) {
            const char *e = strchr(r + 1, '\'');
            if (e == NULL)
                goto bad;
            memcpy(w + k, r + 1, (size_t)(e - r - 1));
            k += (size_t)(e - r - 1);
            r = e + 1;
            if (strncmp(r, "\\''", 3) == 0) {
                w[k++] = '\'';
                r += 2; /* on the quote that opens the rest of the word */
                continue;
            }
            break;
        }
        w[k] = '\0';
        if (*r == ' ')
            r++;
        else if (*r)
            goto bad;
    }
    return n;
bad:
    while (n > 0)
        free(words[--n]);
    return -1;
}

int main(int argc, char **argv)
{
    static const char batch_head[] = "kvmove_batch() {", batch_call[] = "; }; kvmove_batch '";
    const char *args;
    char *hosts, *words[2 + 256];
    int n, i, rc;

    if (argc != 2 || snprintf(H, sizeof(H), "%s", argv[1]) >= (int)sizeof(H) ||
        (hosts = strrchr(H, '/')) == NULL || hosts - H < 6 || strncmp(hosts - 6, "/hosts", 6)) {
        fprintf(stderr, "usage: kvmove-bench-fasthost HOSTDIR (a host of a hostsim root)\n");
        return 2;
    }
    snprintf(ROOT, sizeof(ROOT), "%.*s", (int)(hosts - 6 - H), H); /* ROOT/hosts/NAME */
    NAME = strrchr(H, '/') + 1;
    CMD = getenv("SSH_ORIGINAL_COMMAND");
    if (CMD == NULL)
        CMD = "";
    /* A batch: each part as if it had come alone, then the separators a shell would write. */
    if (strncmp(CMD, batch_head, sizeof(batch_head) - 1) == 0 &&
        (args = strstr(CMD, batch_call)) != NULL &&
        (n = batch_words(args + sizeof(batch_call) - 2, words, 2 + 256)) >= 2) {
        char marker[256];
        snprintf(marker, sizeof(marker), "%s%s", words[0], words[1]);
        for (i = 2; i < n; i++) {
            CMD = words[i];
            rc = run_one();
            fflush(stdout);
            printf("\n%s %d %d\n", marker, i - 2, rc);
            fflush(stdout);
            fprintf(stderr, "\n%s %d\n", marker, i - 2);
        }
        for (i = 0; i < n; i++)
            free(words[i]);
        return 0;
    }
    return run_one();
}
