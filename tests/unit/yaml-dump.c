/* SPDX-License-Identifier: Apache-2.0 */
/* yaml-dump FILE: print how yaml_parse_json() reads FILE, as one line of JSON on stdout, and its
 * warnings on stderr, one per line as "line N: MESSAGE". tests/yaml-differential compares the
 * output with PyYAML's safe_load(). Exits 1 when FILE cannot be read or parsed. Not installed. */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "lib/yaml-util.h"

#define YAML_DUMP_INPUT_MAX (16U * 1024U * 1024U)

static int dump(const char *path) {
        _cleanup_free_ char *absolute = NULL, *text = NULL, *output = NULL;
        _cleanup_close_ int host_fd = -EBADF;
        json_auto_t *doc = NULL, *warnings = NULL;
        YamlError err = {};
        json_t *w;
        size_t size, i;
        int r;

        absolute = realpath(path, NULL);
        if (!absolute) {
                fprintf(stderr, "yaml-dump: Failed to open '%s': %m\n", path);
                return EXIT_FAILURE;
        }
        host_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (host_fd < 0) {
                fprintf(stderr, "yaml-dump: Failed to open '/': %m\n");
                return EXIT_FAILURE;
        }
        r = read_file_at(host_fd, absolute, YAML_DUMP_INPUT_MAX, &text, &size);
        if (r < 0) {
                fprintf(stderr, "yaml-dump: Failed to read '%s': %s\n", path, strerror(-r));
                return EXIT_FAILURE;
        }

        r = yaml_parse_json(text, size, &doc, &warnings, /* ret_positions= */ NULL, &err);
        if (r < 0) {
                fprintf(stderr, "yaml-dump: Failed to parse '%s' at line %u, column %u: %s\n", path,
                        err.line, err.column, err.message);
                return EXIT_FAILURE;
        }
        json_array_foreach(warnings, i, w)
                fprintf(stderr, "line %d: %s\n", (int) json_integer_value(json_object_get(w, "line")),
                        json_string_value(json_object_get(w, "message")));

        output = json_dumps(doc, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII);
        if (!output) {
                fprintf(stderr, "yaml-dump: Failed to write '%s' as JSON\n", path);
                return EXIT_FAILURE;
        }
        puts(output);
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "Usage: yaml-dump FILE\n");
                return EXIT_FAILURE;
        }
        return dump(argv[1]);
}
