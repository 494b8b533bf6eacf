/* SPDX-License-Identifier: Apache-2.0 */
/* Exact parsers for booleans, unsigned integers and durations: each accepts the whole string or
 * nothing, so "yesterday" is not "yes" and "1 " is not 1. */

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

#include "lib/macro.h"
#include "lib/parse-util.h"

int parse_boolean(const char *s) {
        static const char *const true_words[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const false_words[] = { "0", "no", "n", "false", "f", "off" };

        assert(s);

        for (size_t i = 0; i < ELEMENTSOF(true_words); i++)
                if (strcasecmp(s, true_words[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(false_words); i++)
                if (strcasecmp(s, false_words[i]) == 0)
                        return 0;
        return -EINVAL;
}

int safe_atou64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end = NULL;

        assert(s);
        assert(ret);

        /* strtoull() skips leading blanks and accepts a sign, and wraps "-1" to the maximum, so
         * the first character must already be a digit. */
        if (!isdigit((unsigned char) s[0]))
                return -EINVAL;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s || *end != '\0')
                return -EINVAL;

        *ret = (uint64_t) v;
        return 0;
}

int safe_atou(const char *s, unsigned *ret) {
        uint64_t v;
        int r;

        assert(ret);

        r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;

        *ret = (unsigned) v;
        return 0;
}

int json_seconds_to_usec(const json_t *v, uint64_t *ret) {
        assert(ret);

        if (json_is_integer(v)) {
                json_int_t seconds = json_integer_value(v);

                if (seconds < 0)
                        return -EINVAL;
                if ((uint64_t) seconds > UINT64_MAX / USEC_PER_SEC)
                        return -ERANGE;

                *ret = (uint64_t) seconds * USEC_PER_SEC;
                return 0;
        }

        if (json_is_real(v)) {
                double usec = json_real_value(v) * (double) USEC_PER_SEC;

                if (!isfinite(usec) || usec < 0)
                        return -EINVAL;
                /* 2^64 as a double; anything at or above it does not fit in a uint64_t. */
                if (usec >= 18446744073709551616.0)
                        return -ERANGE;

                /* Round to the nearest microsecond without libm. */
                *ret = (uint64_t) (usec + 0.5);
                return 0;
        }

        return -EINVAL;
}

int json_parse_boolean(const json_t *v, bool *ret) {
        int b;

        assert(ret);

        if (json_is_boolean(v)) {
                *ret = json_is_true(v);
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        b = parse_boolean(json_string_value(v));
        if (b < 0)
                return b;
        *ret = b;
        return 1;
}
