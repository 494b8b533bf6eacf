/* SPDX-License-Identifier: Apache-2.0 */
/* The ntp module: writes the configuration of the image's NTP client (chrony, ntpd, ntpdate,
 * openntpd or systemd-timesyncd) with the servers, pools, peers and allowed networks of the
 * cloud-config's ntp key, as cloud-init's ntp module does. kiln installs no packages: a client
 * that the image lacks is an error, and no configuration is written for it. */

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "command.h"
#include "instance-data.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "userdata/jinja.h"
#include "ntp-internal.h"

/* Present when systemd is the running init system, as sd_booted() checks. */
#define SYSTEMD_RUNTIME_DIR "/run/systemd/system"

/* The client that this run configures. */
typedef struct NtpChoice {
        const char *name;        /* borrowed: from the table or the config */
        NtpClientInfo info;      /* with config's values applied */
        const json_t *packages;  /* config.packages, borrowed, or NULL */
        const char *template;    /* config.template, borrowed, or NULL */
        const char *pool_zone;   /* of the default pools, "" for the global zone */
} NtpChoice;

/* The item index in a diagnostic's path ("servers.2" is 2), or -1. */
static int ntp_path_item(const char *path) {
        const char *last = strrchr(path, '.');
        unsigned item;

        if (last && safe_atou(last + 1, &item) >= 0 && item <= INT_MAX)
                return (int) item;
        return -1;
}

/* A system_info setting from the user's config or else the image's (borrowed), or NULL. */
static const char *ntp_system_info(const Context *ctx, const char *key) {
        const json_t *sources[] = { ctx->config, ctx->system_config };

        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                const char *s = json_string_value(json_get_path(sources[i], "system_info", key, NULL));

                if (s && s[0])
                        return s;
        }
        return NULL;
}

/* The distribution's name as cloud-init's distro classes call it: system_info.distro, or the ID of
 * the root's /etc/os-release. Caller owns it; "" when unknown. */
static char *ntp_distro_name(const Context *ctx) {
        json_auto_t *data = NULL;
        const char *name = ntp_system_info(ctx, "distro");

        if (!name) {
                data = instance_data_build(ctx);
                name = json_string_value(json_get_path(data, "v1", "distro", NULL)) ?: "";
        }
        /* The instance data names "redhat", as cloud-init's; its distro class is "rhel". */
        return strdup(streq(name, "redhat") ? "rhel" : name);
}

/* Choose the client as cloud-init's select_ntp_client() does: ntp_client, else
 * system_info.ntp_client, else 'auto', and apply config's values to it. Returns 0, or -ENOMEM after
 * reporting. */
static int ntp_choose(Context *ctx, const json_t *ntp, NtpChoice *ret) {
        _cleanup_free_ char *distro = ntp_distro_name(ctx);
        const json_t *config = json_object_get(ntp, "config");
        const char *name = json_string_value(json_object_get(ntp, "ntp_client"));
        NtpFamily family = NTP_FAMILY_OTHER;
        NtpChoice c = {};
        NtpClient client;
        int d;

        if (!distro)
                return report_error(ctx, -1, -ENOMEM, "Failed to choose the NTP client: %m");
        d = ntp_distro_find(distro);
        if (d >= 0)
                family = ntp_distro_table[d].family;

        if (!name || !name[0] || streq(name, "auto"))
                name = ntp_system_info(ctx, "ntp_client");
        client = name && !streq(name, "auto") ? ntp_client_from_string(name) : _NTP_CLIENT_INVALID;

        if (!name || streq(name, "auto")) {
                const NtpClient *preferred = ntp_preferred_clients(family);

                client = preferred[0];
                for (const NtpClient *p = preferred; *p >= 0; p++) {
                        NtpClientInfo info = ntp_client_info(ctx->root_fd, *p, family);

                        if (exec_find_in_root(ctx->root_fd, info.check_exe, /* ret_path= */ NULL) > 0) {
                                client = *p;
                                break;
                        }
                }
                log_debug("Chose the NTP client '%s' for the distribution '%s'.", ntp_client_table[client],
                          distro[0] ? distro : "unknown");
        }

        if (client >= 0) {
                c.name = ntp_client_table[client];
                c.info = ntp_client_info(ctx->root_fd, client, family);
        } else
                c.name = name;
        c.info.check_exe = json_string_value(json_object_get(config, "check_exe")) ?: c.info.check_exe;
        c.info.confpath = json_string_value(json_object_get(config, "confpath")) ?: c.info.confpath;
        c.info.service_name = json_string_value(json_object_get(config, "service_name")) ?: c.info.service_name;
        c.packages = json_object_get(config, "packages");
        c.template = json_string_value(json_object_get(config, "template"));
        c.pool_zone = d >= 0 ? ntp_distro_table[d].pool_zone : "";
        *ret = c;
        return 0;
}

