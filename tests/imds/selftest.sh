#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Self-test of the mock EC2 metadata service (tests/imds/mock-imds.py).
#
# The script re-runs itself in a private network namespace (unshare -n),
# puts 169.254.169.254 and fd00:ec2::254 on that namespace's loopback device,
# and starts the mock there once per scenario. Every rule of the mock is
# checked with curl. No packet leaves the namespace.
#
# Output: one line per check, then "N passed, N failed".
# Exit status: 0 when every check passed, 1 when one failed, 77 when the
# namespace or a required tool is not available (the meson "skipped" code).

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOCK=$HERE/mock-imds.py
PYTHON=/usr/bin/python3
IPV4=169.254.169.254
IPV6=fd00:ec2::254
# Maximum time, in seconds, that a started mock may take to write its ready file.
READY_TIMEOUT_SECONDS=10

if [[ ${KILN_IMDS_SELFTEST_IN_NAMESPACE:-} != 1 ]]; then
        for tool in curl ip unshare "$PYTHON"; do
                if ! command -v "$tool" >/dev/null; then
                        echo "selftest: '$tool' not found, skipping."
                        exit 77
                fi
        done
        # Without root, a user namespace maps the caller to root so that
        # the mock may bind port 80 inside the new network namespace.
        if [[ $EUID -eq 0 ]]; then
                namespace=(unshare --net)
        else
                namespace=(unshare --map-root-user --net)
        fi
        if ! "${namespace[@]}" true 2>/dev/null; then
                echo "selftest: cannot create a network namespace with '${namespace[*]}', skipping."
                exit 77
        fi
        KILN_IMDS_SELFTEST_IN_NAMESPACE=1 exec "${namespace[@]}" "$BASH" "${BASH_SOURCE[0]}" "$@"
fi

ip link set lo up || exit 1
ip addr add "$IPV4/32" dev lo || exit 1
ip -6 addr add "$IPV6/128" dev lo nodad || exit 1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-imds-selftest.XXXXXX") || exit 1
MOCK_PID=
MOCK_RUNS=0
LOG=
PASSED=0
FAILED=0

