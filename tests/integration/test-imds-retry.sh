#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Retries against the mock metadata service: 429 with Retry-After, slow answers, a service that
# comes up late, and one that never answers. These cases wait on purpose, so they live in their
# own file; max_wait is shortened in kiln.yaml where the case needs a deadline.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Cases that wait for the deadline use this max_wait instead of the default 120 s.
SHORT_MAX_WAIT=6

net_setup

USER_DATA=$WORK/user-data
printf '#cloud-config\nruncmd:\n  - touch /run/b27\n' > "$USER_DATA"

retry_root() {
        ROOT=$(new_root)
        make_ec2 "$ROOT"
}

# The highest average rate, in requests per second, at which one path was asked for again:
# for each method and path asked more than once, (requests - 1) / (last time - first time).
REPEAT_RATE='max([(len(t) - 1) / max(t[-1] - t[0], 1e-6) for t in [sorted(r["time"] for r in requests if (r["method"], r["path"]) == k) for k in {(r["method"], r["path"]) for r in requests}] if len(t) > 1] or [0])'

# run_kiln_traced: run kiln on $ROOT under strace, recording its connect() calls in $ROOT.strace.
# Sets KILN_RC. Returns 1 without running kiln when strace is missing.
run_kiln_traced() {
        command -v strace >/dev/null || return 1
        # LeakSanitizer cannot work under ptrace, so a sanitizer build checks leaks in other cases.
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
                strace -f -qq -ttt -e trace=connect -o "$ROOT.strace" "$KILN" run --root "$ROOT" >"$ROOT.out" 2>&1
        KILN_RC=$?
        return 0
}

# connect_rate: the highest average rate, in attempts per second, of connect() calls to one
# metadata address in $ROOT.strace: (attempts - 1) / (last time - first time), then the number
# of attempts to all addresses.
connect_rate() {
        /usr/bin/python3 - "$ROOT.strace" <<'PYTHON'
import collections, re, sys
times = collections.defaultdict(list)
pattern = re.compile(r'(\d+\.\d+) connect\(.*?(?:inet_addr\("([0-9.]+)"\)|inet_pton\(AF_INET6, "([0-9a-fA-F:]+)")')
for line in open(sys.argv[1]):
    m = pattern.search(line)
    if m:
        times[m.group(2) or m.group(3)].append(float(m.group(1)))
rates = [(len(t) - 1) / max(t[-1] - t[0], 1e-6) for t in times.values() if len(t) > 1]
print("%.3f %d" % (max(rates or [0]), sum(len(t) for t in times.values())))
PYTHON
}

case_begin "429 with Retry-After"
retry_root
start_mock "$(scenario <<EOF
{
  "description": "The first 3 GETs of instance-id get 429 with Retry-After: 2.",
  "user_data_file": "$USER_DATA",
  "faults": [{"type": "status", "status": 429, "count": 3, "retry_after": 2, "method": "GET",
              "path": "/latest/meta-data/instance-id"}]
}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/b27"
check_eq "exactly 4 requests for instance-id" 4 \
        "$(mock_query 'len([r for r in gets if r["path"] == "/latest/meta-data/instance-id"])')"
check_le "at least 2 s between retries" 1.95 \
        "$(mock_query 'min([t[i + 1] - t[i] for t in [[r["time"] for r in gets if r["path"] == "/latest/meta-data/instance-id"]] for i in range(len(t) - 1)] or [0])')"
check_le "repeated requests average at most 1 per second" "$(mock_query "$REPEAT_RATE")" 1

case_begin "slow answers"
retry_root
start_mock "$(scenario <<EOF
{
  "description": "The first 2 requests are answered after 8 s.",
  "user_data_file": "$USER_DATA",
  "faults": [{"type": "delay", "seconds": 8, "count": 2}]
}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/b27"
check_eq "the mock delayed 2 requests" 2 "$(mock_query 'sum(r["fault"] == "delay" for r in requests)')"
check_le "repeated requests average at most 1 per second" "$(mock_query "$REPEAT_RATE")" 1

case_begin "service up after a few seconds"
retry_root
start_mock "$(scenario <<EOF
{
  "description": "Connections are refused for the first 3 s, then normal service.",
  "user_data_file": "$USER_DATA",
  "faults": [{"type": "refuse", "seconds": 3}]
}
EOF
)"
started=$(now)
if run_kiln_traced; then
        traced=1
else
        traced=0
        run_kiln "$ROOT"
fi
elapsed=$(seconds_since "$started")
stop_mock
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/b27"
check_le "kiln waited for the service" 2.9 "$elapsed"
# The backoff doubles from 1 s, so the service is found by the round that starts at 4 to 7 s.
check_le "kiln found the service within 10 s" "$elapsed" 10
if [ "$traced" = 1 ]; then
        read -r rate attempts < <(connect_rate)
        check_le "strace saw kiln retry the connection" 3 "$attempts"
        check_le "connection attempts per endpoint average at most 1 per second" "$rate" 1
else
        echo "skip $CASE: connection attempt rate (strace is not installed)"
fi

case_begin "service never reachable"
retry_root
kiln_config "$ROOT" <<EOF
datasource:
  ec2:
    max_wait: $SHORT_MAX_WAIT
EOF
# Nothing listens on the metadata addresses in this namespace, so every connection is refused.
started=$(now)
if run_kiln_traced; then
        traced=1
else
        traced=0
        run_kiln "$ROOT"
fi
elapsed=$(seconds_since "$started")
check_run_result 1 error 1
check_le "kiln gave up no earlier than max_wait - 10 %" "$(awk -v w=$SHORT_MAX_WAIT 'BEGIN { print w * 0.9 }')" "$elapsed"
check_le "kiln gave up by max_wait + 10 %" "$elapsed" "$(awk -v w=$SHORT_MAX_WAIT 'BEGIN { print w * 1.1 }')"
check_contains "the error names the endpoint" "$(diagnostics errors)" "169.254.169.254"
check_contains "the error gives the last error" "$(diagnostics errors | tr 'A-Z' 'a-z')" "connect"
check_absent "runcmd did not run" "$ROOT/run/b27"
check_absent "no instance id is recorded" "$ROOT/var/lib/kiln/instance-id"
if [ "$traced" = 1 ]; then
        read -r rate attempts < <(connect_rate)
        check_le "strace saw kiln retry the connection" 3 "$attempts"
        check_le "connection attempts per endpoint average at most 1 per second" "$rate" 1
else
        echo "skip $CASE: connection attempt rate (strace is not installed)"
fi

case_begin "service accepts but never answers"
retry_root
kiln_config "$ROOT" <<EOF
datasource:
  ec2:
    max_wait: $SHORT_MAX_WAIT
EOF
start_mock "$(scenario <<EOF
{
  "description": "Every request is held for an hour.",
  "faults": [{"type": "delay", "seconds": 3600, "count": 1000}]
}
EOF
)"
started=$(now)
run_kiln "$ROOT"
elapsed=$(seconds_since "$started")
stop_mock
check_run_result 1 error 1
check_le "kiln gave up by max_wait + 10 %" "$elapsed" "$(awk -v w=$SHORT_MAX_WAIT 'BEGIN { print w * 1.1 }')"
check_contains "the error names the endpoint" "$(diagnostics errors)" "169.254.169.254"
check_absent "no instance id is recorded" "$ROOT/var/lib/kiln/instance-id"
