/* SPDX-License-Identifier: Apache-2.0 */
/* The packages module: cloud-init's package_update, package_upgrade, packages and
 * package_reboot_if_required keys, run with the image's package manager (packages.h). It queries
 * the package database first, so packages that are already installed at the requested version
 * cost no package manager call, waits a bounded time for the package manager's locks, and records
 * the result of each package in the module's status.json record. */

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/parse-util.h"
#include "lib/time-util.h"
#include "log.h"
#include "module.h"
#include "packages.h"
#include "power_state.h"
#include "report.h"

/* How long the module waits for the package manager's locks unless system_info.package_lock_timeout
 * sets it, in seconds. apt-daily and unattended-upgrades can hold them for minutes early at boot. */
#define PACKAGES_LOCK_TIMEOUT_DEFAULT_SEC 120U
/* Maximum system_info.package_lock_timeout: one day. */
#define PACKAGES_LOCK_TIMEOUT_MAX_SEC (24U * 60U * 60U)
/* Interval between two checks of a held lock. */
#define PACKAGES_LOCK_RECHECK_USEC (200U * USEC_PER_MSEC)
/* Time limit of one update, upgrade or install command unless system_info.package_command_timeout
 * sets it, in seconds. A dist-upgrade of a stale image from a slow mirror can take tens of
 * minutes, but a hung mirror must not hold the boot for longer than half an hour. */
#define PACKAGES_COMMAND_TIMEOUT_DEFAULT_SEC (30U * 60U)
/* Maximum system_info.package_command_timeout: one day. */
#define PACKAGES_COMMAND_TIMEOUT_MAX_SEC (24U * 60U * 60U)
/* Time limit of the query of the package database, and the most output kept from it. */
#define PACKAGES_QUERY_TIMEOUT_USEC (60U * USEC_PER_SEC)
#define PACKAGES_QUERY_OUTPUT_MAX (4U * 1024U * 1024U)
/* Exit codes 0 to 31 that a backend's query_exit_ok mask can accept. */
#define PACKAGES_QUERY_EXIT_BITS 32
/* Items that packages may hold, counting those inside package manager mappings. */
#define PACKAGES_LIST_MAX 1000U
/* Maximum length of a package name and of a version. */
#define PACKAGE_NAME_MAX 255U
#define PACKAGE_VERSION_MAX 255U
/* Bytes of the package manager's message kept for one failed package. */
#define PACKAGES_REASON_MAX 512U
/* The message of the shutdown that package_reboot_if_required requests. */
#define PACKAGES_REBOOT_MESSAGE "Rebooting because installed packages require it"
/* How long power_state_apply() waits for the condition of that request, as power_state's default. */
#define PACKAGES_REBOOT_TIMEOUT_SEC 30.0

typedef enum PackageResult {
        PACKAGE_RESULT_PENDING,
        PACKAGE_RESULT_PRESENT,    /* installed before the run, at the requested version */
        PACKAGE_RESULT_INSTALLED,  /* installed by this run */
        PACKAGE_RESULT_FAILED,
        _PACKAGE_RESULT_MAX,
} PackageResult;

static const char *const package_result_table[_PACKAGE_RESULT_MAX] = {
        [PACKAGE_RESULT_PENDING] = "pending",
        [PACKAGE_RESULT_PRESENT] = "present",
        [PACKAGE_RESULT_INSTALLED] = "installed",
        [PACKAGE_RESULT_FAILED] = "failed",
};

/* One package that the config requests for the image's package manager. */
typedef struct PackageRequest {
        PackageSpec spec;        /* name borrowed from the config, version owned by version */
        char *version;
        int item;                /* index in packages */
        PackageResult result;
        char *message;           /* the package manager's reason for a failure, or NULL */
        char *installed_version; /* the version that the package database reported, or NULL */
} PackageRequest;

typedef struct PackagesPlan {
        const PackageBackend *backend;
        PackageRequest *requests;
        size_t n_requests;
        bool update, upgrade, reboot_if_required;
        bool conflicts;          /* two items request different versions of one package */
        usec_t lock_timeout_usec;
        usec_t command_timeout_usec;
        int output_fd;
} PackagesPlan;

static void packages_plan_done(PackagesPlan *p) {
        for (size_t i = 0; i < p->n_requests; i++) {
                free(p->requests[i].version);
                free(p->requests[i].message);
                free(p->requests[i].installed_version);
        }
        free(p->requests);
        if (p->output_fd >= 0)
                (void) close(p->output_fd);
        *p = (PackagesPlan) { .output_fd = -EBADF };
}

/* Debian, RPM and apk names fit this rule; a ':' adds an architecture ("libc6:i386"). */
bool package_name_valid(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > PACKAGE_NAME_MAX)
                return false;
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", name[0]))
                return false;
        return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-_:") == n;
}

/* Debian, RPM and apk versions fit this rule: an epoch "1:", a revision "-2", a pre-release "~rc1". */
bool package_version_valid(const char *version) {
        size_t n = strlen(version);

        if (n == 0 || n > PACKAGE_VERSION_MAX)
                return false;
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", version[0]))
                return false;
        return strspn(version, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+~:_^-") == n;
}

/* The version of a [name, version] item as text: a string as it is, a number as YAML wrote it
 * (source_text, when known) or else as Python's str() writes it, which is what cloud-init passes
 * to the package manager. Caller owns *ret. Returns 0, -EINVAL or -ENOMEM. */
static int package_version_text(const json_t *v, const char *source_text, char **ret) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *reason = NULL;
        json_auto_t *wrapped = NULL;
        int r;

        if (json_is_string(v) || source_text) {
                *ret = strdup(json_is_string(v) ? json_string_value(v) : source_text);
                return *ret ? 0 : -ENOMEM;
        }
        if (!json_is_number(v))
                return -EINVAL;

        /* A command's argument follows the same rule for numbers. */
        wrapped = json_pack("[O]", v);
        if (!wrapped)
                return -ENOMEM;
        r = command_argv_from_json(wrapped, &argv, &reason);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(argv[0]);
        return 0;
}

