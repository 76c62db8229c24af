/* number: strict parsing of the numbers operators type: options, settings, operands. */
#include "number.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "util.h"

/* Skips the digits at P; returns where they end. */
static const char *digits(const char *p)
{
    while (isdigit((unsigned char)*p))
        p++;
    return p;
}

int number_parse_long(const char *name, const char *text, long min, long max, long *out,
                      char *errstr, size_t errstr_size)
{
    const char *p = text && *text == '-' ? text + 1 : text;
    char *end;
    long v;

    /* strtol alone takes " 5", "+5", "5x" up to the x, and "" as 0. */
    if (p == NULL || !isdigit((unsigned char)*p) || *digits(p) != '\0')
        goto bad;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    util_errf(errstr, errstr_size, "%s: '%s' is not a number from %ld to %ld", name,
              text ? text : "", min, max);
    return -1;
}

int number_parse_int(const char *name, const char *text, int min, int max, int *out, char *errstr,
                     size_t errstr_size)
{
    long v;

    if (number_parse_long(name, text, min, max, &v, errstr, errstr_size) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

int number_parse_double(const char *name, const char *text, double min, double max, double *out,
                        char *errstr, size_t errstr_size)
{
    const char *p = text && *text == '-' ? text + 1 : text, *q;
    char *end;
    double v;

    if (p == NULL || !isdigit((unsigned char)*p))
        goto bad;
    q = digits(p);
    if (*q == '.') {
        if (!isdigit((unsigned char)q[1]))
            goto bad;
        q = digits(q + 1);
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '-' || *q == '+')
            q++;
        if (!isdigit((unsigned char)*q))
            goto bad;
        q = digits(q);
    }
    if (*q != '\0')
        goto bad;
    errno = 0;
    v = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !(v >= min && v <= max))
        goto bad;
    *out = v;
    return 0;
bad:
    util_errf(errstr, errstr_size, "%s: '%s' is not a number from %g to %g", name, text ? text : "",
              min, max);
    return -1;
}
