/* unit_request.h: the requests the suites build (test code). */
#ifndef KVMOVE_UNIT_REQUEST_H
#define KVMOVE_UNIT_REQUEST_H

#include "request.h"
#include "util.h"

/* R = a fresh migrate_guest request (request_init) of GUEST from SRC to TGT in MODE. */
static inline void unit_move_request(request *r, const char *guest, const char *src,
                                     const char *tgt, migrate_mode mode)
{
    request_init(r);
    util_strlcpy(r->guest, guest, sizeof(r->guest));
    util_strlcpy(r->src_host, src, sizeof(r->src_host));
    util_strlcpy(r->tgt_host, tgt, sizeof(r->tgt_host));
    r->mode = mode;
    r->has_mode = 1;
}

#endif
