/* keyfile: the permission rule for files that hold a secret key (the operator's signing key, the
 * worker's SSH identity), as OpenSSH applies it to private keys. */
#ifndef KVMOVE_KEYFILE_H
#define KVMOVE_KEYFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Checks that the open file FD (named PATH in the message) may hold a private key: a regular
 * file that no other user can read or write through its "other" bits and, when it belongs to the
 * calling user, not through its group bits either (a key owned by root and readable by the
 * service's group, root:kvmove 0640, is the one shared layout allowed). Returns 0, or -1 with
 * errstr naming the file, its mode and the chmod that fixes it. The file is checked through FD so
 * that what is checked is what is read. */
int keyfile_check_fd(int fd, const char *path, char *errstr, size_t errstr_size);

/* As keyfile_check_fd for the mode MODE and owner UID of a file (for callers that stat
 * themselves, and for tests). */
int keyfile_check_mode(mode_t mode, uid_t uid, const char *path, char *errstr, size_t errstr_size);

/* Opens PATH read-only after keyfile_check_fd. Returns the descriptor (caller closes), or -1 with
 * errstr (cannot open, or too open). */
int keyfile_open(const char *path, char *errstr, size_t errstr_size);

#endif