cleanup() {
        if [[ -n $MOCK_PID ]]; then
                kill -TERM "$MOCK_PID" 2>/dev/null
                wait "$MOCK_PID" 2>/dev/null
        fi
        rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass() {
        PASSED=$((PASSED + 1))
        echo "ok   $1"
}

fail() {
        FAILED=$((FAILED + 1))
        echo "FAIL $1: $2"
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
        if [[ $2 == "$3" ]]; then
                pass "$1"
        else
                fail "$1" "expected '$2', got '$3'"
        fi
}

# check_line NAME LINE TEXT: TEXT has LINE as one of its lines.
check_line() {
        if grep -qxF -- "$2" <<<"$3"; then
                pass "$1"
        else
                fail "$1" "no line '$2' in '$3'"
        fi
}

# start_mock SCENARIO_FILE [MOCK_ARGS...]: start the mock and wait until it is ready.
start_mock() {
        local scenario=$1 ready
        shift
        MOCK_RUNS=$((MOCK_RUNS + 1))
        LOG=$WORK/log-$MOCK_RUNS.jsonl
        ready=$WORK/ready-$MOCK_RUNS
        "$PYTHON" "$MOCK" --scenario "$scenario" --log "$LOG" --ready-file "$ready" "$@" \
                2>"$WORK/mock-$MOCK_RUNS.stderr" &
        MOCK_PID=$!
        local deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
        while [[ ! -e $ready ]]; do
                if ! kill -0 "$MOCK_PID" 2>/dev/null || ((SECONDS >= deadline)); then
                        echo "selftest: the mock did not become ready with '$scenario':" >&2
                        cat "$WORK/mock-$MOCK_RUNS.stderr" >&2
                        exit 1
                fi
                sleep 0.05
        done
}

# stop_mock: stop the mock with SIGTERM and set MOCK_RC to its exit status.
stop_mock() {
        kill -TERM "$MOCK_PID"
        wait "$MOCK_PID"
        MOCK_RC=$?
        MOCK_PID=
}

# scenario NAME JSON: write an inline scenario and print its path.
scenario() {
        printf '%s\n' "$2" >"$WORK/$1.json"
        echo "$WORK/$1.json"
}

# http METHOD URL [CURL_ARGS...]: send one request. Sets STATUS, BODY,
# BODY_SIZE (bytes received) and CURL_RC; the response headers are in
# $WORK/headers.
http() {
        local method=$1 url=$2
        shift 2
        local method_args=(-X "$method")
        [[ $method == HEAD ]] && method_args=(--head)
        local result
        CURL_RC=0
        result=$(curl --silent --noproxy '*' --max-time 10 "${method_args[@]}" \
                --output "$WORK/body" --dump-header "$WORK/headers" \
                --write-out '%{http_code} %{size_download}' "$@" "$url") || CURL_RC=$?
        STATUS=${result% *}
        BODY_SIZE=${result#* }
        # Shell variables cannot hold NUL bytes; tests of binary bodies read $WORK/body.
        BODY=$(tr -d '\000' <"$WORK/body" 2>/dev/null)
}

# header NAME: the value of a response header of the last request.
header() {
        grep -i "^$1:" "$WORK/headers" | head -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'
}

get_token() {
        curl --silent --noproxy '*' --max-time 10 -X PUT \
                -H "X-aws-ec2-metadata-token-ttl-seconds: ${1:-21600}" "http://$IPV4/latest/api/token"
}

# log_field FIELD PATH: FIELD of every logged request for PATH, one per line.
log_field() {
        "$PYTHON" - "$LOG" "$1" "$2" <<'EOF'
import json
import sys

log, field, path = sys.argv[1:]
with open(log, encoding="utf-8") as f:
    for line in f:
        entry = json.loads(line)
        if entry["path"] == path:
            value = entry[field]
            print(json.dumps(value) if isinstance(value, (dict, list)) or value is None else value)
EOF
}

now() {
        date +%s.%N
}

# elapsed START: seconds since START, with two decimals.
elapsed() {
        awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.2f", end - start }'
}

# at_least NAME MINIMUM VALUE / at_most NAME MAXIMUM VALUE (decimal seconds)
at_least() {
        if awk -v v="$3" -v m="$2" 'BEGIN { exit !(v >= m) }'; then
                pass "$1"
        else
                fail "$1" "expected at least $2, got $3"
        fi
}

at_most() {
        if awk -v v="$3" -v m="$2" 'BEGIN { exit !(v <= m) }'; then
                pass "$1"
        else
                fail "$1" "expected at most $2, got $3"
        fi
}

MD=http://$IPV4/latest/meta-data
INSTANCE_ID=i-0123456789abcdef0

test_token_route() {
        http PUT "http://$IPV4/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 0"
        check_eq "token ttl 0 is rejected with 400" 400 "$STATUS"
        http PUT "http://$IPV4/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 21601"
        check_eq "token ttl 21601 is rejected with 400" 400 "$STATUS"
        http PUT "http://$IPV4/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 1e3"
        check_eq "token ttl '1e3' is rejected with 400" 400 "$STATUS"
        http PUT "http://$IPV4/latest/api/token"
        check_eq "token without ttl is rejected with 400" 400 "$STATUS"
        http PUT "http://$IPV4/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60" \
                -H "X-Forwarded-For: 192.0.2.99"
        check_eq "token through a proxy is rejected with 403" 403 "$STATUS"
        http GET "http://$IPV4/latest/api/token"
        check_eq "token route GET gets 405" 405 "$STATUS"
        check_eq "token route 405 names the allowed methods" "OPTIONS, PUT" "$(header Allow)"

        http PUT "http://$IPV4/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 21600"
        check_eq "token ttl 21600 is accepted" 200 "$STATUS"
        check_eq "token response echoes the ttl" 21600 "$(header X-aws-ec2-metadata-token-ttl-seconds)"
        check_eq "token response is text/plain" text/plain "$(header Content-Type)"
        local token=$BODY
        if [[ $token =~ ^[A-Za-z0-9_=-]{20,}$ ]]; then
                pass "token is a random printable string"
        else
                fail "token is a random printable string" "got '$token'"
        fi
        check_eq "second token differs from the first" yes \
                "$([[ $(get_token 60) != "$token" ]] && echo yes || echo no)"

        http GET "$MD/instance-id" -H "X-aws-ec2-metadata-token: $token"
        check_eq "GET with token gets 200" 200 "$STATUS"
        check_eq "GET with token returns the instance id" "$INSTANCE_ID" "$BODY"
        http GET "$MD/instance-id"
        check_eq "optional mode: GET without token gets 200" 200 "$STATUS"
        http GET "$MD/instance-id" -H "X-aws-ec2-metadata-token: AQAEnotatoken=="
        check_eq "optional mode: GET with unknown token gets 401" 401 "$STATUS"
        check_eq "log records the token state of an unknown token" unknown \
                "$(log_field token /latest/meta-data/instance-id | tail -n 1)"

        token=$(get_token 1)
        sleep 1.2
        http GET "$MD/instance-id" -H "X-aws-ec2-metadata-token: $token"
        check_eq "token expires after its ttl" 401 "$STATUS"
}

test_data() {
        http GET "$MD/"
        check_line "meta-data listing names instance-id" instance-id "$BODY"
        check_line "meta-data listing marks directories with a slash" placement/ "$BODY"
        check_eq "listing has no trailing newline" "" "$(tail -c 1 "$WORK/body" | tr -d -c '\n')"
        http GET "$MD/placement/"
        check_eq "intermediate directory lists its children" \
                "$(printf 'availability-zone\navailability-zone-id\nregion')" "$BODY"
        http GET "$MD/placement"
        check_eq "directory without trailing slash is listed too" 200 "$STATUS"
        http GET "$MD/placement/region"
        check_eq "placement/region" us-east-1 "$BODY"
        http GET "$MD/local-hostname"
        check_eq "local-hostname" ip-192-0-2-10.ec2.internal "$BODY"

        http GET "$MD/public-keys/"
        check_eq "public-keys lists index=name" 0=test-key "$BODY"
        http GET "$MD/public-keys/0/"
        check_eq "public key directory lists openssh-key" openssh-key "$BODY"
        http GET "$MD/public-keys/0/openssh-key"
        check_eq "openssh-key value" "ssh-ed25519 AAAA...test test-key" "$BODY"

        http GET "http://$IPV4/latest/user-data"
        check_eq "no user data gets 404" 404 "$STATUS"
        check_eq "404 body is EC2's XHTML page" '<?xml version="1.0" encoding="iso-8859-1"?>' \
                "$(head -n 1 "$WORK/body")"
        check_line "404 body names the status" "  <h1>404 - Not Found</h1>" "$BODY"
        http GET "$MD/no-such-key"
        check_eq "unknown path gets 404" 404 "$STATUS"

        http GET "http://$IPV4/latest/dynamic/instance-identity/document"
        check_eq "identity document instanceId" "$INSTANCE_ID" \
                "$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["instanceId"])' <"$WORK/body")"
        check_eq "identity document region" us-east-1 \
                "$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["region"])' <"$WORK/body")"

        http GET "http://$IPV4/"
        check_line "root lists the latest version" latest "$BODY"
        http GET "http://$IPV4/latest/"
        check_eq "latest lists the categories" "$(printf 'dynamic\nmeta-data')" "$BODY"
        http GET "http://$IPV4/2021-03-23/meta-data/instance-id"
        check_eq "dated API version serves the same data" "$INSTANCE_ID" "$BODY"

        http HEAD "$MD/instance-id"
        check_eq "HEAD gets 200" 200 "$STATUS"
        check_eq "HEAD declares the body length" ${#INSTANCE_ID} "$(header Content-Length)"
        check_eq "HEAD sends no body" 0 "$BODY_SIZE"
        http POST "$MD/instance-id"
        check_eq "POST on a data path gets 405" 405 "$STATUS"
}

test_ipv6_and_log() {
        http GET "http://[$IPV6]/latest/meta-data/instance-id?via=ipv6"
        check_eq "IPv6 address serves metadata" "$INSTANCE_ID" "$BODY"
        check_eq "log records the IPv6 server address" "$IPV6" \
                "$(log_field server_address '/latest/meta-data/instance-id?via=ipv6')"

        curl --silent --noproxy '*' --max-time 10 --output /dev/null --output /dev/null \
                "$MD/instance-id?keepalive=1" "$MD/local-hostname?keepalive=2"
        local first second
        first=$(log_field connection_id '/latest/meta-data/instance-id?keepalive=1')
        second=$(log_field connection_id '/latest/meta-data/local-hostname?keepalive=2')
        check_eq "keep-alive: two requests share one connection id" "$first" "$second"
        curl --silent --noproxy '*' --max-time 10 --output /dev/null "$MD/instance-id?keepalive=3"
        check_eq "new connection gets a new connection id" yes \
                "$([[ $(log_field connection_id '/latest/meta-data/instance-id?keepalive=3') != "$first" ]] \
                        && echo yes || echo no)"

        http GET "$MD/instance-id?logged=1" -H "X-aws-ec2-metadata-token: AQAElogged=="
        check_eq "log records request headers" AQAElogged== \
                "$(log_field headers '/latest/meta-data/instance-id?logged=1' |
                        "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["X-aws-ec2-metadata-token"])')"
        check_eq "log records the status sent" 401 "$(log_field status '/latest/meta-data/instance-id?logged=1')"
        check_eq "log records the client address" "$IPV4" \
                "$(log_field client_address '/latest/meta-data/instance-id?logged=1')"
        check_eq "log records the method" GET "$(log_field method '/latest/meta-data/instance-id?logged=1')"
}

test_default_scenario() {
        start_mock "$HERE/scenarios/default.json"
        test_token_route
        test_data
        test_ipv6_and_log

        local start
        start=$(now)
        stop_mock
        check_eq "mock exits 0 on SIGTERM" 0 "$MOCK_RC"
        at_most "mock exits promptly on SIGTERM" 2 "$(elapsed "$start")"
}

test_token_modes() {
        local token i

        start_mock "$HERE/scenarios/tokens-required.json"
        http GET "$MD/instance-id"
        check_eq "required mode: GET without token gets 401" 401 "$STATUS"
        token=$(get_token 60)
        http GET "$MD/instance-id" -H "X-aws-ec2-metadata-token: $token"
        check_eq "required mode: GET with token gets 200" 200 "$STATUS"
        check_eq "required mode: GET returns the remaining ttl" yes \
                "$([[ $(header X-aws-ec2-metadata-token-ttl-seconds) =~ ^(59|60)$ ]] && echo yes || echo no)"
        http GET "$MD/instance-id" -H "X-aws-ec2-metadata-token: ${token}x"
        check_eq "required mode: GET with a wrong token gets 401" 401 "$STATUS"
        stop_mock

        start_mock "$(scenario max-uses '{"tokens": "required", "token_max_uses": 3}')"
        token=$(get_token 60)
        for i in 1 2 3; do
                http GET "$MD/instance-id" -H "X-aws-ec2-metadata-token: $token"
                check_eq "max_uses: GET $i of 3 with the token gets 200" 200 "$STATUS"
        done
        http GET "$MD/instance-id" -H "X-aws-ec2-metadata-token: $token"
        check_eq "max_uses: GET 4 with the used-up token gets 401" 401 "$STATUS"
        http GET "$MD/instance-id" -H "X-aws-ec2-metadata-token: $(get_token 60)"
        check_eq "max_uses: a new token works again" 200 "$STATUS"
        stop_mock

        start_mock "$HERE/scenarios/imdsv1-only.json"
        http PUT "http://$IPV4/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60"
        check_eq "IMDSv1 only: token PUT gets 403" 403 "$STATUS"
        http GET "$MD/instance-id"
        check_eq "IMDSv1 only: GET without token gets 200" 200 "$STATUS"
        stop_mock

        start_mock "$HERE/scenarios/disabled.json"
        http PUT "http://$IPV4/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60"
        check_eq "disabled: token PUT gets 403" 403 "$STATUS"
        for i in 1 2 3; do
                http GET "$MD/instance-id"
                check_eq "disabled: GET $i gets 403" 403 "$STATUS"
        done
        stop_mock

        start_mock "$(scenario put-404 '{"tokens": "required", "token_put_status": 404}')"
        http PUT "http://$IPV4/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60"
        check_eq "token_put_status forces the PUT status" 404 "$STATUS"
        stop_mock

        start_mock "$(scenario fixed-token '{"tokens": "required", "token_value": "AQAEexampletoken=="}')"
        check_eq "token_value fixes the token" AQAEexampletoken== "$(get_token 60)"
        http GET "$MD/instance-id" -H "X-aws-ec2-metadata-token: AQAEexampletoken=="
        check_eq "fixed token is accepted" 200 "$STATUS"
        stop_mock
}

test_refuse() {
        local start
        start=$(now)
        start_mock "$(scenario refuse '{"faults": [{"type": "refuse", "seconds": 2}]}')"
        at_most "refuse: ready file is written at start" 1 "$(elapsed "$start")"
        http GET "$MD/instance-id"
        check_eq "refuse: connection is refused at first (curl exit 7)" 7 "$CURL_RC"
        while http GET "$MD/instance-id"; [[ $CURL_RC -ne 0 ]]; do
                if awk -v e="$(elapsed "$start")" 'BEGIN { exit !(e > 6) }'; then
                        break
                fi
                sleep 0.1
        done
        check_eq "refuse: service answers after the refusal window" 200 "$STATUS"
        at_least "refuse: nothing listened for 2 seconds" 1.9 "$(elapsed "$start")"
        stop_mock
}

test_status_burst() {
        start_mock "$(scenario burst '{"faults": [{"type": "status", "status": 503, "count": 2,
                "retry_after": 1, "path": "/latest/meta-data/instance-id"}]}')"
        http GET "$MD/local-hostname"
        check_eq "status fault leaves other paths alone" 200 "$STATUS"
        http GET "$MD/instance-id"
        check_eq "status fault: first request gets 503" 503 "$STATUS"
        check_eq "status fault: Retry-After is sent" 1 "$(header Retry-After)"
        local codes
        codes=$(curl --silent --noproxy '*' --max-time 10 --output /dev/null --output /dev/null \
                --write-out '%{http_code} ' "$MD/instance-id?burst=2" "$MD/instance-id?burst=3")
        check_eq "status fault: second 503, then 200" "503 200 " "$codes"
        check_eq "status fault: connection stays alive after 503" \
                "$(log_field connection_id '/latest/meta-data/instance-id?burst=2')" \
                "$(log_field connection_id '/latest/meta-data/instance-id?burst=3')"
        check_eq "log records the fault" status "$(log_field fault '/latest/meta-data/instance-id?burst=2')"
        check_eq "log records no fault once the burst is over" null \
                "$(log_field fault '/latest/meta-data/instance-id?burst=3')"
        stop_mock
}

