/* unit_pg.h: a fresh database per unit suite through tests/unit/unit_pg.sh (test code). */
#ifndef KVMOVE_UNIT_PG_H
#define KVMOVE_UNIT_PG_H

#include <stdio.h>
#include <string.h>

/* Runs SRCDIR/tests/unit/unit_pg.sh VERB DBNAME ("create" or "drop"); for create, the new
 * database's conninfo goes to CONNINFO (SIZE bytes). Returns 0, or -1 when the script failed. */
static __attribute__((unused)) int unit_pg_run(const char *srcdir, const char *verb,
                                               const char *dbname, char *conninfo, size_t size)
{
    char cmd[4400];
    FILE *f;

    snprintf(cmd, sizeof(cmd), "'%s/tests/unit/unit_pg.sh' %s %s", srcdir, verb, dbname);
    f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    if (strcmp(verb, "create") == 0 && conninfo && fgets(conninfo, (int)size, f) != NULL)
        conninfo[strcspn(conninfo, "\n")] = '\0';
    return pclose(f) == 0 ? 0 : -1;
}

#endif
