/* SPDX-License-Identifier: Apache-2.0 */
/* String helpers shared by the user-data decoder and the configuration checks. */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "string-util.h"

#define EDIT_DISTANCE_LENGTH_MAX 64

size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        size_t prev[EDIT_DISTANCE_LENGTH_MAX], cur[EDIT_DISTANCE_LENGTH_MAX];

        if (la >= EDIT_DISTANCE_LENGTH_MAX - 1 || lb >= EDIT_DISTANCE_LENGTH_MAX - 1)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t cost = tolower((unsigned char) a[i - 1]) == tolower((unsigned char) b[j - 1]) ? 0 : 1;
                        cur[j] = MIN(MIN(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
                }
                memcpy(prev, cur, sizeof(size_t) * (lb + 1));
        }
        return prev[lb];
}

const char *nearest_word(const char *word, const char *const *candidates, size_t max_distance) {
        const char *best = NULL;
        size_t best_distance = max_distance + 1;

        for (const char *const *c = candidates; c && *c; c++) {
                size_t d = edit_distance(word, *c);
                if (d < best_distance) {
                        best_distance = d;
                        best = *c;
                }
        }
        return best;
}

int set_message(char **reterr_message, int error, const char *format, ...) {
        char *message = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);

        free(*reterr_message);
        *reterr_message = message;
        return error;
}