test_delay() {
        start_mock "$(scenario delay '{"faults": [{"type": "delay", "seconds": 1.5, "count": 1,
                "path": "/latest/meta-data/instance-id"}]}')"
        local start delayed_pid
        start=$(now)
        curl --silent --noproxy '*' --max-time 10 --output "$WORK/delayed" "$MD/instance-id" &
        delayed_pid=$!
        sleep 0.2
        http GET "$MD/local-hostname"
        at_most "delay: other connections are served meanwhile" 1 "$(elapsed "$start")"
        wait "$delayed_pid"
        at_least "delay: matching request is answered after 1.5 s" 1.45 "$(elapsed "$start")"
        check_eq "delay: delayed request gets the data" "$INSTANCE_ID" "$(cat "$WORK/delayed")"
        start=$(now)
        http GET "$MD/instance-id"
        at_most "delay: next request is answered at once" 0.5 "$(elapsed "$start")"
        stop_mock
}

test_truncate_and_close() {
        start_mock "$(scenario truncate '{"faults": [{"type": "truncate", "count": 1,
                "path": "/latest/meta-data/local-hostname"}]}')"
        http GET "$MD/local-hostname"
        check_eq "truncate: curl reports a partial body (exit 18)" 18 "$CURL_RC"
        check_eq "truncate: Content-Length declares the full body" 26 "$(header Content-Length)"
        check_eq "truncate: half of the body arrives" 13 "$BODY_SIZE"
        http GET "$MD/local-hostname"
        check_eq "truncate: next response is whole" ip-192-0-2-10.ec2.internal "$BODY"
        stop_mock

        start_mock "$(scenario close '{"faults": [{"type": "close", "count": 1}]}')"
        http GET "$MD/instance-id"
        check_eq "close: curl gets an empty reply (exit 52)" 52 "$CURL_RC"
        check_eq "close: log records no status" null "$(log_field status /latest/meta-data/instance-id | head -n 1)"
        http GET "$MD/instance-id"
        check_eq "close: next request gets 200" 200 "$STATUS"
        stop_mock
}

