/* SPDX-License-Identifier: Apache-2.0 */
/* The hostname choice that the hostname and etc_hosts modules share. */
#pragma once

#include <jansson.h>

#include "context.h"

/* The names chosen for this boot: the short hostname and the fully qualified name (either may be
 * NULL, not both), and the one that prefer_fqdn_over_hostname selects for /etc/hostname. */
typedef struct HostnameChoice {
        char *hostname;
        char *fqdn;
        const char *selected;    /* points to hostname or fqdn */
} HostnameChoice;

void hostname_choice_done(HostnameChoice *c);

/* Choose the names from the keys hostname, fqdn and prefer_fqdn_over_hostname of config and from
 * the instance's metadata, as cloud-init's util.get_hostname_fqdn() does. An fqdn in the config
 * wins, a hostname containing a dot counts as an fqdn, and the metadata fills in what the config
 * lacks. preserve_hostname is not read. Invalid values are reported against ctx->current.
 * Returns 1 with *ret filled (caller owns it), 0 when no name is known, <0 after reporting. */
int hostname_choose_from_config(Context *ctx, const json_t *config, HostnameChoice *ret);

/* Whether ROOT/etc/hostname contains a name other than the one that the hostname module wrote
 * last on this instance, because an administrator renamed the machine. The hostname module then
 * keeps that name, and etc_hosts leaves /etc/hosts alone. On a new instance id kiln's names apply
 * again. Returns 1 with both names (caller owns; either pointer may be NULL), 0, or -errno. */
int hostname_kept_by_administrator(Context *ctx, char **ret_current, char **ret_previous);
