/* SPDX-License-Identifier: Apache-2.0 */
/* The values that flow through one run: the target root, the instance, the effective config. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t usec_t;

/* What a datasource fetched for this instance. All members are owned by the Instance. */
typedef struct Instance {
        char *datasource;        /* "ec2", "nocloud" */
        char *instance_id;
        json_t *metadata;        /* normalized, cloud-init's v1 key names: instance_id, local_hostname,
                                  * region, availability_zone, cloud_name, platform, public_ssh_keys[] */
        json_t *raw;             /* the datasource's own tree: meta-data, identity document, tags */
        char *user_data;         /* NUL-terminated for convenience; may contain NUL bytes */
        size_t user_data_size;
        bool has_user_data;
        char *vendor_data;
        size_t vendor_data_size;
        bool has_vendor_data;
        bool from_cache;         /* the datasource failed and the last boot's copy is used */
} Instance;

Instance *instance_new(void);
Instance *instance_free(Instance *i);
static inline void instance_freep(Instance **i) {
        instance_free(*i);
}
#define _cleanup_instance_free_ __attribute__((cleanup(instance_freep)))

typedef enum PartType {
        PART_CLOUD_CONFIG,
        PART_SCRIPT,             /* user script, per instance */
        PART_SCRIPT_PER_BOOT,
        PART_SCRIPT_PER_INSTANCE,
        PART_SCRIPT_PER_ONCE,
        PART_BOOTHOOK,
        PART_OTHER,              /* kept for other consumers, not acted on */
        PART_CLOUD_CONFIG_JSONP, /* #cloud-config-jsonp: an RFC 6902 patch of the merged cloud-config */
        _PART_TYPE_MAX,
        _PART_TYPE_INVALID = -EINVAL,
} PartType;

/* One piece of user data after decoding and splitting. */
typedef struct Part {
        PartType type;
        char *name;              /* "part-001" */
        char *content_type;      /* declared or derived MIME type */
        char *data;              /* bytes, NUL-terminated */
        size_t size;
        char *filename;          /* MIME filename parameter, or NULL */
        char *merge_how;         /* MIME Merge-Type header, or NULL (a part's own merge_how key also counts) */
        bool vendor;             /* from vendor data */
} Part;

typedef struct Context {
        const char *root;        /* target root path; "/" at boot */
        int root_fd;             /* O_DIRECTORY fd of root; all file access goes through it */
        bool root_is_host;       /* root is "/": host-wide calls such as sethostname() are allowed */
        const char *config_file; /* --config, or NULL for ROOT/etc/kiln/kiln.yaml plus kiln.d */

        json_t *system_config;   /* merged kiln.yaml and kiln.d, never NULL after config_load() */
        Instance *instance;      /* NULL until a datasource was fetched */
        Part *parts;
        size_t n_parts;
        json_t *config;          /* effective cloud-config, an object, never NULL during modules */
        json_t *config_positions; /* where each node of config came from, see yaml_parse_json();
                                   * may be NULL */
        usec_t include_deadline; /* CLOCK_MONOTONIC end of the time for all #include fetches of
                                  * this run, 0 until the first one */

        json_t *power_state;     /* the power change that the power_state module asked for, acted on
                                  * after the run is reported, or NULL */

        /* Reporting: the phase or module diagnostics are recorded against. */
        const char *current;     /* "datasource", "userdata", or a module name */
        json_t *errors;          /* array of {module, item, message} */
        json_t *warnings;        /* array of {module, item, message} */
        struct Report *report;
} Context;

/* Paths inside the target root (relative to it; used with the root fd). */
#define KILN_STATE_DIR "var/lib/kiln"
#define KILN_RUN_DIR "run/kiln"
#define KILN_CONFIG_FILE "etc/kiln/kiln.yaml"
#define KILN_CONFIG_DIR "etc/kiln/kiln.d"
#define KILN_OUTPUT_LOG "var/log/kiln-output.log"
