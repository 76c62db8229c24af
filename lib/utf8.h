/* utf8: the one reading of UTF-8 (Unicode 15, table 3-7): what a well-formed sequence is, for
 * everything that checks, cleans or escapes text kvmove does not control. */
#ifndef KVMOVE_UTF8_H
#define KVMOVE_UTF8_H

#include <stddef.h>

/* Length (1-4) of the well-formed UTF-8 sequence at P and its code point into *CP (may be
 * NULL), or 0 when P does not start one: a stray continuation byte, an overlong form, a
 * surrogate, a value above U+10FFFF, or a sequence cut short (also by the terminating NUL). */
size_t utf8_decode(const unsigned char *p, unsigned long *cp);

/* Makes the C string S valid UTF-8 in place: each byte that does not start a well-formed
 * sequence becomes '?' (a sequence a bounded buffer cut short at its end too). Returns the
 * number of bytes replaced. */
size_t utf8_repair(char *s);

#endif
