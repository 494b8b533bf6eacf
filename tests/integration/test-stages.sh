#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The two stages of a boot: `kiln run --stage local` (kiln-local.service) and `kiln run --stage
# network` (kiln.service). The local stage reads only local datasources and sets the hostname. The
# status stays running until the network stage ends, and the final status covers the local stage's
# modules. `kiln status --wait` returns only after the network stage. A status from another boot
# reads as not run.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Maximum seconds a `kiln status --wait` may block before the test gives up on it.
WAIT_TIMEOUT=20
BOOT_ID_1=2f1e7a4c-0b1d-4c36-9c55-0a6f3c1e9d01
BOOT_ID_2=8a6d3b2e-5f4c-4e1a-b7d9-1c2e3f4a5b60

net_setup

# set_boot_id ROOT ID: the boot id that kiln reads from ROOT/proc, as the kernel would show it.
set_boot_id() {
        mkdir -p "$1/proc/sys/kernel/random"
        echo "$2" > "$1/proc/sys/kernel/random/boot_id"
}

# module_states: "NAME:STATE" of each module record in $ROOT.status.json, one a line.
module_states() {
        json_get "$ROOT.status.json" '"\n".join("%s:%s" % (m["name"], m["state"]) for m in d["modules"])'
}

# start_wait ROOT: start `kiln status --wait` in the background; its output goes to $ROOT.wait.
start_wait() {
        timeout "$WAIT_TIMEOUT" "$KILN" status --root "$1" --wait --long >"$1.wait" 2>&1 &
        WAIT_PID=$!
}

case_begin "local-nocloud"
ROOT=$(new_root)
set_boot_id "$ROOT" "$BOOT_ID_1"
nocloud_seed "$ROOT" iid-stages <<'EOF2'
#cloud-config
hostname: stage-host
runcmd:
  - touch /run/stages-runcmd
EOF2
run_kiln "$ROOT" --stage local
status_json "$ROOT"
check_eq "the local stage exits 0" 0 "$KILN_RC"
check_eq "the status stays running" running "$(json_get "$ROOT.status.json" 'd["status"]')"
check_eq "kiln status exits 0 between stages" 0 "$STATUS_RC"
check_eq "the status names the local stage" local "$(json_get "$ROOT.status.json" 'd["stage"]')"
check_eq "the status records the boot id" "$BOOT_ID_1" "$(json_get "$ROOT.status.json" 'd["boot_id"]')"
check_eq "the status names no process between stages" False "$(json_get "$ROOT.status.json" '"pid" in d')"
check_eq "the local stage ran only hostname" "hostname:changed" "$(module_states)"
check_file "the local stage set the hostname" "$ROOT/etc/hostname" "stage-host\n"
check_absent "runcmd waits for the network stage" "$ROOT/run/stages-runcmd"
check_absent "the local stage writes no result.json" "$ROOT/run/kiln/result.json"
check_file "the local stage recorded the instance" "$ROOT/var/lib/kiln/instance-id" "iid-stages\n"

case_begin "wait-between-stages"
start_wait "$ROOT"
sleep 0.5
check "status --wait is still waiting after the local stage" kill -0 "$WAIT_PID"
run_kiln "$ROOT" --stage network
wait "$WAIT_PID"
WAIT_RC=$?
check_eq "status --wait exits 0 once the network stage is done" 0 "$WAIT_RC"
check_grep "status --wait reports done" "^status: done$" "$ROOT.wait"

case_begin "network-after-local"
check_run_result 0 done 0
check_eq "the final status names the network stage" network "$(json_get "$ROOT.status.json" 'd["stage"]')"
check_eq "hostname ran once, in the local stage" "hostname:changed" "$(module_states | grep '^hostname:' | head -1)"
check_eq "the network stage skipped hostname" \
        "it ran in the local stage of this boot" \
        "$(json_get "$ROOT.status.json" '[m.get("reason") for m in d["modules"] if m["name"] == "hostname"][1]')"