/* The client must be in the image, because kiln installs no packages. Returns 0, or -ENOENT after
 * reporting which package to install. */
static int ntp_check_installed(Context *ctx, const NtpChoice *c) {
        _cleanup_free_ char *packages = NULL;
        int r;

        r = exec_find_in_root(ctx->root_fd, c->info.check_exe, /* ret_path= */ NULL);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to look for '%s': %m", c->info.check_exe);
        if (r > 0)
                return 0;

        if (c->packages)
                packages = json_to_message(c->packages, NTP_SHOWN_VALUE_MAX);
        else if (c->info.package && asprintf(&packages, "'%s'", c->info.package) < 0)
                packages = NULL;
        return report_error(ctx, -1, -ENOENT,
                            "The NTP client '%s' is not installed in the image ('%s' not found), and kiln does not "
                            "install packages. Install %s%s in the image, or choose another client with "
                            "ntp.ntp_client. No NTP configuration was written.", c->name, c->info.check_exe,
                            packages ? "the package " : "the client's package", packages ?: "");
}

/* The entries of each list, without repeats, the default pools added when there are neither
 * servers nor pools. lists[] receives new references. */
static int ntp_lists_build(const json_t *ntp, const NtpChoice *c, json_t *lists[_NTP_LIST_MAX]) {
        bool busybox = !c->template && c->info.format == NTP_FORMAT_NTP_BUSYBOX;
        json_t *defaults;

        for (size_t k = 0; k < _NTP_LIST_MAX; k++) {
                const json_t *given = json_object_get(ntp, ntp_list_table[k]);
                const json_t *entry;
                size_t i;

                lists[k] = json_array();
                if (!lists[k])
                        return -ENOMEM;
                json_array_foreach(given, i, entry) {
                        bool seen = false;

                        for (size_t j = 0; j < json_array_size(lists[k]) && !seen; j++)
                                seen = json_equal(json_array_get(lists[k], j), entry);
                        if (!seen && json_array_append(lists[k], (json_t *) entry) < 0)
                                return -ENOMEM;
                }
        }

        /* BusyBox's ntpd has no pools, so it gets the default names as servers unless servers are
         * given; other clients get them as pools when neither is given. */
        if (busybox ? json_array_size(lists[NTP_LIST_SERVERS]) > 0 :
                      json_array_size(lists[NTP_LIST_SERVERS]) + json_array_size(lists[NTP_LIST_POOLS]) > 0)
                return 0;
        defaults = lists[busybox ? NTP_LIST_SERVERS : NTP_LIST_POOLS];
        for (unsigned i = 0; i < NTP_DEFAULT_POOLS; i++) {
                char name[64];

                (void) snprintf(name, sizeof(name), "%u.%s%spool.ntp.org", i, c->pool_zone,
                                c->pool_zone[0] ? "." : "");
                if (json_array_append_new(defaults, json_string(name)) < 0)
                        return -ENOMEM;
        }
        log_debug("No servers or pools are given, using %u.%s%spool.ntp.org to %u.", 0U, c->pool_zone,
                  c->pool_zone[0] ? "." : "", NTP_DEFAULT_POOLS - 1);
        return 0;
}

/* Warn about entries of a kind the client's configuration has no place for. */
static void ntp_warn_unused(Context *ctx, const NtpChoice *c, json_t *const lists[_NTP_LIST_MAX]) {
        const NtpLayout *l = &ntp_layout_table[c->info.format];
        bool timesyncd = c->info.format == NTP_FORMAT_TIMESYNCD;
        const char *keyword[_NTP_LIST_MAX] = {
                [NTP_LIST_POOLS] = timesyncd ? "NTP=" : l->pool,
                [NTP_LIST_SERVERS] = timesyncd ? "NTP=" : l->server,
                [NTP_LIST_PEERS] = l->peer,
                [NTP_LIST_ALLOW] = l->allow,
        };

        if (c->template)
                return;
        for (size_t k = 0; k < _NTP_LIST_MAX; k++)
                if (!keyword[k] && json_array_size(lists[k]) > 0)
                        report_warning(ctx, -1, "ntp.%s: the configuration of the NTP client '%s' has no "
                                       "setting for them, ignoring %zu entries.", ntp_list_table[k], c->name,
                                       json_array_size(lists[k]));
}

