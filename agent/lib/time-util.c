/* SPDX-License-Identifier: Apache-2.0 */
/* Clocks, bounded sleeps and jitter shared by the HTTP retry loops and command timing. */

#include <errno.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "time-util.h"

usec_t clock_monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

void sleep_until_usec(usec_t when) {
        struct timespec ts = {
                .tv_sec = (time_t) (when / USEC_PER_SEC),
                .tv_nsec = (long) (when % USEC_PER_SEC) * 1000,
        };

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, /* remain= */ NULL) == EINTR)
                ;
}

uint64_t jitter_random_u64(void) {
        uint64_t v;

        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t) sizeof(v))
                return v;
        return clock_monotonic_usec() ^ ((uint64_t) getpid() << 32);
}
