/* SPDX-License-Identifier: Apache-2.0 */
/* Clocks, bounded sleeps and jitter for retries. No logging. */
#pragma once

#include <stdint.h>

#include "context.h"

/* CLOCK_MONOTONIC in microseconds. */
usec_t clock_monotonic_usec(void);

/* Sleep until a CLOCK_MONOTONIC time in microseconds, resuming after signals. */
void sleep_until_usec(usec_t when);

/* A random number for retry jitter. It needs no strong randomness, so it does not wait for the
 * kernel's pool early at boot. */
uint64_t jitter_random_u64(void);
