#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# runcmd end to end from a NoCloud seed: string and list items, one process per item, exit codes
# and signals in the report, and items that YAML turned into mappings or that name no command.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

case_begin "string and list items"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-items <<'EOF'
#cloud-config
runcmd:
  - echo one > /run/b16-one
  - [sh, -c, 'echo "two words" > /run/b16-two']
  - [touch, "/run/b16 three"]
  - sh -c 'exit 3'
  - echo after > /run/b16-after
  - |
    for i in 1 2; do echo "$i" >> /run/b16-multi; done
EOF
run_kiln "$ROOT"
check_run_result 1 error 1
check_file "a string item runs through sh" "$ROOT/run/b16-one" 'one\n'
check_file "a list item is the argv" "$ROOT/run/b16-two" 'two words\n'
check_exists "list elements are not split on spaces" "$ROOT/run/b16 three"
check_exists "the item after the failing one still ran" "$ROOT/run/b16-after"
check_file "a multi-line item runs as one script" "$ROOT/run/b16-multi" '1\n2\n'
check_eq "one error" 1 "$(json_get "$ROOT.status.json" 'len(d["errors"])')"
check_eq "the error is recorded against runcmd" runcmd "$(json_get "$ROOT.status.json" 'd["errors"][0]["module"]')"
check_eq "the error is recorded against item 3" 3 "$(json_get "$ROOT.status.json" 'd["errors"][0]["item"]')"
check_contains "the error names runcmd[3]" "$(json_get "$ROOT.status.json" 'd["errors"][0]["message"]')" "runcmd[3]"
check_contains "the error gives exit code 3" "$(json_get "$ROOT.status.json" 'd["errors"][0]["message"]')" "exited with 3"
kiln_status "$ROOT" --long
check_eq "'kiln status --long' exits 1" 1 "$STATUS_RC"
check_contains "'kiln status --long' names runcmd[3]" "$STATUS_OUT" "runcmd[3]"
check_contains "'kiln status --long' gives the exit code" "$(grep -F 'runcmd[3]' <<<"$STATUS_OUT")" "exited with 3"

case_begin "unquoted ': ' in an item"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-mapping <<'EOF'
#cloud-config
runcmd:
  - echo Status: ok > /run/b15-a
  - touch /run/b15-a2
EOF
run_kiln "$ROOT"
check_run_result 1 error 1
check_absent "the mapping item did not run" "$ROOT/run/b15-a"
check_absent "no item ran, because the list was rejected first" "$ROOT/run/b15-a2"
errors=$(diagnostics errors)
check_contains "the error names runcmd[0]" "$errors" "runcmd[0]"
check_contains "the error names line 3" "$errors" "line 3"
check_contains "the error shows the mapping" "$errors" "echo Status"
check_contains "the error advises quoting" "$errors" "quote"

case_begin "quoted ': ' in items"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-quoted <<'EOF'
#cloud-config
runcmd:
  - "echo 'Status: ok' > /run/b15-b"
  - [sh, -c, "echo 'url: https://example.com/x' > /run/b15-b2"]
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_file "the quoted string item ran" "$ROOT/run/b15-b" 'Status: ok\n'
check_file "the list item ran" "$ROOT/run/b15-b2" 'url: https://example.com/x\n'

case_begin "command killed by a signal"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-signal <<'EOF2'
#cloud-config
runcmd:
  - [sh, -c, 'kill -SEGV $$']
EOF2
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error names the signal" "$(diagnostics errors)" "runcmd[0] was killed by signal 11 (SIGSEGV)"

case_begin "empty command name"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-empty-name <<'EOF2'
#cloud-config
runcmd:
  - touch /run/empty-name-first
  - [""]
EOF2
run_kiln "$ROOT"
check_run_result 1 error 1
check_absent "no item ran, because the list was rejected first" "$ROOT/run/empty-name-first"
check_contains "the error names the item and the empty name" "$(diagnostics errors)" \
        "runcmd[1] at line 4 has an empty string as element [0]"
