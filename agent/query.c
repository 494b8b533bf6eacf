/* SPDX-License-Identifier: Apache-2.0 */
/* `kiln query`: values from ROOT/run/kiln/instance-data*.json by dotted key path. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instance-data.h"
#include "lib/fileio.h"
#include "lib/parse-util.h"
#include "lib/string-util.h"
#include "log.h"
#include "query.h"

/* Largest instance data file that `kiln query` reads. */
#define QUERY_FILE_MAX (256U * 1024U * 1024U)
/* Keys of one object considered for a "did you mean" suggestion. */
#define QUERY_SUGGEST_KEYS_MAX 4096U
#define QUERY_KEY_MAX 4096U

/* Load the sensitive document when it can be read, else the redacted one. Returns a new reference,
 * or NULL after printing why. */
static json_t *query_load(int root_fd) {
        _cleanup_free_ char *text = NULL;
        const char *path = INSTANCE_DATA_SENSITIVE_FILE;
        json_error_t err;
        json_t *doc;
        size_t size;
        int r;

        r = read_file_at(root_fd, path, QUERY_FILE_MAX, &text, &size);
        if (r == -EACCES || r == -EPERM || r == -ENOENT) {
                path = INSTANCE_DATA_FILE;
                r = read_file_at(root_fd, path, QUERY_FILE_MAX, &text, &size);
        }
        if (r == -ENOENT) {
                fprintf(stderr, "kiln: no instance data at /%s: kiln has not fetched an instance on this boot. "
                        "Check 'kiln status'.\n", INSTANCE_DATA_FILE);
                return NULL;
        }
        if (r < 0) {
                fprintf(stderr, "kiln: Failed to read '/%s': %s\n", path, strerror(-r));
                return NULL;
        }
        doc = json_loadb(text, size, 0, &err);
        if (!json_is_object(doc)) {
                json_decref(doc);
                fprintf(stderr, "kiln: Failed to parse '/%s': %s\n", path, err.text);
                return NULL;
        }
        return doc;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The keys of object, sorted, NULL-terminated (the strings are borrowed from object). */
static const char **sorted_keys(const json_t *object) {
        size_t n = MIN(json_object_size(object), QUERY_SUGGEST_KEYS_MAX), i = 0;
        const char **keys = calloc(n + 1, sizeof(char *));
        const char *key;
        json_t *value;

        if (!keys)
                return NULL;
        json_object_foreach((json_t *) object, key, value) {
                if (i == n)
                        break;
                keys[i++] = key;
        }
        qsort(keys, i, sizeof(char *), compare_strings);
        return keys;
}

static void report_unknown(const json_t *parent, const char *key, const char *component) {
        _cleanup_free_ const char **keys = json_is_object(parent) ? sorted_keys(parent) : NULL;
        const char *nearest = keys ? nearest_word(component, keys, 3) : NULL;

        if (json_is_array(parent))
                fprintf(stderr, "kiln: key '%s' not found in the instance data: '%s' is not an index of its "
                        "list of %zu items.\n", key, component, json_array_size(parent));
        else if (!json_is_object(parent))
                fprintf(stderr, "kiln: key '%s' not found in the instance data: the value that "
                        "should contain '%s' is not an object.\n", key, component);
        else if (nearest)
                fprintf(stderr, "kiln: key '%s' not found in the instance data. Did you mean '%s'?\n", key, nearest);
        else
                fprintf(stderr, "kiln: key '%s' not found in the instance data. List the keys with "
                        "'kiln query --list-keys'.\n", key);
}

/* The member of an object, or the item of an array at a decimal index, or NULL. */
static json_t *child(json_t *node, const char *component) {
        unsigned index;

        if (json_is_array(node))
                return safe_atou(component, &index) >= 0 ? json_array_get(node, index) : NULL;
        return json_is_object(node) ? json_object_get(node, component) : NULL;
}

/* The value at the dotted path key (borrowed), or NULL after printing why. A component may also
 * index a list, as in "v1.public_ssh_keys.0". */
static json_t *query_lookup(json_t *doc, const char *key) {
        char copy[QUERY_KEY_MAX];
        json_t *node = doc;
        char *component, *save = NULL;

        if (strlen(key) >= sizeof(copy)) {
                fprintf(stderr, "kiln: key is longer than %u bytes.\n", QUERY_KEY_MAX - 1);
                return NULL;
        }
        memcpy(copy, key, strlen(key) + 1);
        for (component = strtok_r(copy, ".", &save); component; component = strtok_r(NULL, ".", &save)) {
                json_t *next = child(node, component);

                if (!next) {
                        report_unknown(node, key, component);
                        return NULL;
                }
                node = next;
        }
        return node;
}

static int print_value(const json_t *value) {
        _cleanup_free_ char *text = NULL;

        if (json_is_string(value)) {
                fwrite(json_string_value(value), 1, json_string_length(value), stdout);
                putchar('\n');
                return 0;
        }
        text = json_dumps(value, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!text)
                return log_error_errno(-ENOMEM, "Failed to allocate memory: %m"), 1;
        printf("%s\n", text);
        return 0;
}

static int print_keys(const json_t *object, const char *key) {
        _cleanup_free_ const char **keys = NULL;

        if (!json_is_object(object)) {
                fprintf(stderr, "kiln: --list-keys needs an object, but '%s' is not one.\n", key);
                return 1;
        }
        keys = sorted_keys(object);
        if (!keys)
                return log_error_errno(-ENOMEM, "Failed to allocate memory: %m"), 1;
        for (const char **k = keys; *k; k++)
                printf("%s\n", *k);
        return 0;
}

int query_main(int root_fd, const char *key, bool list_keys) {
        json_auto_t *doc = query_load(root_fd);
        const json_t *value;

        if (!doc)
                return 1;
        value = key ? query_lookup(doc, key) : doc;
        if (!value)
                return 1;
        if (list_keys)
                return print_keys(value, key ?: "(the document)");
        return print_value(value);
}
