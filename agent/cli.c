/* SPDX-License-Identifier: Apache-2.0 */
/* Command-line parsing and the commands run, status, clean, query, validate and version. Global options may stand
 * before or after the command: `kiln --root R run` and `kiln run --root R` are the same. */

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "boot.h"
#include "build-config.h"
#include "clean.h"
#include "cli.h"
#include "config.h"
#include "detect.h"
#include "query.h"
#include "state.h"
#include "lib/fileio.h"
#include "log.h"
#include "report.h"
#include "validate.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-bus.h>
#endif

#define STATUS_FILE KILN_RUN_DIR "/status.json"
/* The unit that finishes a boot's run (packaging/systemd/kiln.service). */
#define KILN_FINAL_UNIT "kiln.service"
#define STATUS_FILE_MAX (16U * 1024U * 1024U)

typedef enum Command {
        COMMAND_NONE,
        COMMAND_RUN,
        COMMAND_STATUS,
        COMMAND_VALIDATE,
        COMMAND_CLEAN,
        COMMAND_QUERY,
        COMMAND_VERSION,
        COMMAND_HELP,
} Command;

typedef struct Options {
        Command command;
        const char *root;
        const char *config_file;
        bool help;
        bool status_long;
        bool status_wait;
        bool format_json;
        bool format_given;
        bool validate_system;
        bool print_schema;
        bool debug;
        Stage stage;
        bool stage_given;
        CleanOptions clean;
        bool clean_given;        /* one of clean's options was given */
        bool list_keys;
        const char *query_key;   /* query's KEY argument, borrowed from argv */
        char **files;            /* validate's FILE arguments, borrowed from argv */
        size_t n_files;
} Options;

enum {
        ARG_ROOT = 0x100,
        ARG_CONFIG,
        ARG_LONG,
        ARG_FORMAT,
        ARG_WAIT,
        ARG_DEBUG,
        ARG_SYSTEM,
        ARG_PRINT_SCHEMA,
        ARG_STAGE,
        ARG_LOGS,
        ARG_SEED,
        ARG_MACHINE_ID,
        ARG_SSH_HOST_KEYS,
        ARG_LIST_KEYS,
        ARG_FORCE,
};

static void help_main(void) {
        printf("Usage: kiln [--root DIR] [--config FILE] COMMAND [OPTIONS]\n\n"
               "A boot-time agent: fetches the instance's user data and metadata, runs the modules it asks\n"
               "for, and reports the result.\n\n"
               "Commands:\n"
               "  run        Run the boot: detect the datasource, fetch, run modules, report\n"
               "  status     Show the result of the last run\n"
               "  query      Print the instance data, or one value of it\n"
               "  clean      Remove the instance state, so the next boot is a first boot\n"
               "  validate   Check user data against the keys and values kiln accepts\n"
               "  version    Show the version\n\n"
               "Options (before or after the command):\n"
               "  --root DIR     Target root to configure (default: /)\n"
               "  --config FILE  Configuration file (default: ROOT/etc/kiln/kiln.yaml and\n"
               "                 ROOT/etc/kiln/kiln.d/*.yaml)\n"
               "  --debug        Log debug messages\n"
               "  -h, --help     Show help (for a command: kiln COMMAND --help)\n");
}

static void help_run(void) {
        printf("Usage: kiln run [--stage local|network] [--root DIR] [--config FILE] [--debug]\n\n"
               "Detect the datasource without the network, fetch the instance's metadata and user data,\n"
               "run the modules in order and write ROOT/run/kiln/status.json and result.json.\n"
               "  --stage local    Before the network (kiln-local.service): read only local datasources\n"
               "                   (NoCloud) and set the hostname; the status stays running\n"
               "  --stage network  The rest of the boot (kiln.service); the default\n"
               "Exits 0 when the run ended done or degraded (or the local stage ended), 1 when it ended\n"
               "in error.\n");
}

