#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The command line: global options before or after the command, help for every command, usage
# errors (exit 64) and the version.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# A NoCloud root whose user data runs one command and writes one file.
cli_root() {
        local root
        root=$(new_root)
        printf '#cloud-config\nwrite_files:\n  - path: /etc/cli-file\n    content: "cli\\n"\nruncmd:\n  - echo ran >> /var/tmp/cli-run\n' |
                nocloud_seed "$root" iid-cli
        echo "$root"
}

# The parts of status.json that do not depend on timing.
status_summary() {
        json_get "$1/run/kiln/status.json" \
                '[d["status"], d["datasource"], d["instance_id"], d["errors"], d["warnings"], [(m["name"], m["state"]) for m in d["modules"]]]'
}

case_begin "global options before and after the command"
ROOT=$(cli_root)
ROOT_AFTER=$(cli_root)
"$KILN" --root "$ROOT" run >"$ROOT.out" 2>&1
rc_before=$?
"$KILN" run --root "$ROOT_AFTER" >"$ROOT_AFTER.out" 2>&1
rc_after=$?
check_eq "'kiln --root R run' exits 0" 0 "$rc_before"
check_eq "'kiln run --root R' exits like 'kiln --root R run'" "$rc_before" "$rc_after"
check_eq "both runs report the same status" "$(status_summary "$ROOT")" "$(status_summary "$ROOT_AFTER")"
check_file "'kiln --root R run' ran runcmd in R" "$ROOT/var/tmp/cli-run" 'ran\n'
check_file "'kiln run --root R' ran runcmd in R" "$ROOT_AFTER/var/tmp/cli-run" 'ran\n'
check_file "'kiln --root R run' wrote the file in R" "$ROOT/etc/cli-file" 'cli\n'
check_file "'kiln run --root R' wrote the file in R" "$ROOT_AFTER/etc/cli-file" 'cli\n'
status_before=$("$KILN" --root "$ROOT" status --long 2>&1)
status_after=$("$KILN" status --long --root "$ROOT" 2>&1)
check_eq "'kiln --root R status' prints what 'kiln status --root R' prints" "$status_before" "$status_after"

case_begin "help"
for args in "--help" "-h" "help" "run --help" "status --help" "version --help" "--help run" "run -h"; do
        # Word splitting of $args is intended: each entry is an argument list.
        # shellcheck disable=SC2086
        out=$("$KILN" $args 2>&1)
        rc=$?
        check_eq "'kiln $args' exits 0" 0 "$rc"
        check_contains "'kiln $args' prints a usage line" "$out" "Usage: kiln"
done
out=$("$KILN" run --help 2>&1)
check_contains "'kiln run --help' describes run" "$out" "Usage: kiln run"
out=$("$KILN" status --help 2>&1)
check_contains "'kiln status --help' lists --wait" "$out" "--wait"
check_contains "'kiln status --help' lists --format json" "$out" "--format json"

case_begin "usage errors"
ROOT=$(new_root)
out=$("$KILN" frobnicate 2>&1)
rc=$?
check_eq "an unknown command exits 64" 64 "$rc"
check_contains "the message names the unknown command" "$out" "'frobnicate'"
out=$("$KILN" run --frobnicate --root "$ROOT" 2>&1)
rc=$?
check_eq "an unknown option exits 64" 64 "$rc"
check_contains "the message names the unknown option" "$out" "--frobnicate"
check_absent "an unknown option does not start a run" "$ROOT/run/kiln/status.json"
# NUL bytes are dropped so that a broken message still shows in the failure.
out=$("$KILN" run --root 2>&1 | tr -d '\0'; exit "${PIPESTATUS[0]}")
rc=$?
check_eq "an option without its value exits 64" 64 "$rc"
check_contains "the message names the option without a value" "$out" "--root"
out=$("$KILN" status --format yaml --root "$ROOT" 2>&1)
rc=$?
check_eq "an invalid --format exits 64" 64 "$rc"
check_contains "the message names the invalid format" "$out" "'yaml'"
out=$("$KILN" run --wait --root "$ROOT" 2>&1)
rc=$?
check_eq "a status option on run exits 64" 64 "$rc"
check_contains "the message names the misplaced option" "$out" "--wait"
out=$("$KILN" run extra --root "$ROOT" 2>&1)
rc=$?
check_eq "an extra argument exits 64" 64 "$rc"
check_contains "the message names the extra argument" "$out" "'extra'"
out=$("$KILN" 2>&1)
rc=$?
check_eq "no command exits 64" 64 "$rc"
check_contains "no command prints the usage" "$out" "Usage: kiln"

case_begin "version"
out=$("$KILN" version 2>&1)
rc=$?
expected=$(sed -n "s/^ *version : '\([^']*\)',\$/\1/p" "$TOP/meson.build" | head -n 1)
check_eq "'kiln version' exits 0" 0 "$rc"
check_eq "'kiln version' prints the project version" "kiln $expected" "$out"

case_begin "status before any run"
ROOT=$(new_root)
kiln_status "$ROOT"
check_eq "'kiln status' on a root that never ran exits 0" 0 "$STATUS_RC"
check_contains "'kiln status' says kiln has not run" "$STATUS_OUT" "not run"
status_json "$ROOT"
check_eq "'kiln status --format json' exits 0" 0 "$STATUS_RC"
check_eq "the JSON has status, errors and warnings" "not run [] []" \
        "$(json_get "$ROOT.status.json" '" ".join([d["status"], str(d["errors"]), str(d["warnings"])])')"
