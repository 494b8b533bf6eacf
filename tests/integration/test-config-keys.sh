#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Input kiln cannot use is never dropped in silence: unknown and unsupported top-level keys,
# broken module lists, unusable instance ids and files that are not regular files each end the run
# degraded or in error with a message naming them.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case_begin "misspelled and unsupported keys"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-keys <<'YAML'
#cloud-config
runcmds:
  - touch /run/never
mounts:
  - [/dev/xvdb, /data]
write_files:
  - path: /run/kept
    content: "kept"
YAML
run_kiln "$ROOT"
check_run_result 0 degraded 2
check_contains "the misspelled key is named with a suggestion" "$(diagnostics warnings)" \
        "Unknown key 'runcmds' at line 2, ignoring it. Did you mean 'runcmd'?"
check_contains "an unsupported cloud-init key says so" "$(diagnostics warnings)" \
        "Key 'mounts' at line 4 is a cloud-init key that this version of kiln does not support"
check_absent "the misspelled runcmd did not run" "$ROOT/run/never"
check_file "the other modules still ran" "$ROOT/run/kept" "kept"

case_begin "kiln settings are not unknown keys"
ROOT=$(new_root)
kiln_config "$ROOT" <<'YAML'
datasource_list: [nocloud]
modules: [write_files, [runcmd, always]]
YAML
nocloud_seed "$ROOT" iid-settings < <(printf '#cloud-config\nruncmd:\n  - touch /run/ran\n')
run_kiln "$ROOT"
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/ran"

case_begin "broken modules list"
ROOT=$(new_root)
kiln_config "$ROOT" <<'YAML'
modules: [nosuch, [runcmd, weird], 5]
YAML
nocloud_seed "$ROOT" iid-modules < <(printf '#cloud-config\nruncmd:\n  - touch /run/ran\n')
run_kiln "$ROOT"
check_run_result 0 degraded 2
check_contains "the unknown module is named" "$(diagnostics warnings)" '"nosuch", names no module'
check_contains "the bad frequency is named" "$(diagnostics warnings)" 'invalid frequency "weird"'
check_contains "a number entry is shown" "$(diagnostics warnings)" 'modules[2] in the configuration, 5, names no module'
check_exists "runcmd still ran with its own frequency" "$ROOT/run/ran"

for id in "a/b" ".." "$(printf 'x\ty')"; do
        case_begin "instance id '$id' is rejected"
        ROOT=$(new_root)
        mkdir -p "$ROOT/var/lib/kiln/seed/nocloud"
        printf 'instance-id: "%s"\n' "$id" > "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
        printf '#cloud-config\nruncmd:\n  - touch /run/ran\n' > "$ROOT/var/lib/kiln/seed/nocloud/user-data"
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error says the id is invalid" "$(diagnostics errors)" "Invalid instance id"
        check_absent "nothing ran" "$ROOT/run/ran"
        check_absent "no instance was recorded" "$ROOT/var/lib/kiln/instance-id"
done

case_begin "instance id of the wrong type"
ROOT=$(new_root)
mkdir -p "$ROOT/var/lib/kiln/seed/nocloud"
printf 'instance-id: [a]\n' > "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error names instance-id" "$(diagnostics errors)" "instance-id in meta-data must be a string, not a list"

case_begin "a FIFO as user data"
ROOT=$(new_root)
mkdir -p "$ROOT/var/lib/kiln/seed/nocloud"
printf 'instance-id: iid-fifo\n' > "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
mkfifo "$ROOT/var/lib/kiln/seed/nocloud/user-data"
started=$(now)
run_kiln "$ROOT"
check_le "kiln does not block on the FIFO" "$(seconds_since "$started")" 5
check_run_result 1 error 1
check_contains "the error names user-data" "$(diagnostics errors)" "user-data"
