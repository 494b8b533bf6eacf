#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# State across boots and the status a run leaves: a metadata outage at reboot uses the cached
# instance, no datasource at all, failing bootcmd, `kiln status --wait` while kiln runs, and a
# disabled kiln.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INSTANCE_ID=i-0123456789abcdef0
# Outage cases wait for the deadline; this max_wait keeps them short.
SHORT_MAX_WAIT=3
# Maximum seconds a `kiln status --wait` may block before the test gives up on it.
WAIT_TIMEOUT=30
# Roots whose `kiln status --format json` is checked for its keys at the end.
JSON_ROOTS=()

net_setup

OUTAGE_USER_DATA=$WORK/outage-user-data
printf '#cloud-config\nbootcmd:\n  - touch /run/b29-boot\nruncmd:\n  - touch /run/b29-run\n' > "$OUTAGE_USER_DATA"

# sha256 of the files an outage must not change: host keys, users and groups.
identity_sums() {
        (cd "$ROOT" && sha256sum etc/ssh/ssh_host_*_key etc/ssh/ssh_host_*_key.pub etc/passwd etc/group)
}

# outage_root: an EC2 root in $ROOT that booted once as $INSTANCE_ID and has SSH host keys, then
# rebooted (an empty /run).
outage_root() {
        local type

        ROOT=$(new_root)
        make_ec2 "$ROOT"
        kiln_config "$ROOT" <<EOF
datasource:
  ec2:
    max_wait: $SHORT_MAX_WAIT
EOF
        start_mock "$(scenario <<EOF
{"description": "The built-in instance with bootcmd and runcmd user data.", "user_data_file": "$OUTAGE_USER_DATA"}
EOF
)"
        run_kiln "$ROOT"
        stop_mock
        check_eq "the earlier boot exits 0" 0 "$KILN_RC"
        check_exists "the earlier boot ran runcmd" "$ROOT/run/b29-run"

        mkdir -p "$ROOT/etc/ssh"
        for type in rsa ecdsa ed25519; do
                head -c 256 /dev/urandom | base64 > "$ROOT/etc/ssh/ssh_host_${type}_key"
                chmod 600 "$ROOT/etc/ssh/ssh_host_${type}_key"
                echo "ssh-$type AAAA...test root@example.com" > "$ROOT/etc/ssh/ssh_host_${type}_key.pub"
        done
        rm -rf "${ROOT:?}/run/"*
        SUMS_BEFORE=$(identity_sums)
}

# check_outage_result: what a boot with the metadata service down must leave.
check_outage_result() {
        check_run_result 0 degraded 2
        check_exists "per-boot bootcmd ran from the cached user data" "$ROOT/run/b29-boot"
        check_absent "per-instance runcmd did not run" "$ROOT/run/b29-run"
        check_eq "host keys, users and groups are unchanged" "$SUMS_BEFORE" "$(identity_sums)"
        check_file "the instance id is unchanged" "$ROOT/var/lib/kiln/instance-id" "$INSTANCE_ID\\n"
        check_absent "no previous instance id" "$ROOT/var/lib/kiln/previous-instance-id"
        check_contains "the warning names the instance" "$(diagnostics warnings)" "'$INSTANCE_ID'"
        check_contains "the warning says cached data was used" "$(diagnostics warnings)" "cached"
        check_contains "the warning says the datasource is unavailable" "$(diagnostics warnings)" "unavailable"
}

case_begin "metadata answers 503 at reboot"
outage_root
start_mock "$(scenario <<'EOF'
{"description": "Every request gets HTTP 503.", "faults": [{"type": "status_all", "status": 503}]}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_outage_result
check_contains "the warning names HTTP 503" "$(diagnostics warnings)" "503"
JSON_ROOTS+=("$ROOT")

case_begin "metadata unreachable at reboot"
outage_root
# Nothing listens on the metadata addresses now, so every connection is refused.
run_kiln "$ROOT"
check_outage_result

case_begin "no datasource"
ROOT=$(new_root)
# Started only to show that kiln sends no request when nothing marks the machine as EC2.
start_mock "$TOP/tests/imds/scenarios/default.json"
started=$(now)
run_kiln "$ROOT"
elapsed=$(seconds_since "$started")
stop_mock
check_run_result 1 error 1
check_contains "the error says no datasource was found" "$(diagnostics errors)" "no datasource found"
check_le "kiln finished within 1 s" "$elapsed" 1
check_eq "the mock received no request" 0 "$(mock_query 'len(requests)')"
JSON_ROOTS+=("$ROOT")

case_begin "failing bootcmd"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-bootcmd < <(printf '#cloud-config\nbootcmd:\n  - exit 1\nruncmd:\n  - touch /run/b32-a\n')
run_kiln "$ROOT"
check_run_result 1 error 1
check_exists "runcmd still ran" "$ROOT/run/b32-a"
kiln_status "$ROOT" --wait
check_eq "'kiln status --wait' exits 1" 1 "$STATUS_RC"
check_eq "'kiln status --wait' prints error" "status: error" "$STATUS_OUT"
kiln_status "$ROOT" --long
check_contains "'kiln status --long' names bootcmd item 0" "$STATUS_OUT" "bootcmd[0]"
check_contains "'kiln status --long' gives exit code 1" "$(grep -F 'bootcmd[0]' <<<"$STATUS_OUT")" "exited with 1"
check_eq "the JSON error is for module bootcmd, item 0" "bootcmd 0" \
        "$(json_get "$ROOT.status.json" '" ".join(str(e[k]) for e in d["errors"] for k in ("module", "item"))')"
