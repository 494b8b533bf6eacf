#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `kiln clean`: after a clean, the next boot of the same root is a first boot and per-instance
# modules run again, while a reboot without a clean is not. The seed, the image's scripts and
# anything outside kiln's state stay unless an option names them.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MACHINE_ID=4f2c9d0e8b7a6c5d4e3f2a1b0c9d8e7f

# clean ROOT [ARGS...]: run `kiln clean`; sets CLEAN_RC, output in $ROOT.clean.
clean() {
        local root=$1
        shift
        "$KILN" clean --root "$root" "$@" >"$root.clean" 2>&1
        CLEAN_RC=$?
}

# reboot ROOT: what a reboot leaves of a root: /run is empty.
reboot() {
        rm -rf "${1:?}/run/"*
}

# counter ROOT: how many times runcmd ran on ROOT.
counter() {
        wc -l < "$1/var/runcmd-count" 2>/dev/null || echo 0
}

case_begin "first-boot-again"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-clean <<'EOF2'
#cloud-config
runcmd:
  - echo ran >> /var/runcmd-count
EOF2
mkdir -p "$ROOT/var/lib/kiln/scripts/per-boot"
printf '#!/bin/sh\necho boot >> /var/per-boot-count\n' > "$ROOT/var/lib/kiln/scripts/per-boot/count"
chmod 755 "$ROOT/var/lib/kiln/scripts/per-boot/count"
run_kiln "$ROOT"
check_eq "the first boot exits 0" 0 "$KILN_RC"
check_eq "the first boot ran runcmd" 1 "$(counter "$ROOT")"
reboot "$ROOT"
run_kiln "$ROOT"
check_eq "a reboot without clean does not run runcmd again" 1 "$(counter "$ROOT")"

clean "$ROOT"
check_eq "kiln clean exits 0" 0 "$CLEAN_RC"
check_absent "clean removed the instance id" "$ROOT/var/lib/kiln/instance-id"
check_absent "clean removed the instances" "$ROOT/var/lib/kiln/instances"
check_absent "clean removed the instance link" "$ROOT/var/lib/kiln/instance"
check_absent "clean removed the status" "$ROOT/run/kiln/status.json"
check_exists "clean kept the seed" "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
check_exists "clean kept the image's scripts" "$ROOT/var/lib/kiln/scripts/per-boot/count"
kiln_status "$ROOT"
check_contains "after clean the status is not run" "$STATUS_OUT" "status: not run"

run_kiln "$ROOT"
check_eq "the boot after clean exits 0" 0 "$KILN_RC"
check_eq "the boot after clean runs runcmd again" 2 "$(counter "$ROOT")"
check_eq "the image's per-boot script ran at every boot" 3 "$(wc -l < "$ROOT/var/per-boot-count")"
check_absent "the boot after clean has no previous instance" "$ROOT/var/lib/kiln/previous-instance-id"

case_begin "options"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-options </dev/null
run_kiln "$ROOT"
mkdir -p "$ROOT/etc/ssh"
for type in rsa ed25519; do
        echo key > "$ROOT/etc/ssh/ssh_host_${type}_key"
        echo pub > "$ROOT/etc/ssh/ssh_host_${type}_key.pub"
done
echo "PasswordAuthentication no" > "$ROOT/etc/ssh/sshd_config"
echo "$MACHINE_ID" > "$ROOT/etc/machine-id"
echo "output" > "$ROOT/var/log/kiln-output.log"

clean "$ROOT"
check_exists "plain clean keeps the log" "$ROOT/var/log/kiln-output.log"
check_file "plain clean keeps the machine id" "$ROOT/etc/machine-id" "$MACHINE_ID\n"
check_exists "plain clean keeps the SSH host keys" "$ROOT/etc/ssh/ssh_host_rsa_key"

clean "$ROOT" --logs --seed --machine-id --ssh-host-keys
check_eq "clean with every option exits 0" 0 "$CLEAN_RC"
check_absent "--logs removes kiln-output.log" "$ROOT/var/log/kiln-output.log"
check_absent "--seed removes the seed" "$ROOT/var/lib/kiln/seed"
check_file "--machine-id leaves machine-id uninitialized" "$ROOT/etc/machine-id" "uninitialized\n"
check_eq "no SSH host key is left" "" "$(ls "$ROOT/etc/ssh" | grep ssh_host_)"
check_exists "--ssh-host-keys keeps sshd_config" "$ROOT/etc/ssh/sshd_config"
clean "$ROOT" --logs --seed --machine-id --ssh-host-keys
check_eq "a second clean exits 0" 0 "$CLEAN_RC"

ROOT=$(new_root)
clean "$ROOT" --machine-id
check_eq "clean of a root never run exits 0" 0 "$CLEAN_RC"
check_absent "--machine-id creates no machine-id" "$ROOT/etc/machine-id"

