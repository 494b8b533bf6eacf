#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A whole EC2 boot against the mock metadata service: the bundled example user data through
# IMDSv2 with refused connections and a burst of HTTP 503 at start, then reruns of the same
# instance and of a new one.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOKEN_HEADER=X-aws-ec2-metadata-token
TTL_HEADER=X-aws-ec2-metadata-token-ttl-seconds
OLD_ID=i-0123456789abcdef0
NEW_ID=i-0fedcba9876543210

net_setup

case_begin "example boot through refusals and 503s"
ROOT=$(new_root)
make_ec2 "$ROOT"
start_mock "$(scenario <<EOF
{
  "description": "Tokens required; connections refused for 3 s, then three HTTP 503 answers.",
  "tokens": "required",
  "user_data_file": "$TOP/examples/user-data.yaml",
  "faults": [
    {"type": "refuse", "seconds": 3},
    {"type": "status", "status": 503, "count": 3}
  ]
}
EOF
)"
started=$(now)
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
kiln_status "$ROOT"
check_eq "'kiln status' exits 0" 0 "$STATUS_RC"
check_eq "'kiln status' prints done" "status: done" "$STATUS_OUT"

check_file "/etc/motd is written" "$ROOT/etc/motd" 'Welcome to web-1, configured by kiln.\n'
check_file "/etc/app/settings.ini is written" "$ROOT/etc/app/settings.ini" '[app]\nlisten = 0.0.0.0:8080\n'
check_mode "/etc/app/settings.ini has mode 600" "$ROOT/etc/app/settings.ini" "600 root:root"
check_file "/usr/local/bin/hello is the decoded base64" "$ROOT/usr/local/bin/hello" \
        '#!/bin/sh\necho "hello from $(hostname -f 2>/dev/null || echo kiln)"\n'
check_mode "/usr/local/bin/hello has mode 755" "$ROOT/usr/local/bin/hello" "755 root:root"
check_file "runcmd saw the instance id" "$ROOT/var/tmp/runcmd.txt" "runcmd ran for $OLD_ID\\n"
check_grep "runcmd wrote a UTC time" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "$ROOT/var/tmp/first-boot"
check_file "/etc/hostname is the short hostname" "$ROOT/etc/hostname" 'web-1\n'

check_eq "the first request after the refusals is the token PUT" "PUT /latest/api/token" \
        "$(mock_query 'requests[0]["method"] + " " + requests[0]["path"]')"
check_eq "the token PUT asks for a TTL from 1 to 21600 s" True \
        "$(mock_query "(header(requests[0], '$TTL_HEADER') or '').isdigit() and 1 <= int(header(requests[0], '$TTL_HEADER')) <= 21600")"
check_le "no request reached the mock in the first 3 s" 2.9 \
        "$(mock_query "requests[0]['time'] - $started")"
check_eq "the mock answered 503 three times" 3 "$(mock_query 'sum(r["status"] == 503 for r in requests)')"
check_eq "kiln sent GET requests" True "$(mock_query 'len(gets) > 5')"
check_eq "every GET carries the token" True "$(mock_query "all(header(r, '$TOKEN_HEADER') for r in gets)")"
check_eq "no request was rejected with 401" 0 "$(mock_query 'sum(r["status"] == 401 for r in requests)')"
check_eq "every request used one connection" 1 "$(mock_query 'len({r["connection_id"] for r in requests})')"

case_begin "rerun of the same instance and a new instance"
ROOT=$(new_root)
make_ec2 "$ROOT"
USER_DATA=$WORK/rerun-user-data
printf '#cloud-config\nbootcmd:\n  - echo boot >> /var/tmp/bootcmd-runs\nruncmd:\n  - echo "run $INSTANCE_ID" >> /var/tmp/runcmd-runs\n' \
        > "$USER_DATA"
SAME=$(scenario <<EOF
{"description": "The built-in instance with user data that appends to files.", "user_data_file": "$USER_DATA"}
EOF
)
CHANGED=$(scenario <<EOF
{
  "description": "Another instance id, same user data.",
  "user_data_file": "$USER_DATA",
  "paths": {"/latest/meta-data/instance-id": "$NEW_ID"}
}
EOF
)

start_mock "$SAME"
run_kiln "$ROOT"
stop_mock
check_eq "the first run exits 0" 0 "$KILN_RC"
check_file "the first run ran runcmd" "$ROOT/var/tmp/runcmd-runs" "run $OLD_ID\\n"
check_file "the first run recorded the instance id" "$ROOT/var/lib/kiln/instance-id" "$OLD_ID\\n"

start_mock "$SAME"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_file "the second run did not run runcmd again" "$ROOT/var/tmp/runcmd-runs" "run $OLD_ID\\n"
check_file "bootcmd ran at both runs" "$ROOT/var/tmp/bootcmd-runs" 'boot\nboot\n'
check_eq "status.json shows runcmd skipped" skipped \
        "$(json_get "$ROOT/run/kiln/status.json" 'next((m["state"] for m in d["modules"] if m["name"] == "runcmd"), None)')"
check_contains "the skip reason says runcmd already ran" \
        "$(json_get "$ROOT/run/kiln/status.json" 'next((m.get("reason") for m in d["modules"] if m["name"] == "runcmd"), None)')" \
        "already ran for this instance"
check_absent "no previous instance id after a rerun" "$ROOT/var/lib/kiln/previous-instance-id"

start_mock "$CHANGED"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_file "the new instance ran runcmd once more" "$ROOT/var/tmp/runcmd-runs" "run $OLD_ID\\nrun $NEW_ID\\n"
check_file "the new instance id is recorded" "$ROOT/var/lib/kiln/instance-id" "$NEW_ID\\n"
check_file "previous-instance-id holds the old id" "$ROOT/var/lib/kiln/previous-instance-id" "$OLD_ID\\n"
check_eq "status.json names the new instance" "$NEW_ID" "$(json_get "$ROOT/run/kiln/status.json" 'd["instance_id"]')"

case_begin "libcurl missing"
ROOT=$(new_root)
make_ec2 "$ROOT"
start_mock "$SAME"
KILN_TEST_LIBCURL=libnosuch.so.9 run_kiln "$ROOT"
stop_mock
check_run_result 1 error 1
check_contains "status.json says why libcurl was not loaded" "$(diagnostics errors)" \
        "failed to set up an HTTP client: cannot load libcurl (libnosuch.so.9): libnosuch.so.9: cannot open shared object file"
kiln_status "$ROOT" --long
check_contains "'kiln status' says why libcurl was not loaded" "$STATUS_OUT" "cannot load libcurl (libnosuch.so.9)"