JSON_ROOTS+=("$ROOT")

case_begin "status --wait without a datasource"
ROOT=$(new_root)
started=$(now)
# The waiter starts first, before kiln has written anything.
(
        timeout "$WAIT_TIMEOUT" "$KILN" status --wait --format json --root "$ROOT" >"$ROOT.wait.json" 2>"$ROOT.wait.err"
        echo $? >"$ROOT.wait.rc"
        now >"$ROOT.wait.end"
) &
waiter=$!
sleep 0.3
run_kiln "$ROOT"
wait "$waiter"
check_eq "kiln run exits 1" 1 "$KILN_RC"
check_eq "'kiln status --wait' exits 1" 1 "$(cat "$ROOT.wait.rc")"
check_le "'kiln status --wait' returned within 5 s" \
        "$(awk -v a="$started" -v b="$(cat "$ROOT.wait.end")" 'BEGIN { printf "%.3f", b - a }')" 5
check_eq "'kiln status --wait' reports error" error "$(json_get "$ROOT.wait.json" 'd["status"]' 2>&1)"
check_contains "'kiln status --wait' says no datasource was found" \
        "$(json_get "$ROOT.wait.json" 'd["errors"]' 2>&1)" "no datasource found"

case_begin "status --wait while runcmd runs"
ROOT=$(new_root)
# The duplicate runcmd key is a warning, so the run ends degraded; the last runcmd wins.
nocloud_seed "$ROOT" iid-wait <<'EOF'
#cloud-config
runcmd: ["true"]
runcmd: ["sleep 3; touch /run/b32-final"]
EOF
"$KILN" run --root "$ROOT" >"$ROOT.out" 2>&1 &
kiln_pid=$!
running=False
for _ in $(seq 100); do
        running=$(json_get "$ROOT/run/kiln/status.json" \
                'any(m["name"] == "runcmd" and m["state"] == "running" for m in d["modules"])' 2>/dev/null)
        [ "$running" = True ] && break
        sleep 0.05
done
check_eq "status.json shows runcmd running" True "$running"
kiln_status "$ROOT"
check_eq "'kiln status' during the run exits 0" 0 "$STATUS_RC"
check_eq "'kiln status' during the run prints running" "status: running" "$STATUS_OUT"
wait_out=$(timeout "$WAIT_TIMEOUT" "$KILN" status --wait --root "$ROOT" 2>&1)
wait_rc=$?
final_present=no
[ -e "$ROOT/run/b32-final" ] && final_present=yes
wait "$kiln_pid"
KILN_RC=$?
check_eq "'kiln status --wait' returned after runcmd finished" yes "$final_present"
check_eq "'kiln status --wait' exits 2" 2 "$wait_rc"
check_eq "'kiln status --wait' prints degraded" "status: degraded" "$wait_out"
check_run_result 0 degraded 2
check_contains "the warning names the duplicate key" "$(diagnostics warnings)" "runcmd"
JSON_ROOTS+=("$ROOT")

case_begin "disabled by file"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-disabled < <(printf '#cloud-config\nruncmd:\n  - touch /run/disabled-ran\n')
mkdir -p "$ROOT/etc/kiln"
touch "$ROOT/etc/kiln/kiln.disabled"
run_kiln "$ROOT"
check_run_result 0 disabled 0
check_absent "nothing ran" "$ROOT/run/disabled-ran"
kiln_status "$ROOT" --wait
check_eq "'kiln status --wait' exits 0" 0 "$STATUS_RC"
check_eq "'kiln status --wait' prints disabled" "status: disabled" "$STATUS_OUT"
JSON_ROOTS+=("$ROOT")

case_begin "disabled on the kernel command line"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-disabled < <(printf '#cloud-config\nruncmd:\n  - touch /run/disabled-ran\n')
echo "console=ttyS0 kiln=disabled quiet" > "$ROOT/proc/cmdline"
run_kiln "$ROOT"
check_run_result 0 disabled 0
check_absent "nothing ran" "$ROOT/run/disabled-ran"

case_begin "status JSON keys"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-done < <(printf '#cloud-config\n')
run_kiln "$ROOT"
check_run_result 0 done 0
JSON_ROOTS+=("$ROOT" "$(new_root)")
for ROOT in "${JSON_ROOTS[@]}"; do
        status_json "$ROOT"
        status=$(json_get "$ROOT.status.json" 'd.get("status")' 2>&1)
        check_eq "'$status' has status, errors[] and warnings[]" "True" \
                "$(json_get "$ROOT.status.json" 'isinstance(d.get("status"), str) and isinstance(d.get("errors"), list) and isinstance(d.get("warnings"), list)' 2>&1)"
done