check_exists "the network stage ran runcmd" "$ROOT/run/stages-runcmd"
check_exists "the network stage wrote result.json" "$ROOT/run/kiln/result.json"

case_begin "local-error-carried"
ROOT=$(new_root)
set_boot_id "$ROOT" "$BOOT_ID_1"
nocloud_seed "$ROOT" iid-bad-host <<'EOF2'
#cloud-config
hostname: "bad host!"
EOF2
run_kiln "$ROOT" --stage local
check_eq "the local stage exits 0 after a module failed" 0 "$KILN_RC"
start_wait "$ROOT"
run_kiln "$ROOT" --stage network
wait "$WAIT_PID"
WAIT_RC=$?
check_run_result 1 error 1
check_eq "status --wait exits 1 for the local stage's error" 1 "$WAIT_RC"
check_eq "the error names hostname once" 1 "$(diagnostics errors | grep -c "^hostname: .*invalid hostname 'bad host!'")"

case_begin "local-without-datasource"
# Neither a seed nor EC2's DMI: the local stage finds nothing and leaves it to the network stage,
# which reports "no datasource found". status --wait returns then, with error.
ROOT=$(new_root)
set_boot_id "$ROOT" "$BOOT_ID_1"
run_kiln "$ROOT" --stage local
status_json "$ROOT"
check_eq "the local stage without a datasource exits 0" 0 "$KILN_RC"
check_eq "the local stage reports no error" 0 "$(json_get "$ROOT.status.json" 'len(d["errors"])')"
start_wait "$ROOT"
START=$(now)
run_kiln "$ROOT" --stage network
wait "$WAIT_PID"
WAIT_RC=$?
check_le "status --wait returns within 5 s of detection" "$(seconds_since "$START")" 5
check_eq "status --wait exits 1 without a datasource" 1 "$WAIT_RC"
check_grep "status --wait says no datasource was found" "no datasource found" "$ROOT.wait"

case_begin "local-skips-network-datasource"
# kiln.ds=ec2 names a datasource that needs the network: the local stage must not wait for it.
ROOT=$(new_root)
make_ec2 "$ROOT"
echo "kiln.ds=ec2" > "$ROOT/proc/cmdline"
START=$(now)
run_kiln "$ROOT" --stage local
status_json "$ROOT"
check_eq "the local stage exits 0" 0 "$KILN_RC"
check_le "the local stage returns at once" "$(seconds_since "$START")" 2
check_eq "the local stage reports no error" 0 "$(json_get "$ROOT.status.json" 'len(d["errors"])')"
check_eq "the local stage fetched nothing" None "$(json_get "$ROOT.status.json" 'd["instance_id"]')"

case_begin "other-boot"
# /run/kiln that survived from another boot (a container, a mounted image) is not this boot's status.
ROOT=$(new_root)
set_boot_id "$ROOT" "$BOOT_ID_1"
nocloud_seed "$ROOT" iid-boots <<'EOF2'
#cloud-config
hostname: boots-host
EOF2
run_kiln "$ROOT" --stage local
set_boot_id "$ROOT" "$BOOT_ID_2"
kiln_status "$ROOT"
check_contains "a local stage of another boot reads as not run" "$STATUS_OUT" "status: not run"
run_kiln "$ROOT" --stage network
status_json "$ROOT"
check_eq "the network stage of the new boot ends done" done "$(json_get "$ROOT.status.json" 'd["status"]')"
check_eq "the new boot's status records its boot id" "$BOOT_ID_2" "$(json_get "$ROOT.status.json" 'd["boot_id"]')"
check_eq "the earlier boot's local stage is not carried over" "hostname:done" "$(module_states | grep '^hostname:')"

case_begin "stage-option"
ROOT=$(new_root)
run_kiln "$ROOT" --stage final
check_eq "an unknown stage is a usage error" 64 "$KILN_RC"
check_grep "the message names the stage" "invalid --stage 'final'" "$ROOT.out"
"$KILN" status --stage local --root "$ROOT" >"$ROOT.out" 2>&1
check_eq "--stage belongs to run" 64 "$?"