static void help_clean(void) {
        printf("Usage: kiln clean [--logs] [--seed] [--machine-id] [--ssh-host-keys] [--force] [--root DIR]\n\n"
               "Prepare a root for capture as an image: remove the instance state under ROOT/var/lib/kiln\n"
               "(the seed/ and scripts/ directories stay) and ROOT/run/kiln, so that the next boot is a\n"
               "first boot. Without a clean, a reboot stays the same instance.\n"
               "  --logs           Also remove ROOT/var/log/kiln-output.log\n"
               "  --seed           Also remove ROOT/var/lib/kiln/seed\n"
               "  --machine-id     Set ROOT/etc/machine-id to 'uninitialized' (systemd's first boot)\n"
               "  --ssh-host-keys  Also remove ROOT/etc/ssh/ssh_host_*\n"
               "  --force          Clean although the status reads running for this boot (between the stages)\n\n"
               "Exit codes: 0 cleaned, 1 a removal failed or a kiln run is in progress.\n");
}

static void help_query(void) {
        printf("Usage: kiln query [KEY] [--list-keys] [--root DIR]\n\n"
               "Print the instance data from ROOT/run/kiln/instance-data-sensitive.json when readable\n"
               "(root), otherwise the redacted ROOT/run/kiln/instance-data.json. KEY is a dotted path\n"
               "with cloud-init's names, such as v1.instance_id or ds.meta_data; a string prints as is,\n"
               "anything else as JSON.\n"
               "  --list-keys  Print the keys of the document, or of the object at KEY\n\n"
               "Exit codes: 0 printed, 1 no instance data or no such key.\n");
}

static void help_status(void) {
        printf("Usage: kiln status [--long] [--format json] [--wait] [--root DIR]\n\n"
               "Show the status of the last run from ROOT/run/kiln/status.json.\n"
               "  --long         Show each module, its state and duration, and every error and warning\n"
               "  --format json  Print the status as JSON (always has status, errors[] and warnings[])\n"
               "  --wait         Block until the run has finished\n\n"
               "Exit codes: 0 done, running, disabled or not run; 1 error; 2 degraded.\n");
}

static void help_validate(void) {
        printf("Usage: kiln validate [--format json] FILE...\n"
               "       kiln validate [--format json] --system [--root DIR]\n"
               "       kiln validate --print-schema\n\n"
               "Decode each FILE as user data, as an instance would receive it, and check every\n"
               "cloud-config part against the keys and value shapes of kiln's modules. Each finding names\n"
               "the file, line, column and key path (write_files.2.permissions). Unknown keys, duplicate\n"
               "keys and values kiln reinterprets are warnings; wrong shapes and YAML errors are errors.\n"
               "Jinja templates and #include URLs are not checked: only 'kiln run' renders and fetches them.\n"
               "  --system        Check the current instance's cached user data and vendor data under\n"
               "                  ROOT/var/lib/kiln/instance/\n"
               "  --format json   Print {\"valid\", \"files\": [{\"file\", \"errors\", \"warnings\"}]}\n"
               "  --print-schema  Print the JSON Schema (draft-07) of the keys kiln accepts, for editors\n\n"
               "Exit codes: 0 valid (warnings allowed), 1 invalid, 64 usage error.\n");
}

static void help_version(void) {
        printf("Usage: kiln version\n\nShow kiln's version.\n");
}

static Command command_from_string(const char *s) {
        if (streq(s, "run"))
                return COMMAND_RUN;
        if (streq(s, "status"))
                return COMMAND_STATUS;
        if (streq(s, "validate"))
                return COMMAND_VALIDATE;
        if (streq(s, "clean"))
                return COMMAND_CLEAN;
        if (streq(s, "query"))
                return COMMAND_QUERY;
        if (streq(s, "version"))
                return COMMAND_VERSION;
        if (streq(s, "help"))
                return COMMAND_HELP;
        return COMMAND_NONE;
}

