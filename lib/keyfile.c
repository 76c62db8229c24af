/* keyfile: the permission rule for files that hold a secret key, as OpenSSH applies it. */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int keyfile_check_mode(mode_t mode, uid_t uid, const char *path, char *errstr, size_t errstr_size)
{
    /* Owned by the reader: nobody else may have any access (OpenSSH's 077). Owned by someone else
     * (root, giving the service's group read access): at least the world may not. */
    mode_t forbidden = uid == geteuid() ? 077 : 007;

    if (!S_ISREG(mode)) {
        util_errf(errstr, errstr_size, "key file %s is not a regular file", path);
        return -1;
    }
    if ((mode & forbidden) != 0) {
        util_errf(errstr, errstr_size,
                  "permissions %04o for key file %s are too open: a private key must not be "
                  "accessible by %s (chmod %s %s)",
                  (unsigned)(mode & 07777), path, forbidden == 077 ? "others" : "every user",
                  forbidden == 077 ? "600" : "640", path);
        return -1;
    }
    return 0;
}

int keyfile_check_fd(int fd, const char *path, char *errstr, size_t errstr_size)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        util_errf(errstr, errstr_size, "cannot stat key file %s: %s", path, strerror(errno));
        return -1;
    }
    return keyfile_check_mode(st.st_mode, st.st_uid, path, errstr, errstr_size);
}

int keyfile_open(const char *path, char *errstr, size_t errstr_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        util_errf(errstr, errstr_size, "cannot read key file %s: %s", path, strerror(errno));
        return -1;
    }
    if (keyfile_check_fd(fd, path, errstr, errstr_size) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}
