#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The IMDSv2 token handshake against the mock metadata service: tokens required, a token
# rejected part-way, IMDSv1 fallback, a disabled endpoint and a service that rejects every token.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOKEN_HEADER=X-aws-ec2-metadata-token
TTL_HEADER=X-aws-ec2-metadata-token-ttl-seconds
INSTANCE_ID=i-0123456789abcdef0

net_setup

USER_DATA=$WORK/user-data
printf '#cloud-config\nruncmd:\n  - touch /run/b25\n' > "$USER_DATA"

# tokens_root: a fresh EC2 root in $ROOT.
tokens_root() {
        ROOT=$(new_root)
        make_ec2 "$ROOT"
}

case_begin "tokens required"
tokens_root
start_mock "$(scenario <<EOF
{"description": "Tokens required.", "tokens": "required", "user_data_file": "$USER_DATA"}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/b25"
check_eq "the first request is the token PUT" "PUT /latest/api/token" \
        "$(mock_query 'requests[0]["method"] + " " + requests[0]["path"]')"
check_eq "the token PUT asks for a TTL from 1 to 21600 s" True \
        "$(mock_query "(header(requests[0], '$TTL_HEADER') or '').isdigit() and 1 <= int(header(requests[0], '$TTL_HEADER')) <= 21600")"
check_eq "one token PUT" 1 "$(mock_query 'len(puts)')"
check_eq "every GET carries the token" True "$(mock_query "len(gets) > 0 and all(header(r, '$TOKEN_HEADER') for r in gets)")"
check_eq "no request was rejected with 401" 0 "$(mock_query 'sum(r["status"] == 401 for r in requests)')"

# The fourth GET is rejected with 401, as when the service invalidates a token after three GETs.
# Faults do it because the mock's token_max_uses would also end every later token: the first
# three GETs use up a fault that delays them by 0 s, the fourth gets the 401.
case_begin "token rejected after three GETs"
tokens_root
start_mock "$(scenario <<EOF
{
  "description": "Tokens required; the fourth GET is rejected with HTTP 401 once.",
  "tokens": "required",
  "user_data_file": "$USER_DATA",
  "faults": [
    {"type": "delay", "seconds": 0, "count": 3, "method": "GET"},
    {"type": "status", "status": 401, "count": 1, "method": "GET"}
  ]
}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/b25"
check_eq "the rejection came after three GETs" 3 \
        "$(mock_query 'next((i for i, r in enumerate(gets) if r["status"] == 401), None)')"
check_eq "exactly 2 token PUTs" 2 "$(mock_query 'len(puts)')"
check_eq "the second PUT follows the 401" True \
        "$(mock_query '401 in [r["status"] for r in requests] and requests[[r["status"] for r in requests].index(401) + 1]["method"] == "PUT"')"
check_eq "GETs after the renewal carry the new token" 2 \
        "$(mock_query "len({header(r, '$TOKEN_HEADER') for r in gets})")"
check_eq "the rejected path is asked again and answered" "[401, 200]" \
        "$(mock_query '[r["status"] for r in gets if r["path"] == next(g["path"] for g in gets if g["status"] == 401)]')"

case_begin "IMDSv2 unavailable, IMDSv1 works"
tokens_root
start_mock "$(scenario <<EOF
{"description": "The token PUT gets 403, GETs without a token work.", "tokens": "unsupported",
 "token_put_status": 403, "user_data_file": "$USER_DATA"}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/b25"
check_grep "kiln logs that IMDSv2 is unavailable" "IMDSv2 is unavailable" "$ROOT.out"
check_eq "one token PUT" 1 "$(mock_query 'len(puts)')"
check_eq "no GET carries a token" True "$(mock_query "len(gets) > 0 and not any(header(r, '$TOKEN_HEADER') for r in gets)")"

case_begin "metadata endpoint disabled"
tokens_root
# A recorded instance id without cached data: kiln must leave it as it is.
mkdir -p "$ROOT/var/lib/kiln"
printf '%s\n' "$INSTANCE_ID" > "$ROOT/var/lib/kiln/instance-id"
state_before=$(cd "$ROOT/var/lib/kiln" && find . | sort && sha256sum instance-id)
start_mock "$TOP/tests/imds/scenarios/disabled.json"
started=$(now)
run_kiln "$ROOT"
elapsed=$(seconds_since "$started")
stop_mock
check_run_result 1 error 1
check_le "kiln stops within 10 s" "$elapsed" 10
check_contains "the error says the service is disabled" "$(diagnostics errors)" "disabled"
check_contains "the error names HTTP 403" "$(diagnostics errors)" "403"
check_absent "no per-instance module ran" "$ROOT/run/b25"
check_eq "no module ran" 0 "$(json_get "$ROOT/run/kiln/status.json" 'len(d["modules"])')"
check_eq "the state directory is unchanged" "$state_before" \
        "$(cd "$ROOT/var/lib/kiln" && find . | sort && sha256sum instance-id)"

case_begin "every token rejected"
tokens_root
start_mock "$(scenario <<EOF
{
  "description": "Tokens are issued, but every GET gets 401.",
  "tokens": "required",
  "user_data_file": "$USER_DATA",
  "faults": [{"type": "status_all", "status": 401, "method": "GET"}]
}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_run_result 1 error 1
check_le "at most 3 token renewals (4 PUTs)" "$(mock_query 'len(puts)')" 4
check_contains "the error names HTTP 401" "$(diagnostics errors)" "401"
check_absent "runcmd did not run" "$ROOT/run/b25"
check_eq "no module ran" 0 "$(json_get "$ROOT/run/kiln/status.json" 'len(d["modules"])')"
check_absent "no instance id is recorded" "$ROOT/var/lib/kiln/instance-id"