/* Reject options given to a command they do not belong to, and validate without anything to check. */
static int options_check(const Options *o) {
        if (o->command != COMMAND_RUN && o->stage_given) {
                fprintf(stderr, "kiln: --stage belongs to 'kiln run'.\n");
                return -EINVAL;
        }
        if (o->command != COMMAND_CLEAN && o->clean_given) {
                fprintf(stderr, "kiln: --logs, --seed, --machine-id, --ssh-host-keys and --force belong to 'kiln clean'.\n");
                return -EINVAL;
        }
        if (o->command != COMMAND_QUERY && o->list_keys) {
                fprintf(stderr, "kiln: --list-keys belongs to 'kiln query'.\n");
                return -EINVAL;
        }
        if (o->command != COMMAND_STATUS && (o->status_long || o->status_wait)) {
                fprintf(stderr, "kiln: --long and --wait belong to 'kiln status'.\n");
                return -EINVAL;
        }
        if (o->command != COMMAND_STATUS && o->command != COMMAND_VALIDATE && o->format_given) {
                fprintf(stderr, "kiln: --format belongs to 'kiln status' and 'kiln validate'.\n");
                return -EINVAL;
        }
        if (o->command != COMMAND_VALIDATE && (o->validate_system || o->print_schema)) {
                fprintf(stderr, "kiln: --system and --print-schema belong to 'kiln validate'.\n");
                return -EINVAL;
        }
        if (o->command != COMMAND_VALIDATE || o->help)
                return 0;
        if (o->print_schema && (o->validate_system || o->n_files > 0 || o->format_given)) {
                fprintf(stderr, "kiln: --print-schema takes no files and no other validate option.\n");
                return -EINVAL;
        }
        if (o->validate_system && o->n_files > 0) {
                fprintf(stderr, "kiln: validate takes FILE arguments or --system, not both.\n");
                return -EINVAL;
        }
        if (!o->print_schema && !o->validate_system && o->n_files == 0) {
                fprintf(stderr, "kiln: validate needs a FILE or --system. Try 'kiln validate --help'.\n");
                return -EINVAL;
        }
        return 0;
}

