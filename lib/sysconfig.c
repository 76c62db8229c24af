/* sysconfig: the system's es.xml as stored in PostgreSQL, fetched and loaded in one call. */
#include "sysconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sysconfig_load(jobstore *js, long version, const char *schema_dir, esxml **doc,
                   long *version_out, char *errstr, size_t errstr_size)
{
    char xsd[1100], *buf = NULL;
    long v = 0;
    int rc;

    *doc = NULL;
    rc = jobstore_config_get(js, version, &buf, &v, NULL, errstr, errstr_size);
    if (rc < 0)
        return rc;
    snprintf(xsd, sizeof(xsd), "%s/es.xsd", schema_dir);
    if (esxml_load_buffer(buf, strlen(buf), xsd, doc, errstr, errstr_size) != 0)
        rc = -JOBSTORE_EINVALID;
    else if (version_out)
        *version_out = v;
    free(buf);
    return rc;
}
