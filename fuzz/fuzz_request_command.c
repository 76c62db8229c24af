/* fuzz_request_command: libFuzzer target for request_parse_command (MIGRATE GUEST ... form). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    request r;
    char err[512];
    char *cmdline = malloc(size + 1);

    if (cmdline == NULL)
        return 0;
    memcpy(cmdline, data, size);
    cmdline[size] = '\0';
    request_init(&r);
    /* No NUL anywhere: a refusal must write its reason (terminated, not empty) itself. */
    memset(err, 'x', sizeof(err));
    if (request_parse_command(cmdline, &r, err, sizeof(err)) == 0) {
        /* An accepted command is a valid request. */
        if (request_validate(&r, err, sizeof(err)) != 0) {
            fprintf(stderr, "fuzz_request_command: accepted, then invalid: %s\n", err);
            abort();
        }
    } else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
        abort();
    }
    free(cmdline);
    return 0;
}
