/* fuzz_request_json: libFuzzer target for request_parse_json (the worker's intake parser). */
#include <stdint.h>
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
    if (request_parse_json(copy, size, &r, err, sizeof(err)) == 0) {
        char *again = request_to_json(&r);
        request r2;
        /* What the parser accepted serialises to a message it accepts again. */
        if (again == NULL || request_parse_json(again, strlen(again), &r2, err, sizeof(err)) != 0)
            abort();
        free(again);
    } else if (memchr(err, '\0', sizeof(err)) == NULL ||
               memchr(r.request_id, '\0', sizeof(r.request_id)) == NULL) {
        abort(); /* errstr and the request id ("" or the readable id) are always terminated */
    }
    free(copy);
    return 0;
}