/* Check one package specification: a name, or a list of exactly a name and a version. */
static int package_spec_check(const json_t *v, const char *source_text, char *message, size_t size) {
        _cleanup_free_ char *version = NULL;
        const json_t *name;
        int r;

        (void) source_text;
        if (json_is_string(v)) {
                if (package_name_valid(json_string_value(v)))
                        return 0;
                (void) snprintf(message, size, "is not a valid package name: '%.80s'. A name starts with a letter "
                                "or digit and contains only letters, digits and '+.-_:'.", json_string_value(v));
                return -EINVAL;
        }
        if (!json_is_array(v))
                return 0;

        /* cloud-init passes a one-item list on as the name. */
        if (json_array_size(v) == 1 && json_is_string(json_array_get(v, 0)) &&
            package_name_valid(json_string_value(json_array_get(v, 0)))) {
                (void) snprintf(message, size, "is a list of one item, so it is read as the package name '%s'. "
                                "Write the name alone, or add its version.", json_string_value(json_array_get(v, 0)));
                return SHAPE_CHECK_WARNING;
        }
        if (json_array_size(v) != 2) {
                (void) snprintf(message, size, "must be a list of exactly two items, the package name and its "
                                "version, not %zu items.", json_array_size(v));
                return -EINVAL;
        }
        name = json_array_get(v, 0);
        if (!json_is_string(name) || !package_name_valid(json_string_value(name))) {
                (void) snprintf(message, size, "must start with a valid package name as a string. A name starts "
                                "with a letter or digit and contains only letters, digits and '+.-_:'.");
                return -EINVAL;
        }
        r = package_version_text(json_array_get(v, 1), /* source_text= */ NULL, &version);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !package_version_valid(version)) {
                _cleanup_free_ char *shown = version ? NULL : json_to_message(json_array_get(v, 1), 80);

                (void) snprintf(message, size, "has an invalid version '%.80s' for '%s'. A version starts with a "
                                "letter or digit and contains only letters, digits and '.+~:_^-'.",
                                version ?: shown ?: "?", json_string_value(name));
                return -EINVAL;
        }
        return 0;
}

static int packages_list_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        /* cloud-init reads a single string as a list of one package. */
        if (json_is_string(v)) {
                if (!package_name_valid(json_string_value(v))) {
                        (void) snprintf(message, size, "is not a valid package name: '%.80s'. A name starts with a "
                                        "letter or digit and contains only letters, digits and '+.-_:'.",
                                        json_string_value(v));
                        return -EINVAL;
                }
                (void) snprintf(message, size, "is the string '%s', not a list, so it is read as the list "
                                "['%s']. Write it as a list.", json_string_value(v), json_string_value(v));
                return SHAPE_CHECK_WARNING;
        }
        if (json_is_array(v) && json_array_size(v) > PACKAGES_LIST_MAX) {
                (void) snprintf(message, size, "has %zu items, more than the %u that kiln accepts.",
                                json_array_size(v), PACKAGES_LIST_MAX);
                return -EINVAL;
        }
        return 0;
}

static const KeyShape package_spec_part = { .types = SHAPE_STRING | SHAPE_NUMBER };
static const KeyShape package_spec_shape = {
        .types = SHAPE_STRING | SHAPE_LIST,
        .items = &package_spec_part,
        .check = package_spec_check,
};

static const KeyField package_manager_fields[] = {
        { .name = "apt", .shape = { .types = SHAPE_LIST, .items = &package_spec_shape, .check = packages_list_check },
          .description = KEY_DESCRIPTION("Packages that only apt installs; skipped with a warning on "
                                         "other images.") },
        { .name = "snap", .shape = { .types = SHAPE_LIST, .items = &package_spec_shape, .check = packages_list_check },
          .description = KEY_DESCRIPTION("Snap packages: kiln does not install snaps, so they are "
                                         "skipped with a warning.") },
        {}
};

static const KeyShape package_item_shape = {
        .types = SHAPE_STRING | SHAPE_LIST | SHAPE_MAPPING,
        .items = &package_spec_part,
        .fields = package_manager_fields,
        .check = package_spec_check,
};

/* cloud-init reads 1 and 0 as true and false, as it reads the strings "1" and "0". Other integers
 * are rejected, because cloud-init's reading of them as false is unlikely to be the intent. */
static int packages_boolean_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        if (!json_is_integer(v))
                return 0;
        if (json_integer_value(v) != 0 && json_integer_value(v) != 1) {
                (void) snprintf(message, size, "must be true or false, not %lld.", (long long) json_integer_value(v));
                return -EINVAL;
        }
        (void) snprintf(message, size, "is the number %lld, not a boolean, so it is read as %s. Write %s.",
                        (long long) json_integer_value(v), json_integer_value(v) ? "true" : "false",
                        json_integer_value(v) ? "true" : "false");
        return SHAPE_CHECK_WARNING;
}

#define PACKAGES_BOOLEAN_SHAPE { .types = SHAPE_BOOLEAN | SHAPE_INTEGER | SHAPE_NULL, .boolean_strings = true, \
                                 .check = packages_boolean_check }

static const KeyField packages_fields[] = {
        { .name = "packages",
          .shape = { .types = SHAPE_LIST | SHAPE_STRING | SHAPE_NULL, .items = &package_item_shape,
                     .check = packages_list_check },
          .description = KEY_DESCRIPTION("Packages to install: a name, a [name, version] pair, or a "
                                         "mapping from a package manager (apt, snap) to such a list. An "
                                         "invalid item means nothing is installed. A single name "
                                         "instead of a list is read as a list of one, with a warning.") },
        { .name = "package_update", .shape = PACKAGES_BOOLEAN_SHAPE,
          .description = KEY_DESCRIPTION("Update the package lists before upgrading or installing. "
                                         "Default: false; the lists are also updated when a requested "
                                         "package is missing.") },
        { .name = "package_upgrade", .shape = PACKAGES_BOOLEAN_SHAPE,
          .description = KEY_DESCRIPTION("Upgrade every installed package (apt-get dist-upgrade). "
                                         "Default: false.") },
        { .name = "package_reboot_if_required", .shape = PACKAGES_BOOLEAN_SHAPE,
          .description = KEY_DESCRIPTION("Reboot after kiln has reported when an upgrade or install "
                                         "left /var/run/reboot-required. Default: false.") },
        { .name = "apt_update", .shape = PACKAGES_BOOLEAN_SHAPE, .replaced_by = "package_update",
          .description = KEY_DESCRIPTION("Deprecated name of package_update.") },
        { .name = "apt_upgrade", .shape = PACKAGES_BOOLEAN_SHAPE, .replaced_by = "package_upgrade",
          .description = KEY_DESCRIPTION("Deprecated name of package_upgrade.") },
        { .name = "apt_reboot_if_required", .shape = PACKAGES_BOOLEAN_SHAPE,
          .replaced_by = "package_reboot_if_required",
          .description = KEY_DESCRIPTION("Deprecated name of package_reboot_if_required.") },
        {}
};

