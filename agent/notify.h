/* SPDX-License-Identifier: Apache-2.0 */
/* Readiness and progress for systemd (Type=notify). */
#pragma once

#include "lib/macro.h"

/* Send one notification ("STATUS=...", "READY=1") to $NOTIFY_SOCKET. A no-op returning 0 when
 * kiln was not started by systemd. Returns >0 when sent, 0 when there is no socket, -errno. */
int notify_send(const char *format, ...) _printf_(1, 2);
