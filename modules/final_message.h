/* SPDX-License-Identifier: Apache-2.0 */
/* The parts of the final_message module that unit tests call: the message's facts and its
 * rendering as cloud-init's templater renders it. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <time.h>

/* The facts a final message can name. Each is offered as $name and $NAME (basic templates) and as
 * {{ name }} and {{ NAME }} (Jinja templates). */
typedef struct FinalMessageFacts {
        const char *uptime;      /* seconds since the kernel booted, "123.45" */
        const char *timestamp;   /* RFC 2822 in UTC, "Fri, 04 Dec 2026 22:30:00 +0000" */
        const char *datasource;  /* "ec2", "nocloud" */
        const char *version;     /* kiln's version */
} FinalMessageFacts;

/* Size of the buffers that final_message_format_timestamp() and final_message_read_uptime() fill. */
#define FINAL_MESSAGE_FACT_MAX 64

/* Format t in UTC as cloud-init's util.time_rfc2822() does, with English day and month names
 * whatever the locale. Returns 0, or -EINVAL when t cannot be converted. */
int final_message_format_timestamp(time_t t, char *buf, size_t size);

/* The seconds since the kernel booted with two decimals, from proc_uptime (normally /proc/uptime,
 * which is the kernel's whatever the target root), or from CLOCK_BOOTTIME when that file cannot
 * be read. Returns 0 or -errno. */
int final_message_read_uptime(const char *proc_uptime, char *buf, size_t size);

/* Render a final message. A first line "## template: jinja" makes the rest a Jinja template and
 * "## template: basic" a basic one, and without such a line the whole text is a basic template,
 * as in cloud-init. In a basic template $name and ${name} are replaced by the fact of that name,
 * and an unknown name stays as written and is added to *ret_unknown (an array of messages, may be
 * NULL). Returns 0 with *ret (caller owns it), -EINVAL with a message in *reterr_message (caller
 * owns it) for a template that cannot be rendered, or -ENOMEM. */
int final_message_render(const char *template, const FinalMessageFacts *facts, char **ret,
                         json_t **ret_unknown, char **reterr_message);
