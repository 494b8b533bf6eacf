/* SPDX-License-Identifier: Apache-2.0 */
/* sd_notify through libsystemd, or the documented datagram protocol when built without it:
 * one AF_UNIX SOCK_DGRAM message to the path in $NOTIFY_SOCKET, '@' meaning the abstract namespace. */

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "build-config.h"
#include "notify.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define NOTIFY_MESSAGE_MAX 1024

#if !HAVE_LIBSYSTEMD
static int notify_datagram(const char *message) {
        const char *path = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        size_t len;
        socklen_t salen;

        if (!path || !*path)
                return 0;
        len = strlen(path);
        if (len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
                return -EINVAL;
        memcpy(sa.sun_path, path, len);
        if (sa.sun_path[0] == '@')
                sa.sun_path[0] = '\0';
        salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len);

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (sendto(fd, message, strlen(message), MSG_NOSIGNAL, (struct sockaddr *) &sa, salen) < 0)
                return negative_errno();
        return 1;
}
#endif

int notify_send(const char *format, ...) {
        char message[NOTIFY_MESSAGE_MAX];
        va_list ap;

        if (!getenv("NOTIFY_SOCKET"))
                return 0;
        va_start(ap, format);
        (void) vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
#if HAVE_LIBSYSTEMD
        return sd_notify(/* unset_environment= */ 0, message);
#else
        return notify_datagram(message);
#endif
}
