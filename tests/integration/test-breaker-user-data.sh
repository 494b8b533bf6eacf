#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# User data that kiln must not drop without a trace. The cases are bzip2 instead of gzip, a header
# line with a stray byte, gzip in two members, a misspelled top-level key, and an error message
# long enough to be cut inside a UTF-8 character. Inputs come from a NoCloud seed.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# seed_run INSTANCE_ID < USER_DATA: a fresh root in $ROOT whose NoCloud seed contains stdin as its
# user data, then `kiln run` on it.
seed_run() {
        ROOT=$(new_root)
        nocloud_seed "$ROOT" "$1"
        run_kiln "$ROOT"
}

# bzip2 output starts with "BZh91AY&SY" and then bytes that are not UTF-8. kiln reads no bzip2, so
# it ignores the part, and the README promises a warning and the status degraded for that.
case_begin "bzip2 user-data"
seed_run iid-bzip2 < <(/usr/bin/python3 -c 'import bz2, sys
sys.stdout.buffer.write(bz2.compress(b"#cloud-config\nruncmd:\n  - touch /run/bzip2-ran\n"))')
check_run_result 0 degraded 2
check_absent "nothing ran" "$ROOT/run/bzip2-ran"
check_contains "a warning names the user data" "$(diagnostics warnings)" "user-data"

# "#cloud-config" followed by a byte that is not UTF-8 is not the header, so the part is ignored
# with a warning, like any other unrecognised first line.
case_begin "stray byte after the header"
seed_run iid-stray-byte < <(printf '#cloud-config\xc3\nruncmd:\n  - touch /run/stray-ran\n')
check_run_result 0 degraded 2
check_absent "nothing ran" "$ROOT/run/stray-ran"
check_contains "a warning names the user data" "$(diagnostics warnings)" "user-data"

# A gzip file may contain several members (gzip -c a b). gunzip, Python's gzip.GzipFile (which
# cloud-init's decomp_gzip() reads user data with) and kiln's own write_files decoder all inflate
# every member.
case_begin "gzip user-data in two members"
gzip_members=$WORK/two-members.gz
printf '#cloud-config\nruncmd:\n' | gzip -n > "$gzip_members"
printf '  - touch /run/second-member\n' | gzip -n >> "$gzip_members"
seed_run iid-two-members < "$gzip_members"
check_run_result 0 done 0
check_exists "the command from the second member ran" "$ROOT/run/second-member"

# A key that no module reads is input that kiln ignores, which makes the run degraded, and the
# warning has to name the key so that the author can find the typo.
case_begin "misspelled top-level key"
seed_run iid-typo < <(printf '#cloud-config\nruncmds:\n  - touch /run/typo-ran\n')
check_run_result 0 degraded 2
check_absent "nothing ran" "$ROOT/run/typo-ran"
check_contains "a warning names the key" "$(diagnostics warnings)" "runcmds"

# Diagnostics are cut at a fixed number of bytes. A cut inside a two-byte character must not make
# the report lose the message. The two paths differ by one ASCII byte, so one of the two messages
# is cut inside a character whatever the exact wording, and both errors still name the owner.
case_begin "long error message with non-ASCII text"
long_name=$(printf '\xc3\xa9%.0s' $(seq 1100))
seed_run iid-long-message < <(printf '#cloud-config\nwrite_files:\n  - {path: "/%s", content: x, owner: nosuchuser}\n  - {path: "/a%s", content: x, owner: nosuchuser}\n' "$long_name" "$long_name")
check_run_result 1 error 1
check_eq "both errors name the unknown owner" 2 "$(diagnostics errors | grep -c nosuchuser)"
