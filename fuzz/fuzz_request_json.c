/* fuzz_request_json: libFuzzer target for request_parse_json (the worker's intake parser). */
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
    char *copy;

    /* The bus hands the parser a buffer that is not NUL-terminated: keep it that way, in an
     * allocation of exactly SIZE bytes, so that ASan sees any read past the end. */
    copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    memset(&r, 0xa5, sizeof(r)); /* garbage in OUT must not matter */
    /* No NUL anywhere: a refusal must write its reason (terminated, not empty) itself. */
    memset(err, 'x', sizeof(err));
    if (request_parse_json(copy, size, &r, err, sizeof(err)) == 0) {
        char *again = request_to_json(&r);
        request r2;
        /* What the parser accepted serialises to a message it accepts again, the same one. */
        if (again == NULL || request_parse_json(again, strlen(again), &r2, err, sizeof(err)) != 0) {
            fprintf(stderr, "fuzz_request_json: accepted, serialised, refused: %s\n",
                    again ? err : "(not serialised)");
            abort();
        }
        if (strcmp(r.request_id, r2.request_id) != 0 || strcmp(r.guest, r2.guest) != 0 ||
            r.action != r2.action || r.has_mode != r2.has_mode || (r.has_mode && r.mode != r2.mode))
            abort();
        free(again);
    } else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0' ||
               memchr(r.request_id, '\0', sizeof(r.request_id)) == NULL) {
        abort(); /* errstr (a reason) and the request id ("" or the readable id) are terminated */
    }
    free(copy);
    return 0;
}
