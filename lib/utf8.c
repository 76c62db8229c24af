/* utf8: the one reading of UTF-8. */
#include "utf8.h"

size_t utf8_decode(const unsigned char *p, unsigned long *cp)
{
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range (table 3-7) */
    unsigned long v;
    size_t n, i;

    if (p[0] < 0x80) {
        if (cp)
            *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, v = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3, v = p[0] & 0x0f;
        lo = p[0] == 0xe0 ? 0xa0 : 0x80; /* no overlong forms */
        hi = p[0] == 0xed ? 0x9f : 0xbf; /* no surrogates */
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4, v = p[0] & 0x07;
        lo = p[0] == 0xf0 ? 0x90 : 0x80; /* no overlong forms */
        hi = p[0] == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
    } else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (i = 1; i < n; i++) {
        if (i > 1 && (p[i] < 0x80 || p[i] > 0xbf)) /* also stops at the terminating NUL */
            return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (cp)
        *cp = v;
    return n;
}

size_t utf8_repair(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t replaced = 0, n;

    while (*p) {
        if ((n = utf8_decode(p, NULL)) == 0) {
            *p++ = '?';
            replaced++;
        } else
            p += n;
    }
    return replaced;
}
