/* termtext: text kvmove does not control (host output, stored messages) made safe to print. */
#include "termtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* 1 for the code points above ASCII that a terminal acts on or that reorder what is shown:
 * C1 controls (0x9b is CSI on 8-bit terminals), the bidirectional embeddings, overrides and
 * isolates, and the line and paragraph separators. */
static int hidden_control(unsigned long cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029 || cp == 0x200e ||
           cp == 0x200f || cp == 0x061c;
}

size_t termtext_escape(const char *text, termtext_layout layout, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    size_t len = 0;

    while (*p) {
        char esc[16];
        const char *piece = esc;
        unsigned long cp;
        size_t n = utf8_decode(p, &cp), plen;

        if (n == 0) {
            snprintf(esc, sizeof(esc), "\\x%02x", *p);
            n = 1;
        } else if (cp == '\n') {
            piece = layout == TERMTEXT_LINES ? "\n" : "\\n";
        } else if (cp == '\t') {
            piece = "\\t";
        } else if (cp == '\r') {
            piece = "\\r";
        } else if (cp < 0x20 || cp == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02lx", cp);
        } else if (hidden_control(cp)) {
            snprintf(esc, sizeof(esc), "\\u%04x",
                     (unsigned)(cp & 0xffff)); /* hidden_control: BMP only */
        } else {
            memcpy(esc, p, n);
            esc[n] = '\0';
        }
        plen = strlen(piece);
        if (len + plen < size)
            memcpy(out + len, piece, plen);
        else if (len < size)
            size = len + 1; /* nothing after a piece that did not fit */
        len += plen;
        p += n;
    }
    if (size > 0)
        out[len < size ? len : size - 1] = '\0';
    return len;
}

char *termtext_dup(const char *text, termtext_layout layout)
{
    size_t need = termtext_escape(text, layout, NULL, 0);
    char *out = malloc(need + 1);

    if (out != NULL)
        termtext_escape(text, layout, out, need + 1);
    return out;
}