static int ntp_render(Context *ctx, const NtpChoice *c, json_t *const lists[_NTP_LIST_MAX], char **ret) {
        json_auto_t *vars = NULL;
        char reason[512] = "";
        int r;

        if (!c->template) {
                r = ntp_render_layout(c->info.format, lists, ret);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to render the configuration of '%s': %m", c->name);
                return 0;
        }

        vars = json_pack("{s:O, s:O, s:O, s:O}", "servers", lists[NTP_LIST_SERVERS], "pools",
                         lists[NTP_LIST_POOLS], "peers", lists[NTP_LIST_PEERS], "allow", lists[NTP_LIST_ALLOW]);
        if (!vars)
                return report_error(ctx, -1, -ENOMEM, "Failed to render ntp.config.template: %m");
        r = ntp_template_render(c->template, vars, ret, reason, sizeof(reason));
        if (r == -ENOMEM)
                return report_error(ctx, -1, r, "Failed to render ntp.config.template: %m");
        if (r < 0)
                return report_error(ctx, -1, 0, "ntp.config.template %s.", reason);
        /* An undefined variable (r > 0) was reported when the ntp key was checked. */
        return 0;
}

/* Write the client's configuration file. The file it replaces is kept once as PATH.dist, as
 * cloud-init keeps it, and a later run leaves that copy alone. Returns 1 when written, 0 when the
 * file already has this content, <0 after reporting. */