case_begin "symlinks"
# A link inside kiln's state is removed, never followed.
ROOT=$(new_root)
OUTSIDE=$WORK/outside
mkdir -p "$OUTSIDE" "$ROOT/var/lib/kiln/instances/iid-x"
echo keep > "$OUTSIDE/file"
ln -s "$OUTSIDE" "$ROOT/var/lib/kiln/instances/iid-x/link"
ln -s "$OUTSIDE" "$ROOT/var/lib/kiln/toplink"
clean "$ROOT"
check_eq "clean with symlinks exits 0" 0 "$CLEAN_RC"
check_absent "the inner link is gone" "$ROOT/var/lib/kiln/instances"
check_absent "the top link is gone" "$ROOT/var/lib/kiln/toplink"
check_file "the link's target is untouched" "$OUTSIDE/file" "keep\n"

case_begin "run-in-progress"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-busy </dev/null
run_kiln "$ROOT"
sleep 60 &
BUSY_PID=$!
printf '{"status": "running", "pid": %d, "errors": [], "warnings": []}\n' "$BUSY_PID" > "$ROOT/run/kiln/status.json"
clean "$ROOT"
check_eq "clean during a run exits 1" 1 "$CLEAN_RC"
check_grep "clean names the running kiln" "A kiln run \\(pid $BUSY_PID\\) is in progress" "$ROOT.clean"
check_exists "clean during a run keeps the state" "$ROOT/var/lib/kiln/instance-id"
kill "$BUSY_PID"
wait "$BUSY_PID" 2>/dev/null
clean "$ROOT"
check_eq "clean after the run ended exits 0" 0 "$CLEAN_RC"
check_absent "clean after the run ended removes the state" "$ROOT/var/lib/kiln/instance-id"

case_begin "between-stages"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-stages </dev/null
mkdir -p "$ROOT/proc/sys/kernel/random"
echo 0d4f3c8e-2b1a-4c5d-9e8f-7a6b5c4d3e2f > "$ROOT/proc/sys/kernel/random/boot_id"
"$KILN" run --root "$ROOT" --stage local >"$ROOT.out" 2>&1
check_eq "the local stage exits 0" 0 "$?"
check_grep "the status reads running" '"status": *"running"' "$ROOT/run/kiln/status.json"
clean "$ROOT"
check_eq "clean between the stages exits 1" 1 "$CLEAN_RC"
check_grep "clean names the unfinished network stage" "the network stage has not finished" "$ROOT.clean"
check_exists "clean between the stages keeps the status" "$ROOT/run/kiln/status.json"
check_exists "clean between the stages keeps the state" "$ROOT/var/lib/kiln/instance-id"
clean "$ROOT" --force
check_eq "clean --force between the stages exits 0" 0 "$CLEAN_RC"
check_absent "clean --force removes the state" "$ROOT/var/lib/kiln/instance-id"
"$KILN" run --root "$ROOT" --stage local >"$ROOT.out" 2>&1
echo 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d > "$ROOT/proc/sys/kernel/random/boot_id"
clean "$ROOT"
check_eq "clean on a later boot exits 0" 0 "$CLEAN_RC"
check_absent "clean on a later boot removes the state" "$ROOT/var/lib/kiln/instance-id"

case_begin "lock"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-lock </dev/null
run_kiln "$ROOT"
check_exists "a run leaves the state" "$ROOT/var/lib/kiln/instance-id"
clean "$ROOT"
check_eq "clean without a holder exits 0" 0 "$CLEAN_RC"
check_exists "clean keeps the lock file" "$ROOT/run/kiln/lock"
run_kiln "$ROOT"
# The subshell becomes sleep, which holds the lock on descriptor 9 until it is killed.
(exec 9>"$ROOT/run/kiln/lock" && flock 9 && exec sleep 60) &
LOCK_PID=$!
for _ in $(seq 50); do
        flock -n "$ROOT/run/kiln/lock" true 2>/dev/null || break
        sleep 0.1
done
clean "$ROOT"
check_eq "clean while the lock is held exits 1" 1 "$CLEAN_RC"
check_grep "clean names the lock" "A kiln run holds the lock" "$ROOT.clean"
check_exists "clean while the lock is held keeps the state" "$ROOT/var/lib/kiln/instance-id"
# A run waits for the holder: it has not finished while the lock is held.
"$KILN" run --root "$ROOT" >"$ROOT.out" 2>&1 &
RUN_PID=$!
sleep 1
check "a run waits while the lock is held" kill -0 "$RUN_PID"
kill "$LOCK_PID"
wait "$LOCK_PID" 2>/dev/null
wait "$RUN_PID"
check_eq "the run ends once the lock is free" 0 "$?"

case_begin "usage"
ROOT=$(new_root)
"$KILN" status --logs --root "$ROOT" >"$ROOT.out" 2>&1
check_eq "--logs belongs to clean" 64 "$?"
"$KILN" clean extra --root "$ROOT" >"$ROOT.out" 2>&1
check_eq "clean takes no argument" 64 "$?"
