/* SPDX-License-Identifier: Apache-2.0 */
/* The module interface: one const descriptor per file in modules/. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "context.h"
#include "lib/macro.h"
#include "schema.h"

typedef enum Frequency {
        FREQUENCY_PER_INSTANCE,  /* once for each new instance id */
        FREQUENCY_PER_BOOT,      /* at every boot */
        FREQUENCY_ONCE,          /* once for the life of the image's state directory */
        _FREQUENCY_MAX,
        _FREQUENCY_INVALID = -EINVAL,
} Frequency;

const char *frequency_to_string(Frequency f);
Frequency frequency_from_string(const char *s);

typedef struct AgentModule {
        const char *name;
        /* Top-level cloud-config keys this module owns, NULL-terminated, or NULL for none. When none
         * of them is set the runner skips the module, unless always_run is set. */
        const char *const *config_keys;
        /* The keys of config_keys with the shapes of their values, ended by an entry with a NULL
         * name, or NULL when config_keys is NULL. */
        const KeyField *config_fields;
        bool always_run;         /* runs without its keys too: it finds work elsewhere (metadata, parts) */
        Frequency frequency;
        bool bakeable;           /* its work does not depend on the instance */
        /* config is the whole effective cloud-config (borrowed). Errors and warnings go through
         * report_error()/report_warning(), which know the module's name. Returns <0 on failure
         * (after reporting it), 0 when nothing changed, >0 when the system was changed. */
        int (*run)(Context *ctx, const json_t *config);
} AgentModule;

extern const AgentModule module_boothooks;
extern const AgentModule module_bootcmd;
extern const AgentModule module_write_files;
extern const AgentModule module_hostname;
extern const AgentModule module_runcmd;
extern const AgentModule module_users_groups;
extern const AgentModule module_ssh;
extern const AgentModule module_scripts_per_once;
extern const AgentModule module_scripts_per_boot;
extern const AgentModule module_scripts_per_instance;
extern const AgentModule module_scripts_user;
extern const AgentModule module_write_files_deferred;
extern const AgentModule module_etc_hosts;
extern const AgentModule module_ca_certs;
extern const AgentModule module_locale;
extern const AgentModule module_ntp;
extern const AgentModule module_timezone;
extern const AgentModule module_phone_home;
extern const AgentModule module_final_message;
extern const AgentModule module_power_state;
extern const AgentModule module_packages;
extern const AgentModule module_apt_configure;
extern const AgentModule module_yum_repos;
extern const AgentModule module_domains;
extern const AgentModule module_tls;
extern const AgentModule module_webserver;

/* Every built-in module in default order, NULL-terminated. */
extern const AgentModule *const module_table[];

const AgentModule *module_by_name(const char *name);