static int parse_argv(int argc, char *argv[], Options *o) {
        static const struct option options[] = {
                { "root",    required_argument, NULL, ARG_ROOT   },
                { "config",  required_argument, NULL, ARG_CONFIG },
                { "long",    no_argument,       NULL, ARG_LONG   },
                { "format",  required_argument, NULL, ARG_FORMAT },
                { "wait",    no_argument,       NULL, ARG_WAIT   },
                { "debug",   no_argument,       NULL, ARG_DEBUG  },
                { "system",  no_argument,       NULL, ARG_SYSTEM },
                { "print-schema", no_argument,  NULL, ARG_PRINT_SCHEMA },
                { "stage",   required_argument, NULL, ARG_STAGE  },
                { "logs",    no_argument,       NULL, ARG_LOGS   },
                { "seed",    no_argument,       NULL, ARG_SEED   },
                { "machine-id", no_argument,    NULL, ARG_MACHINE_ID },
                { "ssh-host-keys", no_argument, NULL, ARG_SSH_HOST_KEYS },
                { "list-keys", no_argument,     NULL, ARG_LIST_KEYS },
                { "force",   no_argument,       NULL, ARG_FORCE  },
                { "help",    no_argument,       NULL, 'h'        },
                {}
        };
        int c;

        *o = (Options) { .root = "/", .stage = STAGE_NETWORK };
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case ARG_ROOT:
                        o->root = optarg;
                        break;
                case ARG_CONFIG:
                        o->config_file = optarg;
                        break;
                case ARG_LONG:
                        o->status_long = true;
                        break;
                case ARG_FORMAT:
                        if (!streq(optarg, "json") && !streq(optarg, "text")) {
                                fprintf(stderr, "kiln: invalid --format '%s': expected 'json' or 'text'\n", optarg);
                                return -EINVAL;
                        }
                        o->format_json = streq(optarg, "json");
                        o->format_given = true;
                        break;
                case ARG_WAIT:
                        o->status_wait = true;
                        break;
                case ARG_DEBUG:
                        o->debug = true;
                        break;
                case ARG_SYSTEM:
                        o->validate_system = true;
                        break;
                case ARG_PRINT_SCHEMA:
                        o->print_schema = true;
                        break;
                case ARG_STAGE:
                        o->stage = stage_from_string(optarg);
                        if (o->stage < 0) {
                                fprintf(stderr, "kiln: invalid --stage '%s': expected 'local' or 'network'\n", optarg);
                                return -EINVAL;
                        }
                        o->stage_given = true;
                        break;
                case ARG_LOGS:
                        o->clean.logs = o->clean_given = true;
                        break;
                case ARG_SEED:
                        o->clean.seed = o->clean_given = true;
                        break;
                case ARG_MACHINE_ID:
                        o->clean.machine_id = o->clean_given = true;
                        break;
                case ARG_SSH_HOST_KEYS:
                        o->clean.ssh_host_keys = o->clean_given = true;
                        break;
                case ARG_LIST_KEYS:
                        o->list_keys = true;
                        break;
                case ARG_FORCE:
                        o->clean.force = o->clean_given = true;
                        break;
                case 'h':
                        o->help = true;
                        break;
                case ':':
                        fprintf(stderr, "kiln: option '%s' needs a value\n", argv[optind - 1]);
                        fprintf(stderr, "Try 'kiln --help'.\n");
                        return -EINVAL;
                case '?':
                        /* For a long option optopt contains its code, not a character, so argv names it. */
                        if (optopt > 0 && optopt < 0x100)
                                fprintf(stderr, "kiln: unknown option '-%c'\n", optopt);
                        else
                                fprintf(stderr, "kiln: unknown option '%s'\n", argv[optind - 1]);
                        fprintf(stderr, "Try 'kiln --help'.\n");
                        return -EINVAL;
                }

        if (optind < argc) {
                o->command = command_from_string(argv[optind]);
                if (o->command == COMMAND_NONE) {
                        fprintf(stderr, "kiln: unknown command '%s'. Try 'kiln --help'.\n", argv[optind]);
                        return -EINVAL;
                }
                /* getopt_long() moved the options first, so the rest are validate's files. */
                if (o->command == COMMAND_VALIDATE) {
                        o->files = argv + optind + 1;
                        o->n_files = (size_t) (argc - optind - 1);
                } else if (o->command == COMMAND_QUERY && optind + 1 < argc) {
                        o->query_key = argv[optind + 1];
                        if (optind + 2 < argc) {
                                fprintf(stderr, "kiln: unexpected argument '%s': query takes one KEY.\n", argv[optind + 2]);
                                return -EINVAL;
                        }
                } else if (optind + 1 < argc) {
                        fprintf(stderr, "kiln: unexpected argument '%s'. Try 'kiln --help'.\n", argv[optind + 1]);
                        return -EINVAL;
                }
        }
        return options_check(o);
}

static int open_root(const char *root) {
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to open root directory '%s': %m", root);
        return fd;
}

static int command_run(const Options *o) {
        _cleanup_close_ int root_fd = -EBADF;
        char root[PATH_MAX];
        Context ctx = {};
        RunStatus status;

        if (!realpath(o->root, root))
                return log_error_errno(negative_errno(), "Failed to resolve root directory '%s': %m", o->root), 1;
        root_fd = open_root(root);
        if (root_fd < 0)
                return 1;
        ctx = (Context) {
                .root = root,
                .root_fd = root_fd,
                .root_is_host = streq(root, "/"),
                .config_file = o->config_file,
                .system_config = json_object(),
                .config = json_object(),
                .errors = json_array(),
                .warnings = json_array(),
        };
        if (!ctx.system_config || !ctx.config || !ctx.errors || !ctx.warnings)
                return log_error_errno(-ENOMEM, "Failed to allocate memory: %m"), 1;

        log_info("kiln %s starting the %s stage, root %s.", KILN_VERSION, stage_to_string(o->stage), root);
        status = boot_run(&ctx, o->stage);
        context_done(&ctx);
        return status == RUN_STATUS_ERROR ? 1 : 0;
}

