/* fuzz_request_command: libFuzzer target for request_parse_command (MIGRATE GUEST ... form). */
#include <stdint.h>
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
    if (request_parse_command(cmdline, &r, err, sizeof(err)) == 0) {
        /* An accepted command is a valid request. */
        if (request_validate(&r, err, sizeof(err)) != 0)
            abort();
    } else if (memchr(err, '\0', sizeof(err)) == NULL) {
        abort();
    }
    free(cmdline);
    return 0;
}
