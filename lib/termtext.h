/* termtext: text kvmove does not control (host output, stored messages) made safe to print. */
#ifndef KVMOVE_TERMTEXT_H
#define KVMOVE_TERMTEXT_H

#include <stddef.h>

/* How a text is laid out where it is printed. */
typedef enum {
    TERMTEXT_LINE,  /* one line (a table cell, a field): a newline is shown as \n too */
    TERMTEXT_LINES, /* multi-line output: newlines stay line breaks, each line escaped */
} termtext_layout;

/* Writes TEXT (NULL = "") into OUT (SIZE bytes, always terminated when SIZE > 0) with every
 * byte a terminal would act on shown as a visible escape, so that a host cannot move the cursor,
 * clear the screen or retitle the window of the operator reading it: C0 controls and DEL as \t,
 * \r, \n (TERMTEXT_LINE) or \xNN (ESC is \x1b), C1 controls and bidirectional overrides as
 * \uNNNN, bytes that are not UTF-8 as \xNN. Printable text, UTF-8 included, is copied as it is.
 * Backslashes are not doubled: this is for reading, not for parsing back. Returns the length
 * the whole result needs (as snprintf does). */
size_t termtext_escape(const char *text, termtext_layout layout, char *out, size_t size);

/* As termtext_escape, into a new string (caller frees); NULL when out of memory. */
char *termtext_dup(const char *text, termtext_layout layout);

#endif
