/* SPDX-License-Identifier: Apache-2.0 */
/* `kiln query`: read the instance data that the last run wrote, as `cloud-init query` does. */
#pragma once

#include <stdbool.h>

/* Print the instance data of the root at root_fd, or the value at key (a dotted path such as
 * "v1.instance_id"; NULL for the whole document). Strings print raw, other values as JSON. With
 * list_keys, print the keys of the document, or of the object at key, one a line, sorted.
 * Reads ROOT/run/kiln/instance-data-sensitive.json when the caller may read it (root), otherwise
 * the redacted instance-data.json. Returns the exit code: 0, or 1 with a message on stderr. */
int query_main(int root_fd, const char *key, bool list_keys);
