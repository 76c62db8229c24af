/* test_hostops: both host profiles render every operation, the libvirt profile's mapping, and the
 * one reading of domain answers. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hostops.h"
#include "unit_run.h"

/* A value for every placeholder, as a migration passes them. */
static const hostops_var all_vars[] = {
    {"guest", "rh01vm01.example.com"},
    {"volume", "rh01vm01_sys"},
    {"device", "rh01vm01_sys_5f0c"},
    {"bridge", "vmeth0.101"},
    {"vlan", "101"},
    {"iface", "re0"},
    {"host", "rh01kvm01.example.com"},
};

static char *render(const char *profile, hostop op)
{
    char err[512];
    char *cmd;

    ck_assert_int_eq(hostops_set_profile(profile, err, sizeof(err)), 0);
    cmd = hostops_render(op, all_vars, sizeof(all_vars) / sizeof(all_vars[0]), err, sizeof(err));
    ck_assert_msg(cmd != NULL, "%s/%s: %s", profile, hostops_name(op), err);
    return cmd;
}

UNIT_TCASE("profiles");

/* Every operation a profile has renders (no stray braces taken for placeholders). */
UNIT_RANGE(test_every_op_renders, 0, 2)
{
    static const char *const profiles[] = {"exadata", "libvirt"};
    const char *profile = profiles[_i];
    int op;

    for (op = 0; op < HOP__COUNT; op++) {
        char err[256];
        ck_assert_int_eq(hostops_set_profile(profile, err, sizeof(err)), 0);
        if (!hostops_has((hostop)op))
            continue;
        free(render(profile, (hostop)op));
    }
}
END_TEST

/* Which profile has which operation. */
static const struct {
    const char *profile;
    hostop op;
    int has;
} presence[] = {
    {"exadata", HOP_DOMAIN_WAIT_READY, 0}, /* vm_maker --start-domain waits itself */
    {"libvirt", HOP_DOMAIN_WAIT_READY, 1}, {"exadata", HOP_DOMAIN_START, 1},
    {"libvirt", HOP_DOMAIN_START, 1},      {"libvirt", HOP_VOLUME_DETACH_REMOTE, 1},
};

UNIT_LOOP(test_presence, presence)
{
    char err[256];

    ck_assert_int_eq(hostops_set_profile(presence[_i].profile, err, sizeof(err)), 0);
    ck_assert_int_eq(hostops_has(presence[_i].op), presence[_i].has);
}
END_TEST

/* What the rendered command must contain: the tool each profile uses for the operation. */
static const struct {
    const char *profile;
    hostop op;
    const char *contains;
} mapping[] = {
    {"exadata", HOP_DOMAIN_SHUTDOWN, "vm_maker --stop-domain rh01vm01.example.com"},
    {"libvirt", HOP_DOMAIN_SHUTDOWN, "virsh shutdown rh01vm01.example.com"},
    {"libvirt", HOP_DOMAIN_SHUTDOWN, "grep -qx \"shut off\""},
    {"libvirt", HOP_DOMAIN_DESTROY, "virsh destroy rh01vm01.example.com"},
    {"libvirt", HOP_DOMAIN_START, "virsh start rh01vm01.example.com"},
    {"libvirt", HOP_DOMAIN_WAIT_READY,
     "KVMOVE-READY /var/log/libvirt/qemu/rh01vm01.example.com.serial"},
    {"libvirt", HOP_DOMAIN_DEFINE,
     "virsh define /var/lib/libvirt/kvmove/guests/rh01vm01.example.com/rh01vm01.example.com.xml"},
    {"libvirt", HOP_VOLUME_ATTACH,
     "ln -sfn /srv/kvmove-shared/rh01vm01_sys /var/lib/libvirt/kvmove/volumes/rh01vm01_sys_5f0c"},
    {"libvirt", HOP_VOLUME_DETACH, "-lname '/srv/kvmove-shared/rh01vm01_sys' -delete"},
    {"libvirt", HOP_CFG_MOUNT,
     "mount --bind /var/lib/libvirt/kvmove/volumes/rh01vm01_sys_5f0c "
     "/var/lib/libvirt/kvmove/guests/rh01vm01.example.com"},
    {"libvirt", HOP_BRIDGE_ADD, "ip link add name vmeth0.101 type bridge"},
    {"libvirt", HOP_BRIDGE_ADD, "vlan 101"},
    {"libvirt", HOP_HOST_INFO, "/etc/kvmove/host-facts"},
    {"libvirt", HOP_IFACE_ATTACH, "exit 1"},
};

UNIT_LOOP(test_mapping, mapping)
{
    char *cmd = render(mapping[_i].profile, mapping[_i].op);

    ck_assert_msg(strstr(cmd, mapping[_i].contains) != NULL, "%s/%s: '%s' lacks '%s'",
                  mapping[_i].profile, hostops_name(mapping[_i].op), cmd, mapping[_i].contains);
    free(cmd);
}
END_TEST