/* A status document for a status.json that cannot be used, so that `kiln status` reports an error
 * instead of "not run" and --wait does not wait for a file that will never change. */
static json_t *status_damaged(const char *reason) {
        char message[256];

        (void) snprintf(message, sizeof(message), "/%s is damaged: %s", STATUS_FILE, reason);
        return json_pack("{s:s, s:s, s:[{s:s, s:n, s:s}], s:[]}", "status", "error", "detail", message,
                         "errors", "module", "kiln", "item", "message", message, "warnings");
}

/* True for the status that the local stage leaves for the network stage. */
static bool status_is_between_stages(const json_t *doc) {
        return streq(json_string_value(json_object_get(doc, "stage")) ?: "", "local") &&
               !json_object_get(doc, "pid") && json_is_string(json_object_get(doc, "stage_finished"));
}

/* Returns the status document (caller owns it), NULL when kiln has not run. */
static json_t *status_load(int root_fd) {
        _cleanup_free_ char *text = NULL;
        json_error_t err;
        const char *status;
        json_t *doc;
        size_t size;
        int r;

        r = read_file_at(root_fd, STATUS_FILE, STATUS_FILE_MAX, &text, &size);
        if (r == -ENOENT)
                return NULL;
        if (r < 0) {
                char reason[128];
                (void) snprintf(reason, sizeof(reason), "cannot read it: %s",
                                r == -EBADFD ? "not a regular file" : strerror(-r));
                return status_damaged(reason);
        }
        doc = json_loadb(text, size, 0, &err);
        if (!json_is_object(doc)) {
                json_decref(doc);
                return status_damaged("it is not a JSON object");
        }
        status = json_string_value(json_object_get(doc, "status"));
        if (!status || run_status_from_string(status) < 0) {
                json_decref(doc);
                return status_damaged("its status is missing or unknown");
        }
        if (!json_is_array(json_object_get(doc, "errors")))
                (void) json_object_set_new(doc, "errors", json_array());
        if (!json_is_array(json_object_get(doc, "warnings")))
                (void) json_object_set_new(doc, "warnings", json_array());
        /* The local stage ends with "running" and no process: kiln.service carries the run on. */
        if (streq(status, "running") && !status_is_between_stages(doc)) {
                const json_t *pid = json_object_get(doc, "pid");
                /* kill(0) and kill(-1) address process groups and PID 1 is the init system, so a
                 * run recorded with those ids could never be checked or waited for. */
                if (!json_is_integer(pid) || json_integer_value(pid) <= 1 || json_integer_value(pid) > INT_MAX) {
                        json_decref(doc);
                        return status_damaged("it says running but names no valid process id");
                }
        }
        return doc;
}

static void print_diagnostics(const char *title, const json_t *list) {
        json_t *d;
        size_t i;

        if (json_array_size(list) == 0)
                return;
        printf("%s:\n", title);
        json_array_foreach(list, i, d) {
                const json_t *item = json_object_get(d, "item");
                const char *module = json_string_value(json_object_get(d, "module")) ?: "kiln";
                const char *message = json_string_value(json_object_get(d, "message")) ?: "";

                /* Module messages usually name their item already ("runcmd[3] exited with 3"). */
                if (strneq(message, module, strlen(module)))
                        printf("  - %s\n", message);
                else if (json_is_integer(item))
                        printf("  - %s[%lld]: %s\n", module, (long long) json_integer_value(item), message);
                else
                        printf("  - %s: %s\n", module, message);
        }
}

