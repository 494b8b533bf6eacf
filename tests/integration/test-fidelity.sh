#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cloud-config read as cloud-init reads it, end to end. Duplicate keys keep the last value, with
# warnings naming both lines. A gzip bomb stops at the named cap, and a 1 MiB file is written whole.
# Invalid UTF-8 is rejected with its byte offset. YAML 1.1 booleans never become commands or
# hostnames.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case_begin "duplicate keys"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-dup <<'YAML'
#cloud-config
runcmd:
  - touch /run/b05-first
write_files:
  - path: /run/b05-file
    content: "x"
    path: /run/b05-other
runcmd:
  - touch /run/b05-second
YAML
run_kiln "$ROOT"
check_run_result 0 degraded 2
check_exists "the last runcmd ran" "$ROOT/run/b05-second"
check_absent "the first runcmd did not run" "$ROOT/run/b05-first"
check_exists "the last path was written" "$ROOT/run/b05-other"
check_absent "the first path was not written" "$ROOT/run/b05-file"
check_contains "the runcmd warning names lines 2 and 8" "$(diagnostics warnings)" "'runcmd' at lines 2 and 8"
check_contains "the path warning names lines 5 and 7" "$(diagnostics warnings)" "'path' at lines 5 and 7"

case_begin "gzip bomb"
ROOT=$(new_root)
mkdir -p "$ROOT/var/lib/kiln/seed/nocloud"
printf 'instance-id: iid-bomb\n' > "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
head -c 200000000 /dev/zero | gzip -n > "$ROOT/var/lib/kiln/seed/nocloud/user-data"
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error names the cap" "$(diagnostics errors)" "64 MiB"

case_begin "1 MiB cloud-config"
ROOT=$(new_root)
mkdir -p "$ROOT/var/lib/kiln/seed/nocloud"
printf 'instance-id: iid-big\n' > "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
{
        printf '#cloud-config\nwrite_files:\n  - path: /run/b06-big\n    content: "'
        head -c 1048000 /dev/zero | tr '\0' 'A'
        printf '"\n'
} > "$ROOT/var/lib/kiln/seed/nocloud/user-data"
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "the file has all 1048000 bytes" 1048000 "$(stat -c %s "$ROOT/run/b06-big" 2>/dev/null)"

case_begin "invalid UTF-8 in cloud-config"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-utf8 < <(printf '#cloud-config\nruncmd:\n  - echo \xff > /run/b02-bad\n')
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error gives byte offset 31" "$(diagnostics errors)" "byte offset 31"
check_absent "nothing from the part ran" "$ROOT/run/b02-bad"

case_begin "YAML 1.1 booleans are not names or commands"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-bool <<'YAML'
#cloud-config
hostname: off
runcmd:
  - false
  - touch /run/b21-after
YAML
run_kiln "$ROOT"
check_run_result 1 error 1
check "the hostname is not set to a boolean" bash -c "! grep -qiE '^(false|off)$' '$ROOT/etc/hostname' 2>/dev/null"
check_contains "the hostname error names the key" "$(diagnostics errors)" "hostname"
check_contains "runcmd[0] is rejected with a hint to quote it" "$(diagnostics errors)" '- "false"'
check_absent "nothing in runcmd ran" "$ROOT/run/b21-after"
