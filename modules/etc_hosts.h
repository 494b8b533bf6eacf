/* SPDX-License-Identifier: Apache-2.0 */
/* The content that the etc_hosts module gives /etc/hosts, separate from the module so that unit
 * tests can check it without a root. */
#pragma once

#include <stddef.h>

/* The address that the machine's own names map to, as on Debian. */
#define ETC_HOSTS_LOCAL_ADDRESS "127.0.1.1"

/* Render kiln's built-in /etc/hosts for hostname and fqdn (either may be NULL, not both). Returns 0
 * with *ret (caller owns, NUL-terminated) or -ENOMEM. */
int etc_hosts_render_builtin(const char *hostname, const char *fqdn, char **ret);

/* Render a hosts template. A first line "## template:jinja" selects kiln's Jinja subset with the
 * variables hostname and fqdn; otherwise, or after "## template:basic", $hostname, ${hostname},
 * $fqdn and ${fqdn} are replaced. Returns 0 with *ret (caller owns), -EINVAL for a template that
 * does not render (the reason in reterr_message, caller owns), or -ENOMEM. */
int etc_hosts_render_template(const char *template, size_t size, const char *hostname, const char *fqdn,
                              char **ret, char **reterr_message);

/* Make the ETC_HOSTS_LOCAL_ADDRESS line of a hosts file list fqdn then hostname, keeping every
 * other line. An existing line that already starts with those names is left alone. Otherwise the
 * first such line is replaced in place, or a new one is added after the 127.0.0.1 line, or at the
 * end when there is none. content may be NULL for a missing file, which gets the localhost lines
 * too. Returns 1 with *ret (caller owns) when the content changes, 0 when it is already right,
 * or -ENOMEM. */
int etc_hosts_update_local(const char *content, const char *hostname, const char *fqdn, char **ret);
