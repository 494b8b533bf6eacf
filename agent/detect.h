/* SPDX-License-Identifier: Apache-2.0 */
/* Finding the datasource without the network, and the switches that turn kiln off. */
#pragma once

#include "context.h"
#include "datasource/datasource.h"

/* Largest kernel command line kiln reads. */
#define KERNEL_CMDLINE_MAX 65536U

/* The value of KEY=VALUE on ROOT/proc/cmdline (the last one wins), NULL when absent.
 * A bare KEY yields "". Returns 0 or -errno; caller owns *ret. */
int kernel_cmdline_get(const Context *ctx, const char *key, char **ret);

/* True when the value of ds= on the kernel command line selects NoCloud: "nocloud" or
 * "nocloud-net", alone or followed by ";key=value" settings. */
bool ds_value_is_nocloud(const char *value);

/* Returns 1 and a reason when kiln is switched off (ROOT/etc/kiln/kiln.disabled or kiln=disabled
 * on the kernel command line), 0 when it is enabled. */
int kiln_disabled(const Context *ctx, const char **ret_reason);

/* Pick the datasource: kiln.ds=NAME or ds=nocloud on the kernel command line, else datasource_list
 * from the configuration (a single entry is used without probing), else probe every datasource in
 * default order. Returns 1 with *ret set, 0 when none was found, -errno. Reports its own errors. */
int detect_datasource(Context *ctx, const Datasource **ret);

/* True for a datasource that needs no network (NoCloud). */
bool datasource_is_local(const Datasource *ds);

/* As detect_datasource(), for the local stage: only datasources that need no network count, and a
 * network datasource chosen by kiln.ds= or datasource_list yields 0 (left to the network stage)
 * without a report. */
int detect_local_datasource(Context *ctx, const Datasource **ret);
