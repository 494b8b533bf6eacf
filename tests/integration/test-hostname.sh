#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The hostname module: hostname and fqdn from user data, local-hostname from metadata,
# preserve_hostname, and a boolean or an invalid name where a name belongs. With --root other
# than /, kiln writes ROOT/etc/hostname and leaves the running system's hostname alone.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# Give this private UTS namespace a name of its own, so a change by kiln would show.
if [ "$(readlink /proc/self/ns/uts)" != "$(readlink /proc/1/ns/uts)" ]; then
        hostname kiln-test-uts
fi
UTS_HOSTNAME=$(hostname)

check_uts_unchanged() {
        check_eq "the running system's hostname is unchanged" "$UTS_HOSTNAME" "$(hostname)"
}

# seed_run INSTANCE_ID < USER_DATA: a fresh root in $ROOT with a NoCloud seed holding stdin as its
# user data and an /etc/hostname from the image, then `kiln run` on it.
seed_run() {
        ROOT=$(new_root)
        printf 'image-name\n' > "$ROOT/etc/hostname"
        nocloud_seed "$ROOT" "$1"
        run_kiln "$ROOT"
}

case_begin "hostname and fqdn from user data"
seed_run iid-hostname < <(printf '#cloud-config\nhostname: web-1\nfqdn: web-1.example.com\n')
check_run_result 0 done 0
check_file "/etc/hostname holds the short hostname" "$ROOT/etc/hostname" 'web-1\n'
check_uts_unchanged

case_begin "fqdn given as hostname"
seed_run iid-hostname-fqdn < <(printf '#cloud-config\nhostname: web-2.example.com\n')
check_run_result 0 done 0
check_file "/etc/hostname holds the first label" "$ROOT/etc/hostname" 'web-2\n'
check_uts_unchanged

case_begin "local-hostname from metadata"
ROOT=$(new_root)
printf 'image-name\n' > "$ROOT/etc/hostname"
make_ec2 "$ROOT"
start_mock "$TOP/tests/imds/scenarios/default.json"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_file "/etc/hostname holds the short local-hostname" "$ROOT/etc/hostname" 'ip-192-0-2-10\n'
check_uts_unchanged

case_begin "user data over metadata"
ROOT=$(new_root)
printf 'image-name\n' > "$ROOT/etc/hostname"
make_ec2 "$ROOT"
printf '#cloud-config\nhostname: web-3\n' > "$WORK/hostname-user-data"
start_mock "$(scenario <<EOF
{"description": "The built-in instance with a hostname in user data.", "user_data_file": "$WORK/hostname-user-data"}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_file "/etc/hostname holds the user data's hostname" "$ROOT/etc/hostname" 'web-3\n'
check_uts_unchanged

case_begin "preserve_hostname"
seed_run iid-preserve < <(printf '#cloud-config\npreserve_hostname: true\nhostname: other\nfqdn: other.example.com\n')
check_run_result 0 done 0
check_file "/etc/hostname is left as it was" "$ROOT/etc/hostname" 'image-name\n'
check_uts_unchanged

case_begin "preserve_hostname with metadata"
ROOT=$(new_root)
printf 'image-name\n' > "$ROOT/etc/hostname"
make_ec2 "$ROOT"
printf '#cloud-config\npreserve_hostname: true\n' > "$WORK/preserve-user-data"
start_mock "$(scenario <<EOF
{"description": "The built-in instance; user data keeps the image's hostname.", "user_data_file": "$WORK/preserve-user-data"}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_file "/etc/hostname is left as it was" "$ROOT/etc/hostname" 'image-name\n'

case_begin "boolean as hostname"
seed_run iid-hostname-off < <(printf '#cloud-config\nhostname: off\n')
check_run_result 1 error 1
check_file "/etc/hostname is left as it was" "$ROOT/etc/hostname" 'image-name\n'
check_contains "the error names the key" "$(diagnostics errors)" "hostname"
check_eq "the error is recorded against the hostname module" hostname \
        "$(json_get "$ROOT.status.json" '",".join(e["module"] for e in d["errors"])' 2>&1)"
check_uts_unchanged

# RFC 1123 does not allow a label to start or end with '-'.
case_begin "label starting with a hyphen"
seed_run iid-hostname-hyphen < <(printf '#cloud-config\nhostname: "-lead"\n')
check_run_result 1 error 1
check_file "/etc/hostname is left as it was" "$ROOT/etc/hostname" 'image-name\n'
check_contains "the error names the label" "$(diagnostics errors)" "the label '-lead' starts with '-'"
check_uts_unchanged

case_begin "control characters in the hostname"
seed_run iid-hostname-control < <(printf '#cloud-config\nhostname: "web\\n1\\u0007"\n')
check_run_result 1 error 1
check_file "/etc/hostname is left as it was" "$ROOT/etc/hostname" 'image-name\n'
check_contains "the error shows the characters escaped" "$(diagnostics errors)" "invalid hostname 'web\\n1\\x07'"
check "the log has no raw BEL character" bash -c "! grep -q \$'\\a' '$ROOT.out'"
check_uts_unchanged