static int ntp_config_write(Context *ctx, const char *path, const char *text) {
        _cleanup_free_ char *old = NULL, *dist = NULL;
        size_t size = 0;
        int r;

        r = read_file_at(ctx->root_fd, path, NTP_CONFIG_FILE_MAX, &old, &size);
        if (r < 0 && r != -ENOENT)
                return report_error(ctx, -1, r, "Failed to read '%s': %m", path);
        if (r >= 0 && size == strlen(text) && memcmp(old, text, size) == 0) {
                log_debug("'%s' already has this configuration.", path);
                return 0;
        }

        if (r >= 0) {
                if (asprintf(&dist, "%s.dist", path) < 0)
                        return report_error(ctx, -1, -ENOMEM, "Failed to keep a copy of '%s': %m", path);
                r = root_exists(ctx->root_fd, dist);
                if (r == 0)
                        r = write_file_atomic(ctx->root_fd, dist, old, size, 0644, (uid_t) -1, (gid_t) -1,
                                              WRITE_SYNC_DEFERRED);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to keep a copy of '%s' as '%s': %m", path, dist);
        }

        r = write_file_atomic(ctx->root_fd, path, text, strlen(text), 0644, (uid_t) -1, (gid_t) -1,
                              WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write '%s': %m", path);
        return 1;
}

/* Ask systemd to restart the client so that it reads the new file. Only for the running system:
 * the client of an image or a scratch root reads the file when that system starts it. The job is
 * queued without waiting (--no-block), because the client's unit may be ordered after kiln's, and
 * reload-or-restart also starts a stopped client, as cloud-init does. */
static int ntp_service_restart(Context *ctx, const NtpChoice *c) {
        _cleanup_free_ char *unit = NULL;
        _cleanup_close_ int output_fd = -EBADF;

        if (!ctx->root_is_host) {
                log_info("The root is not the running system, so the service '%s' is left to start with it.",
                         c->info.service_name);
                return 0;
        }
        if (root_exists(ctx->root_fd, SYSTEMD_RUNTIME_DIR) <= 0) {
                log_info("systemd is not the init system, so the service '%s' is not restarted.",
                         c->info.service_name);
                return 0;
        }

        if (strchr(c->info.service_name, '.'))
                unit = strdup(c->info.service_name);
        else if (asprintf(&unit, "%s.service", c->info.service_name) < 0)
                unit = NULL;
        if (!unit)
                return report_error(ctx, -1, -ENOMEM, "Failed to restart '%s': %m", c->info.service_name);

        output_fd = command_output_open(ctx, "ntp");
        return command_run(ctx, "systemctl reload-or-restart", -1,
                           (char *[]) { "systemctl", "--no-block", "reload-or-restart", unit, NULL }, output_fd);
}

static const KeyField ntp_fields[];

static int ntp_run(Context *ctx, const json_t *config) {
        const json_t *ntp = json_object_get(config, "ntp");
        _cleanup_free_ char *text = NULL;
        json_t *lists[_NTP_LIST_MAX] = {};
        const json_t *enabled;
        NtpChoice choice = {};
        int r;

        r = schema_check_shape(&ntp_fields[0].shape, ntp, /* positions= */ NULL, 0, report_shape_diagnostic,
                               &(ReportShapeTarget) { .ctx = ctx, .key = "ntp", .item_of = ntp_path_item });
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to check the ntp key: %m");
        if (r > 0)
                return -EINVAL;

        /* A string such as "no" was accepted with a warning by the check. */
        enabled = json_object_get(ntp, "enabled");
        if (json_is_false(enabled) || (json_is_string(enabled) && parse_boolean(json_string_value(enabled)) == 0)) {
                log_info("ntp.enabled is false, leaving the NTP configuration unchanged.");
                return 0;
        }

        r = ntp_choose(ctx, ntp, &choice);
        if (r < 0)
                return r;
        r = ntp_check_installed(ctx, &choice);
        if (r < 0)
                return r;

        r = ntp_lists_build(ntp, &choice, lists);
        if (r >= 0) {
                ntp_warn_unused(ctx, &choice, lists);
                r = ntp_render(ctx, &choice, lists, &text);
        } else
                r = report_error(ctx, -1, r, "Failed to collect the NTP servers: %m");
        for (size_t k = 0; k < _NTP_LIST_MAX; k++)
                json_decref(lists[k]);
        if (r < 0)
                return r;

        r = ntp_config_write(ctx, choice.info.confpath, text);
        if (r <= 0)
                return r;
        log_info("Wrote '%s' for the NTP client '%s'.", choice.info.confpath, choice.name);

        r = ntp_service_restart(ctx, &choice);
        if (r < 0)
                return r;
        return 1;
}

static const char *const ntp_config_keys[] = { "ntp", NULL };

static const KeyShape ntp_host_shape = { .types = SHAPE_STRING, .check = ntp_host_check };
static const KeyShape ntp_allow_shape = { .types = SHAPE_STRING, .check = ntp_allow_check };
static const KeyShape ntp_package_shape = { .types = SHAPE_STRING };

static const KeyField ntp_client_config_fields[] = {
        { .name = "confpath", .shape = { .types = SHAPE_STRING, .check = ntp_path_check },
          .description = KEY_DESCRIPTION("The path of the configuration file to write.") },
        { .name = "check_exe", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("The client's executable, a name looked up in the image's PATH "
                                         "or an absolute path. The configuration is written only when "
                                         "the image has it.") },
        { .name = "packages", .shape = { .types = SHAPE_LIST, .items = &ntp_package_shape, .check = ntp_list_check },
          .description = KEY_DESCRIPTION("The packages that provide the client, named in the error when "
                                         "it is missing: kiln does not install packages.") },
        { .name = "service_name", .shape = { .types = SHAPE_STRING, .check = ntp_service_check },
          .description = KEY_DESCRIPTION("The client's systemd unit, restarted when kiln configures the "
                                         "running system.") },
        { .name = "template", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("The configuration file as a template whose first line is '## "
                                         "template: jinja'. It can use servers, pools, peers and allow.") },
        {}
};

static const KeyField ntp_mapping_fields[] = {
        { .name = "enabled", .shape = { .types = SHAPE_BOOLEAN, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Configure the NTP client. Default: true.") },
        { .name = "ntp_client", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("The client to configure: auto, chrony, ntp, ntpdate, openntpd "
                                         "or systemd-timesyncd. auto takes the distribution's first "
                                         "preferred client that the image has. Default: auto.") },
        { .name = "servers", .shape = { .types = SHAPE_LIST, .items = &ntp_host_shape, .check = ntp_list_check },
          .description = KEY_DESCRIPTION("NTP servers, host names or addresses. Without servers and "
                                         "pools, the four pools {0-3}.<distribution>.pool.ntp.org are "
                                         "used.") },
        { .name = "pools", .shape = { .types = SHAPE_LIST, .items = &ntp_host_shape, .check = ntp_list_check },
          .description = KEY_DESCRIPTION("NTP pools, host names that resolve to many servers.") },
        { .name = "peers", .shape = { .types = SHAPE_LIST, .items = &ntp_host_shape, .check = ntp_list_check },
          .description = KEY_DESCRIPTION("NTP peers, host names or addresses.") },
        { .name = "allow", .shape = { .types = SHAPE_LIST, .items = &ntp_allow_shape, .check = ntp_list_check },
          .description = KEY_DESCRIPTION("Networks (address/bits) or addresses that may query this "
                                         "host's chrony, or 'all'.") },
        { .name = "config", .shape = { .types = SHAPE_MAPPING, .fields = ntp_client_config_fields },
          .description = KEY_DESCRIPTION("Values that replace the chosen client's defaults.") },
        {}
};

static const KeyField ntp_fields[] = {
        { .name = "ntp",
          .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = ntp_mapping_fields, .check = ntp_mapping_check },
          .description = KEY_DESCRIPTION("Configure the image's NTP client: chrony, ntpd, ntpdate, "
                                         "openntpd or systemd-timesyncd.") },
        {}
};

const AgentModule module_ntp = {
        .name = "ntp",
        .config_keys = ntp_config_keys,
        .config_fields = ntp_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = true,
        .run = ntp_run,
};