UNIT_TEST(test_unknown_profile_refused)
{
    char err[256] = "";

    ck_assert_int_eq(hostops_set_profile("xen", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "libvirt"));
}
END_TEST

/* An operation the profile leaves out is refused with a reason, not run as "(null)". */
UNIT_TEST(test_absent_op_refused)
{
    char err[256] = "";

    ck_assert_int_eq(hostops_set_profile("exadata", err, sizeof(err)), 0);
    ck_assert_ptr_null(hostops_render(HOP_DOMAIN_WAIT_READY, all_vars, 7, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "domain_wait_ready"));
}
END_TEST

/* Values are checked before they reach the libvirt profile's shell commands too. */
UNIT_TEST(test_hostile_value_refused)
{
    char err[256];
    hostops_var v[] = {{"guest", "g1;reboot"}};

    ck_assert_int_eq(hostops_set_profile("libvirt", err, sizeof(err)), 0);
    ck_assert_ptr_null(hostops_render(HOP_DOMAIN_WAIT_READY, v, 1, err, sizeof(err)));
}
END_TEST

/* Domain answers: what each says, and "could not ask" is never "not defined". */
static const struct {
    int exit_status;
    const char *out, *err;
    int defined, running, autostart;
} domain_cases[] = {
    /* virsh dominfo of libvirt 9 */
    {0,
     "Id:             3\nName:           rh01vm01.example.com\nUUID:           "
     "6b1d2c0e-0d5e-4f51-9d7a-1c2f0f3a9b11\nOS Type:        hvm\nState:          running\n"
     "CPU(s):         2\nMax memory:     2097152 KiB\nPersistent:     yes\n"
     "Autostart:      enable\nManaged save:   no\n",
     "", 1, 1, 1},
    {0, "Name: g\nState:          shut off\nAutostart:      disable\n", "", 1, 0, 0},
    /* a guest whose name says "running" is not running for that */
    {0, "Name:           running.example.com\nState:          shut off\nAutostart:      disable\n",
     "", 1, 0, 0},
    /* virsh domstate */
    {0, "running\n", "", 1, 1, 0},
    {0, "shut off\n", "", 1, 0, 0},
    {0, "", "", 1, 0, 0},
    {0, NULL, NULL, 1, 0, 0},
    /* not defined: the host says so */
    {1, "", "error: failed to get domain 'g'", 0, 0, 0},
    {1, "", "'virsh dominfo g' on 127.0.1.2 exited 1: error: failed to get domain 'g'", 0, 0, 0},
    {1, "", "error: Domain not found: no domain with matching name 'g'", 0, 0, 0},
    /* could not ask */
    {1, "",
     "error: failed to connect to the hypervisor\nerror: Failed to connect socket to "
     "'/var/run/libvirt/libvirt-sock': No such file or directory",
     -1, 0, 0},
    {1, "", "hostsim: injected failure", -1, 0, 0},
    {255, "", "", -1, 0, 0},
    {1, NULL, NULL, -1, 0, 0},
};

UNIT_LOOP(test_domain_parse, domain_cases)
{
    hostops_domain d;

    hostops_domain_parse(domain_cases[_i].exit_status, domain_cases[_i].out, domain_cases[_i].err,
                         &d);
    ck_assert_int_eq(d.defined, domain_cases[_i].defined);
    ck_assert_int_eq(d.running, domain_cases[_i].running);
    ck_assert_int_eq(d.autostart, domain_cases[_i].autostart);
}
END_TEST

/* A template override (template.NAME) stays in force whichever profile is selected. Last in
 * the file (tests run in its order): it leaves an override in force for the rest of the process. */
UNIT_TEST(test_override_survives_profile)
{
    char err[256], *cmd;
    hostops_var v[] = {{"guest", "g1.example.com"}};

    ck_assert_int_eq(hostops_set_template(HOP_DOMAIN_LIST, "echo {guest}", err, sizeof(err)), 0);
    ck_assert_int_eq(hostops_set_profile("libvirt", err, sizeof(err)), 0);
    cmd = hostops_render(HOP_DOMAIN_LIST, v, 1, err, sizeof(err));
    ck_assert_str_eq(cmd, "echo g1.example.com");
    free(cmd);
    ck_assert_int_eq(hostops_set_profile("exadata", err, sizeof(err)), 0);
    cmd = hostops_render(HOP_DOMAIN_LIST, v, 1, err, sizeof(err));
    ck_assert_str_eq(cmd, "echo g1.example.com");
    free(cmd);
}
END_TEST

int main(void)
{
    return unit_main("hostops");
}
