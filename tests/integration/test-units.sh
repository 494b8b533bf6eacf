#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The systemd units in packaging/systemd: systemd-analyze verify accepts them in a scratch root
# that contains a copy of this machine's unit files, their ExecStart lines are command lines that
# kiln accepts, and both switches that the units' conditions test make `kiln status` report
# disabled. Nothing here talks to this machine's systemd.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UNITS="kiln-local.service kiln.service"
UNIT_DIR=usr/lib/systemd/system

# unit_root: a scratch root with the host's unit files (read-only copies), kiln as /usr/bin/kiln
# and the units under test.
unit_root() {
        local root=$WORK/unit-root-$1
        mkdir -p "$root/$UNIT_DIR" "$root/usr/bin" "$root/etc"
        cp -a /usr/lib/systemd/system/. "$root/$UNIT_DIR/"
        cp "$KILN" "$root/usr/bin/kiln"
        cp "$TOP"/packaging/systemd/*.service "$root/$UNIT_DIR/"
        echo "$root"
}

# verify ROOT: run systemd-analyze verify on the units; sets VERIFY_RC and VERIFY_OUT.
verify() {
        local root=$1 unit paths=()
        for unit in $UNITS; do
                paths+=("$root/$UNIT_DIR/$unit")
        done
        VERIFY_OUT=$(systemd-analyze verify --man=no --root="$root" "${paths[@]}" 2>&1)
        VERIFY_RC=$?
}

# unit_value UNIT KEY: the values of KEY= in packaging/systemd/UNIT, one per line.
unit_value() {
        sed -n "s/^$2=//p" "$TOP/packaging/systemd/$1"
}

case_begin "verify"
if ! command -v systemd-analyze >/dev/null; then
        echo "skip verify: systemd-analyze is not installed"
else
        ROOT=$(unit_root good)
        verify "$ROOT"
        check_eq "systemd-analyze verify exits 0" 0 "$VERIFY_RC"
        check_eq "systemd-analyze verify prints nothing" "" "$VERIFY_OUT"

        # The same check on a unit whose binary is missing must fail, or the check above proves nothing.
        ROOT=$(unit_root broken)
        rm "$ROOT/usr/bin/kiln"
        verify "$ROOT"
        check "verify rejects a unit whose binary is missing" test "$VERIFY_RC" -ne 0
        check_contains "verify names the missing binary" "$VERIFY_OUT" "/usr/bin/kiln"
fi

case_begin "ordering"
check_contains "kiln-local runs before the network" "$(unit_value kiln-local.service Before)" "network-pre.target"
check_contains "kiln-local runs before sysinit.target" "$(unit_value kiln-local.service Before)" "sysinit.target"
check_eq "kiln-local has no default dependencies" "no" "$(unit_value kiln-local.service DefaultDependencies)"
check_contains "kiln.service waits for the network" "$(unit_value kiln.service After)" "network-online.target"
check_contains "kiln.service pulls in network-online.target" "$(unit_value kiln.service Wants)" "network-online.target"
check_contains "kiln.service runs after kiln-local" "$(unit_value kiln.service After)" "kiln-local.service"
check_contains "sshd waits for kiln.service" "$(unit_value kiln.service Before)" "ssh.service sshd.service"
check_contains "logins wait for kiln.service" "$(unit_value kiln.service Before)" "systemd-user-sessions.service"
check_eq "kiln.service is Type=notify" "notify" "$(unit_value kiln.service Type)"
check_eq "kiln.service stays active after kiln exits" "yes" "$(unit_value kiln.service RemainAfterExit)"

case_begin "switches"
for unit in $UNITS; do
        check_eq "$unit tests kiln.disabled" "!/etc/kiln/kiln.disabled" "$(unit_value "$unit" ConditionPathExists)"
        check_eq "$unit tests kiln=disabled" "!kiln=disabled" "$(unit_value "$unit" ConditionKernelCommandLine)"
done
ROOT=$(new_root)
mkdir -p "$ROOT/etc/kiln"
touch "$ROOT/etc/kiln/kiln.disabled"
kiln_status "$ROOT"
check_eq "status with kiln.disabled and no run exits 0" 0 "$STATUS_RC"
check_contains "status with kiln.disabled is disabled" "$STATUS_OUT" "status: disabled"
ROOT=$(new_root)
echo "console=ttyS0 kiln=disabled quiet" > "$ROOT/proc/cmdline"
kiln_status "$ROOT" --wait
check_eq "status --wait with kiln=disabled exits 0" 0 "$STATUS_RC"
check_contains "status --wait with kiln=disabled is disabled" "$STATUS_OUT" "status: disabled"

# ExecStart of each unit, with --root added, is a command line that kiln runs: the local stage
# on a NoCloud root sets the hostname and leaves the status running, the network stage ends it.
case_begin "exec-start"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-units <<'EOF2'
#cloud-config
hostname: units-host
runcmd:
  - touch /run/units-runcmd
EOF2
for unit in kiln-local.service kiln.service; do
        read -r -a argv <<<"$(unit_value "$unit" ExecStart)"
        check_eq "$unit starts /usr/bin/kiln" /usr/bin/kiln "${argv[0]}"
        "$KILN" "${argv[@]:1}" --root "$ROOT" >"$ROOT.$unit.out" 2>&1
        check_eq "$unit's command exits 0" 0 "$?"
        if [ "$unit" = kiln-local.service ]; then
                kiln_status "$ROOT"
                check_contains "after kiln-local the status is running" "$STATUS_OUT" "status: running"
                check_file "kiln-local set the hostname" "$ROOT/etc/hostname" "units-host\n"
                check_absent "kiln-local left runcmd to kiln.service" "$ROOT/run/units-runcmd"
        fi
done
kiln_status "$ROOT"
check_contains "after kiln.service the status is done" "$STATUS_OUT" "status: done"
check_exists "kiln.service ran runcmd" "$ROOT/run/units-runcmd"