static void print_status_text(const json_t *doc, bool long_format) {
        const json_t *modules = json_object_get(doc, "modules"), *m;
        size_t i;

        printf("status: %s\n", json_string_value(json_object_get(doc, "status")) ?: "unknown");
        if (json_is_string(json_object_get(doc, "detail")))
                printf("detail: %s\n", json_string_value(json_object_get(doc, "detail")));
        if (!long_format)
                return;
        printf("datasource: %s\n", json_string_value(json_object_get(doc, "datasource")) ?: "-");
        printf("instance id: %s\n", json_string_value(json_object_get(doc, "instance_id")) ?: "-");
        printf("started: %s\n", json_string_value(json_object_get(doc, "started")) ?: "-");
        printf("finished: %s\n", json_string_value(json_object_get(doc, "finished")) ?: "-");
        if (json_array_size(modules) > 0)
                printf("modules:\n");
        json_array_foreach(modules, i, m) {
                const char *reason = json_string_value(json_object_get(m, "reason"));

                printf("  %-24s %-13s %-8s %8.1f ms%s%s\n",
                       json_string_value(json_object_get(m, "name")) ?: "?",
                       json_string_value(json_object_get(m, "frequency")) ?: "?",
                       json_string_value(json_object_get(m, "state")) ?: "?",
                       json_number_value(json_object_get(m, "duration_ms")),
                       reason ? "  " : "", reason ?: "");
        }
        print_diagnostics("errors", json_object_get(doc, "errors"));
        print_diagnostics("warnings", json_object_get(doc, "warnings"));
}

/* As status_load(), but a status that names another boot than the running one is NULL: kiln has not
 * run on this boot. /run is a tmpfs that a reboot empties, so this matters where ROOT/run/kiln
 * survives a boot, as in a container or an image mounted elsewhere. */
static json_t *status_load_this_boot(int root_fd) {
        const Context probe = { .root_fd = root_fd };
        _cleanup_free_ char *boot_id = NULL;
        json_t *doc = status_load(root_fd);
        const char *recorded = json_string_value(json_object_get(doc, "boot_id"));

        if (!recorded || state_read_boot_id(&probe, &boot_id) < 0 || !boot_id || streq(boot_id, recorded))
                return doc;
        json_decref(doc);
        return NULL;
}

/* A status file left "running" by a kiln that is gone would make --wait block forever, so a
 * running status whose process no longer exists reads as an error. The file is read once more
 * after the process was seen gone, because kiln writes its final status just before it exits. */
static json_t *status_load_checked(int root_fd) {
        json_t *doc = status_load_this_boot(root_fd);
        const json_t *pid = json_object_get(doc, "pid");
        char message[128];
        json_int_t dead;

        if (!doc || !streq(json_string_value(json_object_get(doc, "status")) ?: "", "running") ||
            !json_is_integer(pid))
                return doc;
        if (kill((pid_t) json_integer_value(pid), 0) == 0 || errno != ESRCH)
                return doc;

        dead = json_integer_value(pid);
        json_decref(doc);
        doc = status_load_this_boot(root_fd);
        if (!doc || !streq(json_string_value(json_object_get(doc, "status")) ?: "", "running"))
                return doc;
        (void) snprintf(message, sizeof(message), "kiln (pid %lld) stopped before it finished", (long long) dead);
        (void) json_object_set_new(doc, "status", json_string("error"));
        (void) json_object_set_new(doc, "detail", json_string(message));
        (void) json_array_append_new(json_object_get(doc, "errors"),
                                     json_pack("{s:s, s:n, s:s}", "module", "kiln", "item", "message", message));
        return doc;
}

/* Watch ROOT/run/kiln, or ROOT/run until kiln creates run/kiln in it. Returns 1 when run/kiln
 * itself is watched, 0 when only its parent is, -errno. */