/* The index of packages that a diagnostic's path names ("3" or "3.apt.1" is 3), or -1. */
static int packages_path_item(const char *path) {
        _cleanup_free_ char *first = strndup(path, strcspn(path, "."));
        unsigned item;

        if (first && safe_atou(first, &item) >= 0 && item <= INT_MAX)
                return (int) item;
        return -1;
}

/* Check every key of the module as `kiln validate` does. Returns 0, or -EINVAL after reporting. */
static int packages_check_config(Context *ctx, const json_t *config) {
        int errors = 0;

        for (const KeyField *f = packages_fields; f->name; f++) {
                ReportShapeTarget target = {
                        .ctx = ctx,
                        .key = f->name,
                        .item_of = streq(f->name, "packages") ? packages_path_item : NULL,
                        .unknown_keys = true,
                };
                const json_t *v = json_object_get(config, f->name);
                int r;

                if (!v)
                        continue;
                r = schema_check_shape(&f->shape, v, /* positions= */ NULL, 0, report_shape_diagnostic, &target);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to check the key '%s': %m", f->name);
                errors += r;
        }
        return errors > 0 ? -EINVAL : 0;
}

/* A boolean key that the check accepted: true, false, null, 0, 1, or a string such as "yes". */
static bool packages_bool(const json_t *config, const char *key) {
        const json_t *v = json_object_get(config, key);

        if (json_is_string(v))
                return parse_boolean(json_string_value(v)) > 0;
        if (json_is_integer(v))
                return json_integer_value(v) == 1;
        return json_is_true(v);
}

/* system_info.KEY from the cloud-config or else the image's kiln.yaml: seconds, an integer or a
 * real, from 0 to max_sec. An invalid value gets a warning and default_sec. */
static usec_t packages_seconds_setting(Context *ctx, const json_t *config, const char *key, unsigned default_sec,
                                       unsigned max_sec) {
        const json_t *sources[] = { config, ctx->system_config };

        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                const json_t *v = json_get_path(sources[i], "system_info", key, NULL);
                _cleanup_free_ char *shown = NULL;
                uint64_t usec;

                if (!v || json_is_null(v))
                        continue;
                if (json_seconds_to_usec(v, &usec) >= 0 && usec <= max_sec * USEC_PER_SEC)
                        return usec;
                shown = json_to_message(v, 80);
                report_warning(ctx, -1, "system_info.%s must be a number of seconds from 0 to %u, not %s; using "
                               "%u s, ignoring.", key, max_sec, shown ?: "?", default_sec);
                break;
        }
        return default_sec * USEC_PER_SEC;
}

/* The first backend whose executable the root has, or NULL. */
static const PackageBackend *packages_backend_find(int root_fd) {
        for (const PackageBackend *const *b = package_backends; *b; b++)
                for (const char *const *exe = (*b)->executables; exe && *exe; exe++)
                        if (root_exists(root_fd, *exe) > 0)
                                return *b;
        return NULL;
}

static int packages_request_add(PackagesPlan *plan, const json_t *spec, const char *source_text, int item) {
        PackageRequest *req;
        PackageRequest *grown;
        int r;

        grown = reallocarray(plan->requests, plan->n_requests + 1, sizeof(PackageRequest));
        if (!grown)
                return -ENOMEM;
        plan->requests = grown;
        req = &plan->requests[plan->n_requests];
        *req = (PackageRequest) { .item = item };

        if (json_is_string(spec))
                req->spec.name = json_string_value(spec);
        else if (json_array_size(spec) == 1)
                req->spec.name = json_string_value(json_array_get(spec, 0));
        else {
                req->spec.name = json_string_value(json_array_get(spec, 0));
                r = package_version_text(json_array_get(spec, 1), source_text, &req->version);
                if (r < 0)
                        return r;
                req->spec.version = req->version;
        }
        plan->n_requests++;
        return 0;
}

/* A list of a package manager mapping, packages[item].<manager>: installed when the manager is the
 * image's, skipped with a warning naming its items otherwise. */