test_status_all() {
        start_mock "$(scenario status-all '{"faults": [{"type": "status_all", "status": 503, "method": "GET"}]}')"
        local i
        for i in 1 2 3; do
                http GET "$MD/instance-id"
                check_eq "status_all: GET $i gets 503" 503 "$STATUS"
        done
        http PUT "http://$IPV4/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 60"
        check_eq "status_all limited to GET leaves the PUT alone" 200 "$STATUS"
        stop_mock
}

test_scenario_data() {
        printf '#cloud-config\r\nruncmd:\r\n  - [touch, /run/x]\r\n\000\377' >"$WORK/user-data.bin"
        start_mock "$(scenario data '{
                "user_data_file": "user-data.bin",
                "tags": {"Name": "web-1", "Role": "web"},
                "public_keys": {},
                "paths": {
                        "/latest/meta-data/instance-id": "i-0fedcba9876543210",
                        "/latest/meta-data/placement/region": null,
                        "/latest/meta-data/custom": {"status": 500, "headers": {"X-Test": "yes"}},
                        "/latest/meta-data/blob": {"body_base64": "AAEC"}
                }}')"
        curl --silent --noproxy '*' --max-time 10 --output "$WORK/user-data.served" "http://$IPV4/latest/user-data"
        if cmp -s "$WORK/user-data.bin" "$WORK/user-data.served"; then
                pass "user_data_file is served byte for byte"
        else
                fail "user_data_file is served byte for byte" "the served bytes differ"
        fi
        http GET "http://$IPV4/latest/"
        check_line "latest lists user-data when it exists" user-data "$BODY"

        http GET "$MD/tags/instance/"
        check_eq "tags are listed" "$(printf 'Name\nRole')" "$BODY"
        http GET "$MD/tags/instance/Name"
        check_eq "tag value" web-1 "$BODY"
        http GET "$MD/"
        check_line "meta-data lists tags/ when tags are set" tags/ "$BODY"

        http GET "$MD/instance-id"
        check_eq "paths override the default value" i-0fedcba9876543210 "$BODY"
        http GET "http://$IPV4/latest/dynamic/instance-identity/document"
        check_eq "identity document follows the overridden instance id" i-0fedcba9876543210 \
                "$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["instanceId"])' <"$WORK/body")"
        http GET "$MD/placement/region"
        check_eq "path mapped to null gets 404" 404 "$STATUS"
        http GET "$MD/placement/"
        check_eq "removed path leaves the listing" "$(printf 'availability-zone\navailability-zone-id')" "$BODY"
        http GET "$MD/custom"
        check_eq "path object sets the status" 500 "$STATUS"
        check_eq "path object sets headers" yes "$(header X-Test)"
        http GET "$MD/blob"
        check_eq "body_base64 is decoded" "00 01 02" "$(od -An -tx1 "$WORK/body" | tr -s ' ' | sed 's/^ //')"
        http GET "$MD/public-keys/"
        check_eq "no public keys: public-keys/ gets 404" 404 "$STATUS"
        stop_mock

        if [[ -e $HERE/../../examples/user-data.yaml ]]; then
                start_mock "$HERE/scenarios/example.json"
                curl --silent --noproxy '*' --max-time 10 --output "$WORK/example.served" \
                        "http://$IPV4/latest/user-data"
                if cmp -s "$HERE/../../examples/user-data.yaml" "$WORK/example.served"; then
                        pass "example scenario serves examples/user-data.yaml"
                else
                        fail "example scenario serves examples/user-data.yaml" "the served bytes differ"
                fi
                stop_mock
        else
                echo "skip example scenario: examples/user-data.yaml does not exist"
        fi
}

test_invalid_scenarios() {
        local rc
        "$PYTHON" "$MOCK" --scenario "$(scenario bad-mode '{"tokens": "sometimes"}')" \
                --listen 127.0.0.1:8080 2>"$WORK/stderr"
        rc=$?
        check_eq "invalid token mode: mock exits 2" 2 "$rc"
        check_eq "invalid token mode: error names the key" yes \
                "$(grep -q "tokens: expected one of" "$WORK/stderr" && echo yes || echo no)"
        "$PYTHON" "$MOCK" --scenario "$(scenario bad-key '{"token_ttl": 5}')" \
                --listen 127.0.0.1:8080 2>"$WORK/stderr"
        check_eq "unknown scenario key: mock exits 2" 2 "$?"
        "$PYTHON" "$MOCK" --scenario "$(scenario bad-fault '{"faults": [{"type": "status", "count": 2}]}')" \
                --listen 127.0.0.1:8080 2>"$WORK/stderr"
        check_eq "fault without status: mock exits 2" 2 "$?"
}

test_default_scenario
test_token_modes
test_refuse
test_status_burst
test_delay
test_truncate_and_close
test_status_all
test_scenario_data
test_invalid_scenarios

echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