static int status_watch(int root_fd, int ifd) {
        const char *dirs[] = { KILN_RUN_DIR, "run" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_close_ int dir_fd = root_open(root_fd, dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
                char proc[64];

                if (dir_fd == -ENOENT)
                        continue;
                if (dir_fd < 0)
                        return dir_fd;
                (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dir_fd);
                if (inotify_add_watch(ifd, proc, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) < 0)
                        return negative_errno();
                return i == 0;
        }
        return -ENOENT;
}

#if HAVE_LIBSYSTEMD
/* Ask systemd whether KILN_FINAL_UNIT is starting, running, or has a start job queued. Returns 1
 * when kiln will run or is running, 0 when it will not on this boot (with the unit's state in
 * ret_state), -errno when systemd cannot tell (not booted with systemd, unit not installed). */
static int final_unit_pending(char ret_state[static 32]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = NULL, *load = NULL, *active = NULL;
        const char *job_path;
        uint32_t job_id;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", KILN_FINAL_UNIT, &path);
        if (r < 0)
                return r;
        r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
                                       "LoadState", &error, &load);
        if (r < 0)
                return r;
        if (!streq(load, "loaded"))
                return -ENOENT;
        r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
                                       "ActiveState", &error, &active);
        if (r < 0)
                return r;
        if (streq(active, "active") || streq(active, "activating") || streq(active, "reloading"))
                return 1;
        r = sd_bus_get_property(bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit", "Job",
                                &error, &reply, "(uo)");
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "(uo)", &job_id, &job_path);
        if (r < 0)
                return r;
        if (job_id != 0)
                return 1;
        (void) snprintf(ret_state, 32, "%s", active);
        return 0;
}
#endif

/* A status for a boot where kiln will not run, so that --wait returns instead of waiting for a
 * status file that nothing writes. Only the host's own systemd can tell, so this is NULL for
 * another root, and NULL when kiln runs or will run.
 * NOTE: only a booted system reaches the systemd query; the tests use --root and never do. */
static json_t *status_will_not_run(bool root_is_host) {
#if HAVE_LIBSYSTEMD
        char state[32] = "", message[160];

        if (!root_is_host || final_unit_pending(state) != 0)
                return NULL;
        (void) snprintf(message, sizeof(message), "%s is %s and has no start job, so kiln will not run on this boot",
                        KILN_FINAL_UNIT, state);
        return json_pack("{s:s, s:s, s:[{s:s, s:n, s:s}], s:[]}", "status", "error", "detail", message,
                         "errors", "module", "kiln", "item", "message", message, "warnings");
#else
        (void) root_is_host;
        return NULL;
#endif
}

/* Block until status.json exists and its status is no longer "running". Uses inotify, so an atomic
 * rename of the file wakes it, and a pidfd of the running kiln, so a crash wakes it too. Creates
 * nothing in the root. */
static json_t *status_wait(int root_fd, bool root_is_host) {
        _cleanup_close_ int ifd = -EBADF;
        int watched = 0;

        ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (ifd < 0) {
                log_error_errno(negative_errno(), "Failed to start watching for the status: %m");
                return NULL;
        }

        for (;;) {
                char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
                json_t *doc = status_load_checked(root_fd);
                _cleanup_close_ int pidfd = -EBADF;
                struct pollfd fds[2];
                nfds_t n = 1;

                if (doc && !streq(json_string_value(json_object_get(doc, "status")) ?: "running", "running"))
                        return doc;
                if (watched < 1) {
                        watched = status_watch(root_fd, ifd);
                        if (watched < 0) {
                                json_decref(doc);
                                log_error_errno(watched, "Failed to watch /%s for the status: %m", KILN_RUN_DIR);
                                return NULL;
                        }
                        /* The directory may have appeared, or the file changed, while the watch was set up. */
                        json_decref(doc);
                        doc = status_load_checked(root_fd);
                        if (doc && !streq(json_string_value(json_object_get(doc, "status")) ?: "running", "running"))
                                return doc;
                }
                if (!doc || status_is_between_stages(doc)) {
                        json_t *final = status_will_not_run(root_is_host);
                        if (final) {
                                json_decref(doc);
                                return final;
                        }
                }
                if (doc && json_is_integer(json_object_get(doc, "pid")))
                        pidfd = (int) syscall(SYS_pidfd_open, (pid_t) json_integer_value(json_object_get(doc, "pid")), 0);
                json_decref(doc);

                fds[0] = (struct pollfd) { .fd = ifd, .events = POLLIN };
                if (pidfd >= 0)
                        fds[n++] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
                if (poll(fds, n, -1) < 0 && errno != EINTR)
                        return NULL;
                while (read(ifd, buf, sizeof(buf)) > 0)
                        ;
        }
}