static int packages_add_manager_list(Context *ctx, PackagesPlan *plan, const char *manager, const json_t *list,
                                     int item) {
        _cleanup_free_ char *shown = NULL;
        const json_t *spec;
        size_t i;
        int r;

        if (streq(manager, plan->backend->name)) {
                json_array_foreach(list, i, spec) {
                        char path[128];

                        (void) snprintf(path, sizeof(path), "/packages/%d/%s/%zu/1", item, manager, i);
                        r = packages_request_add(plan, spec, config_source_text(ctx, path), item);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (json_array_size(list) == 0)
                return 0;

        shown = json_to_message(list, 200);
        if (streq(manager, "snap"))
                report_warning(ctx, item, "packages[%d].snap: kiln does not install snap packages, skipping %s.",
                               item, shown ?: "them");
        else
                report_warning(ctx, item, "packages[%d].%s: the image's package manager is %s, skipping %s.",
                               item, manager, plan->backend->name, shown ?: "them");
        return 0;
}

/* Turn the checked packages list into requests for the image's package manager. */
static int packages_collect(Context *ctx, const json_t *packages, PackagesPlan *plan) {
        const json_t *value, *spec;
        const char *manager;
        size_t i;
        int r;

        if (json_is_string(packages))
                return packages_request_add(plan, packages, /* source_text= */ NULL, 0);
        json_array_foreach(packages, i, spec) {
                char path[64];

                if (!json_is_object(spec)) {
                        (void) snprintf(path, sizeof(path), "/packages/%zu/1", i);
                        r = packages_request_add(plan, spec, config_source_text(ctx, path), (int) i);
                        if (r < 0)
                                return r;
                        continue;
                }
                json_object_foreach((json_t *) spec, manager, value) {
                        /* Other keys were reported as unknown by the check. */
                        if (!streq(manager, "apt") && !streq(manager, "snap"))
                                continue;
                        r = packages_add_manager_list(ctx, plan, manager, value, (int) i);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Merge requests for one package name: an exact duplicate, or a request without a version next to
 * one with a version, is dropped with a warning. Two different versions of one name are an error
 * naming both items, and every request of that name fails, so nothing of that name is installed.
 * Returns 0, or -ENOMEM. */
static int packages_merge(Context *ctx, PackagesPlan *plan) {
        size_t kept = 0;

        for (size_t i = 0; i < plan->n_requests; i++) {
                PackageRequest *req = &plan->requests[i];
                PackageRequest *earlier = NULL;

                for (size_t j = 0; j < kept && !earlier; j++)
                        if (streq(plan->requests[j].spec.name, req->spec.name))
                                earlier = &plan->requests[j];

                if (!earlier) {
                        plan->requests[kept++] = *req;
                        continue;
                }

                if (req->spec.version && earlier->spec.version && !streq(req->spec.version, earlier->spec.version)) {
                        _cleanup_free_ char *message = NULL;

                        if (asprintf(&message, "packages[%d] requests version '%s' and packages[%d] version '%s' "
                                     "of the package '%s', so neither is installed.", earlier->item,
                                     earlier->spec.version, req->item, req->spec.version, req->spec.name) < 0)
                                return -ENOMEM;
                        (void) report_error(ctx, req->item, 0, "%s", message);
                        plan->conflicts = true;
                        if (earlier->result != PACKAGE_RESULT_FAILED) {
                                earlier->result = PACKAGE_RESULT_FAILED;
                                free(earlier->message);
                                earlier->message = strdup(message);
                        }
                        req->result = PACKAGE_RESULT_FAILED;
                        req->message = TAKE_PTR(message);
                        plan->requests[kept++] = *req;
                        continue;
                }

                report_warning(ctx, req->item, "packages[%d]: the package '%s' is also requested by packages[%d], "
                               "ignoring the duplicate.", req->item, req->spec.name, earlier->item);
                if (!earlier->spec.version && req->spec.version) {
                        /* The request with a version replaces the one without. */
                        free(earlier->version);
                        earlier->version = TAKE_PTR(req->version);
                        earlier->spec.version = earlier->version;
                }
                free(req->version);
                free(req->message);
                free(req->installed_version);
        }
        plan->n_requests = kept;
        return 0;
}

/* The command name of process pid, from /proc, into buf ("?" when unknown). */
static void process_comm(pid_t pid, char *buf, size_t size) {
        _cleanup_fclose_ FILE *f = NULL;
        char path[64];

        (void) snprintf(buf, size, "?");
        (void) snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
        f = fopen(path, "re");
        if (!f || !fgets(buf, (int) size, f)) {
                (void) snprintf(buf, size, "?");
                return;
        }
        buf[strcspn(buf, "\n")] = '\0';
}

int packages_lock_holder(int root_fd, const char *path, pid_t *ret_pid) {
        _cleanup_close_ int fd = -EBADF;
        struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

        /* O_NONBLOCK: a FIFO planted at the path must not block the open. */
        fd = root_open(root_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        /* F_OFD_GETLK reports locks taken with F_SETLK (apt, dpkg, lockf) and with F_OFD_SETLK. For the
         * first it returns the holder's pid, for the second -1. */
        if (fcntl(fd, F_OFD_GETLK, &lock) < 0)
                return negative_errno();
        if (lock.l_type == F_UNLCK)
                return 0;
        *ret_pid = lock.l_pid;
        return 1;
}

/* Maximum size of a pid file that the module reads. */
#define PACKAGES_PID_FILE_MAX 64U

int packages_pid_file_holder(int root_fd, const char *path, pid_t *ret_pid) {
        _cleanup_free_ char *data = NULL;
        char proc[64];
        unsigned pid;
        size_t size = 0;
        int r;

        r = read_file_at(root_fd, path, PACKAGES_PID_FILE_MAX, &data, &size);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG)
                return 0;
        if (r < 0)
                return r;
        data[strcspn(data, " \t\n")] = '\0';
        if (data[0] == '\0' || safe_atou(data, &pid) < 0 || pid == 0 || pid > INT_MAX)
                return 0;

        /* NOTE: the process is looked up in kiln's own pid namespace, and its root is not checked,
         * so a process of the same pid elsewhere counts as the holder until the deadline. */
        (void) snprintf(proc, sizeof(proc), "/proc/%u", pid);
        if (access(proc, F_OK) < 0)
                return 0;
        *ret_pid = (pid_t) pid;
        return 1;
}

/* Wait until no lock file of the backend is locked, up to timeout_usec. Returns 0, or -ETIMEDOUT
 * or another -errno after reporting. */
static int packages_wait_for_locks(Context *ctx, const PackagesPlan *plan) {
        const PackageBackend *b = plan->backend;
        usec_t start = now_monotonic(), deadline = start + plan->lock_timeout_usec;
        const char *waited = NULL;

        for (;;) {
                const char *held = NULL;
                char comm[64];
                pid_t pid = 0;
                usec_t now;

                for (const char *const *lock = b->lock_files; lock && *lock && !held; lock++) {
                        int r = packages_lock_holder(ctx->root_fd, *lock, &pid);

                        if (r < 0)
                                return report_error(ctx, -1, r, "Failed to check the lock '%s': %m", *lock);
                        if (r > 0)
                                held = *lock;
                }
                for (const char *const *lock = b->lock_pid_files; lock && *lock && !held; lock++) {
                        int r = packages_pid_file_holder(ctx->root_fd, *lock, &pid);

                        if (r < 0)
                                return report_error(ctx, -1, r, "Failed to check the lock '%s': %m", *lock);
                        if (r > 0)
                                held = *lock;
                }
                if (!held) {
                        if (waited)
                                log_info("The lock '%s' was released after %llu ms.", waited,
                                         (unsigned long long) ((now_monotonic() - start) / USEC_PER_MSEC));
                        return 0;
                }

                if (pid > 0)
                        process_comm(pid, comm, sizeof(comm));
                else
                        (void) snprintf(comm, sizeof(comm), "an open file description lock");
                now = now_monotonic();
                if (now >= deadline)
                        return report_error(ctx, -1, -ETIMEDOUT, "Failed to get the lock '%s' of %s within %g s, it "
                                            "is held by process %d (%s), so no package was installed.", held,
                                            b->name, (double) plan->lock_timeout_usec / USEC_PER_SEC, (int) pid, comm);
                if (!waited || !streq(waited, held))
                        log_info("Waiting for '%s', held by process %d (%s), for up to %llu s.", held, (int) pid,
                                 comm, (unsigned long long) ((deadline - now + USEC_PER_SEC - 1) / USEC_PER_SEC));
                waited = held;
                /* NOTE: fcntl() can only wait for a lock by taking it, and the package manager must
                 * take it itself, so the lock is checked again at a short interval. */
                sleep_until_usec(MIN(now + PACKAGES_LOCK_RECHECK_USEC, deadline));
        }
}

/* The environment that every command of the backend gets. */
static char *const *backend_env(const PackageBackend *b) {
        return (char *const *) b->environment;
}

/* The environment of an update, upgrade or install command: the backend's, plus its lock timeout
 * entry with the whole lock timeout, rounded up. Caller frees it with strv_free(); NULL when out
 * of memory. */
static char **packages_command_env(const PackagesPlan *plan) {
        const PackageBackend *b = plan->backend;
        size_t n = strv_length((char **) b->environment);
        char **env = calloc(n + 2, sizeof(char *));

        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                env[i] = strdup(b->environment[i]);
                if (!env[i])
                        return strv_free(env);
        }
        if (b->lock_timeout_env &&
            asprintf(&env[n], "%s%llu", b->lock_timeout_env,
                     (unsigned long long) ((plan->lock_timeout_usec + USEC_PER_SEC - 1) / USEC_PER_SEC)) < 0) {
                env[n] = NULL;
                return strv_free(env);
        }
        return env;
}

/* Run argv inside the root with its output appended to the module's output and the journal. */
static int packages_exec(Context *ctx, const PackagesPlan *plan, const char *name, char *const argv[],
                         ExecResult *ret) {
        const ExecLimits limits = { .timeout_usec = plan->command_timeout_usec, .kill_grace_usec =
                                    COMMAND_KILL_GRACE_USEC };
        LogRelay relay = { .write_fd = -EBADF, .control_fd = -EBADF };
        _cleanup_strv_free_ char **env = packages_command_env(plan);
        int r;

        if (!env)
                return -ENOMEM;
        if (plan->output_fd < 0)
                return exec_in_root_limited(ctx->root, argv, env, /* input_fd= */ -EBADF, -EBADF, &limits, ret);
        r = log_relay_start(name, plan->output_fd, &relay);
        if (r < 0)
                return r;
        r = exec_in_root_limited(ctx->root, argv, env, /* input_fd= */ -EBADF, relay.write_fd, &limits, ret);
        (void) log_relay_finish(&relay, COMMAND_OUTPUT_DRAIN_USEC);
        return r;
}

/* apt's complaint when it runs without a terminal device, as it does in a chroot without /dev/pts:
 * it gives no reason why a package failed. */
#define APT_PTY_NOISE "E: Can not write log (Is /dev/pts mounted?)"
#define DPKG_ERROR_PREFIX "dpkg: error processing package "

/* Whether line is dpkg's "dpkg: error processing package NAME (...)" for the package name, which
 * dpkg may write with ":ARCH". */
static bool dpkg_error_names(const char *line, size_t length, const char *name) {
        size_t prefix = strlen(DPKG_ERROR_PREFIX), n = name ? strlen(name) : 0;

        if (!name || length < prefix + n + 1 || !strneq(line, DPKG_ERROR_PREFIX, prefix) ||
            !strneq(line + prefix, name, n))
                return false;
        return strchr(" :", line[prefix + n]) != NULL;
}

char *packages_failure_reason(const char *stderr_text, const char *name) {
        char reason[PACKAGES_REASON_MAX] = "";
        size_t n = 0;

        for (int pass = 0; pass < 4; pass++)
                for (const char *line = stderr_text ?: ""; *line;) {
                        size_t length = strcspn(line, "\n");
                        const char *next = line[length] ? line + length + 1 : line + length;
                        bool error_line = (strneq(line, "E: ", 3) || strneq(line, "Error: ", 7) ||
                                           strneq(line, "ERROR: ", 7)) && !strneq(line, APT_PTY_NOISE, strlen(APT_PTY_NOISE));
                        bool dpkg_error = dpkg_error_names(line, length, name);
                        _cleanup_free_ char *text = NULL;
                        bool mentions;

                        /* dpkg writes the detail of an error that ends in ':' on the next line,
                         * indented by a blank. */
                        if ((dpkg_error || (length > 0 && line[length - 1] == ':')) && *next == ' ') {
                                size_t detail = strcspn(next, "\n");

                                if (asprintf(&text, "%.*s %.*s", (int) length, line, (int) detail - 1, next + 1) < 0)
                                        return NULL;
                        } else {
                                text = strndup(line, length);
                                if (!text)
                                        return NULL;
                        }
                        mentions = name && strstr(text, name);
                        /* Pass 0: dpkg's error for the package; 1: error lines that name the package;
                         * 2: the other error lines; 3: the first line, when nothing was found. */
                        if ((pass == 0 && dpkg_error) || (pass == 1 && error_line && mentions) ||
                            (pass == 2 && error_line && !mentions) || (pass == 3 && n == 0 && length > 0)) {
                                int k = snprintf(reason + n, sizeof(reason) - n, "%s%s", n ? "; " : "", text);

                                if (k > 0)
                                        n = MIN(n + (size_t) k, sizeof(reason) - 1);
                        }
                        line = next;
                }
        return strdup(reason);
}

/* Insert the backend's lock timeout option after argv[0], with the whole lock timeout, so that the
 * package manager waits out a lock that another process took after the module's own check. */
static int packages_add_lock_option(const PackagesPlan *plan, char ***argv) {
        size_t n = strv_length(*argv);
        char **grown;

        if (!plan->backend->lock_timeout_option)
                return 0;
        grown = reallocarray(*argv, n + 2, sizeof(char *));
        if (!grown)
                return -ENOMEM;
        *argv = grown;
        memmove(grown + 2, grown + 1, n * sizeof(char *));
        /* Rounded up, so that a timeout below one second does not become "do not wait". */
        if (asprintf(&grown[1], "%s%llu", plan->backend->lock_timeout_option,
                     (unsigned long long) ((plan->lock_timeout_usec + USEC_PER_SEC - 1) / USEC_PER_SEC)) < 0) {
                memmove(grown + 1, grown + 2, n * sizeof(char *));
                return -ENOMEM;
        }
        return 0;
}

/* How a package manager command ended, for a message: its exit code or signal, or the time limit
 * that stopped it. */
static void packages_format_termination(const PackagesPlan *plan, const ExecResult *result, char *buf, size_t size) {
        if (result->timed_out)
                (void) snprintf(buf, size, "timed out after %g s (system_info.package_command_timeout)",
                                (double) plan->command_timeout_usec / USEC_PER_SEC);
        else
                exec_result_format_termination(result, buf, size);
}

/* Run one update or upgrade command. Returns 1, or -errno after reporting. */
static int packages_run_step(Context *ctx, const PackagesPlan *plan, const char *what, char **(*build)(void)) {
        _cleanup_(exec_result_done) ExecResult result = {};
        _cleanup_strv_free_ char **argv = build ? build() : NULL;
        _cleanup_free_ char *reason = NULL;
        char name[64], how[128];
        int r;

        (void) snprintf(name, sizeof(name), "%s %s", plan->backend->name, what);
        if (!argv || packages_add_lock_option(plan, &argv) < 0)
                return report_error(ctx, -1, -ENOMEM, "Failed to build the %s command: %m", name);
        log_info("Running the package %s with %s.", what, argv[0]);
        r = packages_exec(ctx, plan, name, argv, &result);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to run '%s': %m", argv[0]);
        if (result.exit_code == 0) {
                log_info("The package %s finished after %llu ms.", what,
                         (unsigned long long) (result.duration_usec / USEC_PER_MSEC));
                return 1;
        }

        packages_format_termination(plan, &result, how, sizeof(how));
        reason = packages_failure_reason(result.stderr_head, /* name= */ NULL);
        return report_error(ctx, -1, 0, "Failed to run the package %s: %s %s%s%s", what, argv[0], how,
                            reason && *reason ? ": " : ".", reason ?: "");
}

/* The most names that one query of backend b may carry. rpm exits with the number of names that
 * are not installed, so a backend whose query_exit_ok accepts every exit code from 0 to 31 is
 * taken to count that way, and its queries carry at most 31 names: a larger count would exit 32
 * or more, which the mask cannot accept. Other backends (dpkg-query exits 0 or 1, apk 0) take
 * every name in one call. */
static size_t packages_query_batch_max(const PackageBackend *b) {
        size_t n = 0;

        while (n < PACKAGES_QUERY_EXIT_BITS && (b->query_exit_ok & (1U << n)))
                n++;
        if (n < PACKAGES_QUERY_EXIT_BITS)
                return PACKAGES_LIST_MAX;
        return PACKAGES_QUERY_EXIT_BITS - 1;
}

/* Query the n requests of batch (indices into plan->requests) and mark those installed at the
 * requested version as found. Returns the number still missing, or -errno after reporting. */
static int packages_query_batch(Context *ctx, PackagesPlan *plan, const size_t *batch, size_t n,
                                PackageResult found) {
        const PackageBackend *b = plan->backend;
        const ExecLimits limits = { .timeout_usec = PACKAGES_QUERY_TIMEOUT_USEC, .stdout_max = PACKAGES_QUERY_OUTPUT_MAX };
        _cleanup_(exec_result_done) ExecResult result = {};
        _cleanup_free_ PackageSpec *specs = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *reason = NULL;
        int missing = 0, r;

        specs = calloc(n, sizeof(PackageSpec));
        if (!specs)
                return report_error(ctx, -1, -ENOMEM, "Failed to query the installed packages: %m");
        for (size_t i = 0; i < n; i++)
                specs[i] = plan->requests[batch[i]].spec;

        argv = b->query_argv(specs, n);
        if (!argv)
                return report_error(ctx, -1, -ENOMEM, "Failed to build the package query: %m");
        r = exec_in_root_limited(ctx->root, argv, backend_env(b), /* input_fd= */ -EBADF, /* output_fd= */ -EBADF,
                                 &limits, &result);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to run '%s': %m", argv[0]);
        if (result.timed_out || result.exit_code < 0 || result.exit_code >= PACKAGES_QUERY_EXIT_BITS ||
            result.stdout_truncated || !(b->query_exit_ok & (1U << result.exit_code))) {
                char how[64];

                exec_result_format_termination(&result, how, sizeof(how));
                reason = packages_failure_reason(result.stderr_head, /* name= */ NULL);
                return report_error(ctx, -1, 0, "Failed to query the installed packages: %s %s%s%s", argv[0],
                                    result.timed_out ? "timed out" : how, reason && *reason ? ": " : ".",
                                    reason ?: "");
        }

        for (size_t i = 0; i < n; i++) {
                PackageRequest *req = &plan->requests[batch[i]];
                _cleanup_free_ char *installed = NULL;

                r = b->query_parse(result.stdout_data ?: "", req->spec.name, &installed);
                if (r == -ENOMEM)
                        return report_error(ctx, req->item, r, "Failed to read the output of '%s': %m", argv[0]);
                if (r < 0)
                        return report_error(ctx, req->item, r, "Failed to read the output of '%s' for the package "
                                            "'%s': %m", argv[0], req->spec.name);
                free(req->installed_version);
                req->installed_version = r > 0 ? TAKE_PTR(installed) : NULL;
                if (r > 0 && (!req->spec.version || b->version_matches(req->installed_version, req->spec.version))) {
                        req->result = found;
                        continue;
                }
                if (r > 0)
                        log_info("The package '%s' is installed at version '%s', not '%s'.", req->spec.name,
                                 req->installed_version, req->spec.version);
                missing++;
        }
        return missing;
}

/* Ask the package database which pending requests are installed at the requested version, and
 * mark those as found, in as many queries as the backend's batch size needs. Returns the number
 * of requests still missing, or -errno after reporting. */
static int packages_query(Context *ctx, PackagesPlan *plan, PackageResult found) {
        size_t batch_max = packages_query_batch_max(plan->backend), n = 0;
        _cleanup_free_ size_t *batch = NULL;
        int missing = 0, r;

        batch = calloc(MIN(plan->n_requests, batch_max) + 1, sizeof(size_t));
        if (!batch)
                return report_error(ctx, -1, -ENOMEM, "Failed to query the installed packages: %m");

        for (size_t i = 0; i < plan->n_requests; i++) {
                if (plan->requests[i].result != PACKAGE_RESULT_PENDING)
                        continue;
                batch[n++] = i;
                if (n < batch_max)
                        continue;
                r = packages_query_batch(ctx, plan, batch, n, found);
                if (r < 0)
                        return r;
                missing += r;
                n = 0;
        }
        if (n > 0) {
                r = packages_query_batch(ctx, plan, batch, n, found);
                if (r < 0)
                        return r;
                missing += r;
        }
        return missing;
}

static void packages_fail_pending(PackagesPlan *plan, const char *message);

/* Install every pending request in one package manager call. When it fails, a second query shows
 * which packages are still missing, and each of them fails with the package manager's reason.
 * Returns 1 when all were installed, or -errno after reporting. */
static int packages_install(Context *ctx, PackagesPlan *plan) {
        _cleanup_(exec_result_done) ExecResult result = {};
        _cleanup_free_ PackageSpec *specs = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        char name[64], how[128];
        size_t n = 0;
        int r;

        specs = calloc(plan->n_requests, sizeof(PackageSpec));
        if (!specs)
                return report_error(ctx, -1, -ENOMEM, "Failed to install the packages: %m");
        for (size_t i = 0; i < plan->n_requests; i++)
                if (plan->requests[i].result == PACKAGE_RESULT_PENDING)
                        specs[n++] = plan->requests[i].spec;

        (void) snprintf(name, sizeof(name), "%s install", plan->backend->name);
        argv = plan->backend->install_argv(specs, n);
        if (!argv || packages_add_lock_option(plan, &argv) < 0)
                return report_error(ctx, -1, -ENOMEM, "Failed to build the %s command: %m", name);
        log_info("Installing %zu package(s) with %s.", n, argv[0]);
        r = packages_exec(ctx, plan, name, argv, &result);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to run '%s': %m", argv[0]);
        if (result.exit_code == 0) {
                log_info("Installed %zu package(s) in %llu ms.", n,
                         (unsigned long long) (result.duration_usec / USEC_PER_MSEC));
                /* The exit code alone does not prove the result: the package database does. */
                r = packages_query(ctx, plan, PACKAGE_RESULT_INSTALLED);
                if (r < 0)
                        return packages_fail_pending(plan, "The installed packages could not be queried."), r;
                for (size_t i = 0; i < plan->n_requests; i++) {
                        PackageRequest *req = &plan->requests[i];

                        if (req->result != PACKAGE_RESULT_PENDING)
                                continue;
                        req->result = PACKAGE_RESULT_FAILED;
                        if (req->installed_version)
                                (void) asprintf(&req->message, "%s exited 0, but the package database has version "
                                                "'%s' installed, not '%s'.", argv[0], req->installed_version,
                                                req->spec.version ?: "any");
                        else
                                (void) asprintf(&req->message, "%s exited 0, but the package database does not "
                                                "have the package installed.", argv[0]);
                        (void) report_error(ctx, req->item, 0, "Failed to install the package '%s%s%s': %s",
                                            req->spec.name, req->spec.version ? "' version '" : "",
                                            req->spec.version ?: "", req->message ?: "out of memory");
                }
                return r > 0 ? -EIO : 1;
        }

        /* Some packages may have been installed before the failure. */
        r = packages_query(ctx, plan, PACKAGE_RESULT_INSTALLED);
        packages_format_termination(plan, &result, how, sizeof(how));
        for (size_t i = 0; i < plan->n_requests; i++) {
                PackageRequest *req = &plan->requests[i];

                if (req->result != PACKAGE_RESULT_PENDING)
                        continue;
                req->result = PACKAGE_RESULT_FAILED;
                req->message = packages_failure_reason(result.stderr_head, req->spec.name);
                (void) report_error(ctx, req->item, 0, "Failed to install the package '%s%s%s': %s %s%s%s",
                                    req->spec.name, req->spec.version ? "' version '" : "",
                                    req->spec.version ?: "", argv[0], how,
                                    req->message && *req->message ? ": " : ".", req->message ?: "");
        }
        return r < 0 ? r : -EIO;
}

/* Ask for a reboot after the report when the package manager left its reboot-required file. A
 * power change that the config's power_state requests is kept instead. */
static int packages_request_reboot(Context *ctx, const json_t *config, const PackagesPlan *plan) {
        const char *file = plan->backend->reboot_required_file;
        _cleanup_strv_free_ char **argv = NULL;
        json_auto_t *argv_json = NULL, *request = NULL;
        const json_t *power_state;
        int r;

        if (!file)
                return 0;
        r = root_exists(ctx->root_fd, file);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to check '%s': %m", file);
        if (r == 0) {
                log_debug("'%s' does not exist, so no reboot is required.", file);
                return 0;
        }

        power_state = json_object_get(config, "power_state");
        if (power_state && !json_is_null(power_state)) {
                log_info("'%s' exists, but the power change of power_state is made instead of a reboot.", file);
                return 0;
        }

        /* shutdown is looked up in the root's PATH when power_state_apply() runs it. */
        r = power_state_argv("shutdown", "reboot", "now", PACKAGES_REBOOT_MESSAGE, &argv);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to build the reboot command: %m");
        argv_json = json_array();
        for (size_t i = 0; argv_json && argv[i]; i++)
                if (json_array_append_new(argv_json, json_string(argv[i])) < 0)
                        argv_json = (json_decref(argv_json), NULL);
        request = argv_json ? json_pack("{s:O, s:b, s:f}", "argv", argv_json, "condition", true, "timeout",
                                        PACKAGES_REBOOT_TIMEOUT_SEC) : NULL;
        if (!request)
                return report_error(ctx, -1, -ENOMEM, "Failed to request the reboot: %m");

        json_decref(ctx->power_state);
        ctx->power_state = TAKE_PTR(request);
        log_info("'%s' exists, so the machine reboots after kiln has finished and reported.", file);
        return 1;
}

/* Record the result of each package in the module's status.json record. */
static void packages_record(Context *ctx, const PackagesPlan *plan) {
        json_auto_t *list = json_array();

        for (size_t i = 0; list && i < plan->n_requests; i++) {
                const PackageRequest *req = &plan->requests[i];

                if (json_array_append_new(list, json_pack("{s:s, s:s?, s:s?, s:s, s:s?}",
                                                          "name", req->spec.name,
                                                          "version", req->spec.version,
                                                          "installed_version", req->installed_version,
                                                          "result", package_result_table[req->result],
                                                          "message", req->message)) < 0)
                        return;
        }
        if (list)
                (void) report_module_detail(ctx, "packages", list);
}

/* Mark the requests that never reached the package manager as failed, after an earlier error. */
static void packages_fail_pending(PackagesPlan *plan, const char *message) {
        for (size_t i = 0; i < plan->n_requests; i++)
                if (plan->requests[i].result == PACKAGE_RESULT_PENDING) {
                        plan->requests[i].result = PACKAGE_RESULT_FAILED;
                        plan->requests[i].message = strdup(message);
                }
}

/* The steps after the check: query, locks, update, upgrade, install, reboot. */
static int packages_apply(Context *ctx, const json_t *config, PackagesPlan *plan) {
        bool changed = false, failed = false;
        int missing = 0, r;

        if (plan->n_requests > 0) {
                missing = packages_query(ctx, plan, PACKAGE_RESULT_PRESENT);
                if (missing < 0)
                        return packages_fail_pending(plan, "The installed packages could not be queried."), missing;
        }
        if (missing == 0 && !plan->update && !plan->upgrade) {
                log_info("All %zu requested package(s) are installed already.", plan->n_requests);
                /* As cloud-init, a reboot-required file left by an earlier install also counts. */
                if (plan->reboot_if_required) {
                        r = packages_request_reboot(ctx, config, plan);
                        if (r < 0)
                                return r;
                }
                return plan->conflicts ? -EINVAL : 0;
        }

        r = packages_wait_for_locks(ctx, plan);
        if (r < 0)
                return packages_fail_pending(plan, "The package manager's lock was not released in time."), r;

        plan->output_fd = command_output_open(ctx, "packages");

        /* As cloud-init, an update or upgrade that fails does not stop the steps after it. */
        r = packages_run_step(ctx, plan, "update", plan->backend->update_argv);
        failed = failed || r < 0;
        changed = changed || r > 0;
        if (plan->upgrade) {
                r = packages_run_step(ctx, plan, "upgrade", plan->backend->upgrade_argv);
                failed = failed || r < 0;
                changed = changed || r > 0;
        }
        if (missing > 0) {
                r = packages_install(ctx, plan);
                failed = failed || r < 0;
                changed = changed || r > 0;
        }

        if (plan->reboot_if_required && (plan->upgrade || plan->n_requests > 0)) {
                r = packages_request_reboot(ctx, config, plan);
                failed = failed || r < 0;
        }
        if (plan->conflicts)
                return -EINVAL;
        return failed ? -EIO : changed;
}

static int packages_run(Context *ctx, const json_t *config) {
        _cleanup_(packages_plan_done) PackagesPlan plan = { .output_fd = -EBADF };
        const json_t *packages = json_object_get(config, "packages");
        int r;

        r = packages_check_config(ctx, config);
        if (r < 0)
                return r;

        plan.update = packages_bool(config, "package_update") || packages_bool(config, "apt_update");
        plan.upgrade = packages_bool(config, "package_upgrade") || packages_bool(config, "apt_upgrade");
        plan.reboot_if_required = packages_bool(config, "package_reboot_if_required") ||
                                  packages_bool(config, "apt_reboot_if_required");
        if (!plan.update && !plan.upgrade && json_array_size(packages) == 0 && !json_is_string(packages)) {
                log_debug("No package is requested, and no update or upgrade.");
                return 0;
        }

        plan.backend = packages_backend_find(ctx->root_fd);
        if (!plan.backend)
                return report_error(ctx, -1, -ENOENT, "Failed to find a package manager in the image (apt-get, dnf, "
                                    "yum, zypper or apk), so no package was installed: %m");
        plan.lock_timeout_usec = packages_seconds_setting(ctx, config, "package_lock_timeout",
                                                          PACKAGES_LOCK_TIMEOUT_DEFAULT_SEC,
                                                          PACKAGES_LOCK_TIMEOUT_MAX_SEC);
        plan.command_timeout_usec = packages_seconds_setting(ctx, config, "package_command_timeout",
                                                             PACKAGES_COMMAND_TIMEOUT_DEFAULT_SEC,
                                                             PACKAGES_COMMAND_TIMEOUT_MAX_SEC);

        r = packages_collect(ctx, packages, &plan);
        if (r >= 0)
                r = packages_merge(ctx, &plan);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read the packages list: %m");
        log_debug("Using %s for %zu package(s).", plan.backend->name, plan.n_requests);

        r = packages_apply(ctx, config, &plan);
        packages_record(ctx, &plan);
        return r;
}

static const char *const packages_config_keys[] = {
        "packages", "package_update", "package_upgrade", "package_reboot_if_required", "apt_update", "apt_upgrade",
        "apt_reboot_if_required", NULL,
};

const AgentModule module_packages = {
        .name = "packages",
        .config_keys = packages_config_keys,
        .config_fields = packages_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = true,
        .run = packages_run,
};

const PackageBackend *const package_backends[] = {
        &package_backend_apt,
        &package_backend_dnf,
        &package_backend_yum,
        &package_backend_zypper,
        &package_backend_apk,
        NULL,
};
