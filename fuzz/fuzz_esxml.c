/* fuzz_esxml: libFuzzer target for esxml_load_buffer (es.xml loader with XSD validation). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The XSD the worker validates against; FUZZ_ESXML_XSD overrides, "" skips validation. */
static const char *xsd_path(void)
{
    const char *p = getenv("FUZZ_ESXML_XSD");
    return p ? (*p ? p : NULL) : KVMOVE_SOURCE_DIR "/schema/es.xsd";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    esxml *doc = NULL;
    char err[512];
    char *copy = malloc(size ? size : 1);

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size); /* exactly SIZE bytes, not terminated */
    /* No NUL anywhere: a refusal must write its reason (terminated, not empty) itself. */
    memset(err, 'x', sizeof(err));
    if (esxml_load_buffer(copy, size, xsd_path(), &doc, err, sizeof(err)) == 0) {
        char *out = NULL;
        size_t len = 0;
        /* Whatever loads can be written out again and what is written loads again. */
        if (esxml_dump(doc, &out, &len, err, sizeof(err)) == 0) {
            esxml *again = NULL;
            if (esxml_load_buffer(out, len, xsd_path(), &again, err, sizeof(err)) != 0) {
                fprintf(stderr, "fuzz_esxml: a dumped document does not load again: %s\n", err);
                abort();
            }
            esxml_free(again);
            free(out);
        }
        esxml_free(doc);
    } else if (doc != NULL || memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
        abort(); /* refused: no document, and a reason (terminated, not empty) */
    }
    free(copy);
    return 0;
}
