#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Datasource input that kiln must not accept quietly: a NoCloud seed directory named on the kernel
# command line that does not exist, and EC2 settings in kiln.yaml with values of the wrong type.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# The kernel command line chooses NoCloud and names its seed, so the datasource is found but
# cannot be read. That is an error, and no instance may be recorded from a seed that is not there.
case_begin "NoCloud seed directory missing"
ROOT=$(new_root)
echo 'ds=nocloud;s=/nonexistent-seed/' > "$ROOT/proc/cmdline"
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error names the seed directory" "$(diagnostics errors)" "nonexistent-seed"
check_absent "no instance id is recorded" "$ROOT/var/lib/kiln/instance-id"

# Settings that kiln ignores are input that was not applied as written. imdsv1_fallback: "no" is a
# string, so the fallback the author wanted off stays on. Both must show up as warnings in
# status.json, and the run ends degraded.
case_begin "EC2 settings of the wrong type"
ROOT=$(new_root)
make_ec2 "$ROOT"
kiln_config "$ROOT" <<'EOF'
datasource:
  ec2:
    timeout: "x"
    imdsv1_fallback: "no"
EOF
start_mock "$TOP/tests/imds/scenarios/default.json"
run_kiln "$ROOT"
stop_mock
check_run_result 0 degraded 2
check_contains "a warning names timeout" "$(diagnostics warnings)" "timeout"
check_contains "a warning names imdsv1_fallback" "$(diagnostics warnings)" "imdsv1_fallback"