static bool is_host_root(const char *root) {
        char resolved[PATH_MAX];

        return realpath(root, resolved) && streq(resolved, "/");
}

static int command_status(const Options *o) {
        _cleanup_close_ int root_fd = -EBADF;
        Context probe = {};
        const char *reason;
        json_t *doc;
        RunStatus status;
        int code;

        root_fd = open_root(o->root);
        if (root_fd < 0)
                return 1;
        probe.root_fd = root_fd;
        probe.root = o->root;

        doc = status_load_checked(root_fd);
        if ((!doc || streq(json_string_value(json_object_get(doc, "status")) ?: "", "running")) &&
            kiln_disabled(&probe, &reason) > 0) {
                json_decref(doc);
                doc = json_pack("{s:s, s:s, s:[], s:[]}", "status", "disabled", "reason", reason,
                                "errors", "warnings");
        } else if (o->status_wait) {
                json_decref(doc);
                doc = status_wait(root_fd, is_host_root(o->root));
                if (!doc)
                        return 1;
        }
        if (!doc)
                doc = json_pack("{s:s, s:[], s:[]}", "status", "not run", "errors", "warnings");
        if (!doc)
                return 1;

        status = run_status_from_string(json_string_value(json_object_get(doc, "status")));
        code = status < 0 ? 0 : run_status_exit_code(status);
        if (o->format_json) {
                char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                if (text)
                        printf("%s\n", text);
                free(text);
        } else
                print_status_text(doc, o->status_long);
        json_decref(doc);
        return code;
}

static int command_clean(const Options *o) {
        _cleanup_close_ int root_fd = open_root(o->root);

        if (root_fd < 0)
                return 1;
        return clean_root(root_fd, o->root, &o->clean) < 0 ? 1 : 0;
}

static int command_query(const Options *o) {
        _cleanup_close_ int root_fd = open_root(o->root);

        if (root_fd < 0)
                return 1;
        return query_main(root_fd, o->query_key, o->list_keys);
}

int cli_main(int argc, char *argv[]) {
        Options o;

        log_open(LOG_TARGET_AUTO);
        if (parse_argv(argc, argv, &o) < 0)
                return 64; /* EX_USAGE */
        if (o.debug)
                log_set_max_level(LOG_DEBUG);

        if (o.help || o.command == COMMAND_HELP || o.command == COMMAND_NONE) {
                switch (o.command) {
                case COMMAND_RUN:
                        help_run();
                        break;
                case COMMAND_STATUS:
                        help_status();
                        break;
                case COMMAND_VALIDATE:
                        help_validate();
                        break;
                case COMMAND_CLEAN:
                        help_clean();
                        break;
                case COMMAND_QUERY:
                        help_query();
                        break;
                case COMMAND_VERSION:
                        help_version();
                        break;
                case COMMAND_NONE:
                case COMMAND_HELP:
                        help_main();
                        break;
                }
                return o.help || o.command == COMMAND_HELP ? 0 : 64;
        }

        switch (o.command) {
        case COMMAND_RUN:
                return command_run(&o);
        case COMMAND_STATUS:
                return command_status(&o);
        case COMMAND_VALIDATE:
                if (o.print_schema)
                        return validate_print_schema();
                return validate_main(o.root, o.validate_system, o.format_json, o.files, o.n_files);
        case COMMAND_CLEAN:
                return command_clean(&o);
        case COMMAND_QUERY:
                return command_query(&o);
        case COMMAND_VERSION:
                printf("kiln %s\n", KILN_VERSION);
                return 0;
        case COMMAND_NONE:
        case COMMAND_HELP:
                break;
        }
        return 64;
}
