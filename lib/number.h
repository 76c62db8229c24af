/* number: strict parsing of the numbers operators type: options, settings, operands. */
#ifndef KVMOVE_NUMBER_H
#define KVMOVE_NUMBER_H

#include <stddef.h>

/* Parses TEXT as a whole decimal number from MIN to MAX: an optional '-' and digits, nothing
 * else (no blanks, no '+', no suffix, no hexadecimal), without overflow. NAME is what the
 * operator typed it for ("--timeout", "ssh.port"). Returns 0 and *OUT, or -1 with errstr
 * "NAME: 'TEXT' is not a number from MIN to MAX". */
int number_parse_long(const char *name, const char *text, long min, long max, long *out,
                      char *errstr, size_t errstr_size);
/* As number_parse_long, for an int. */
int number_parse_int(const char *name, const char *text, int min, int max, int *out, char *errstr,
                     size_t errstr_size);
/* Parses TEXT as a decimal number with an optional fraction and exponent ("1.5", "2", "1e1")
 * from MIN to MAX; "inf", "nan", hexadecimal and blanks are refused. Returns 0 and *OUT, or -1
 * with errstr "NAME: 'TEXT' is not a number from MIN to MAX". */
int number_parse_double(const char *name, const char *text, double min, double max, double *out,
                        char *errstr, size_t errstr_size);

#endif
