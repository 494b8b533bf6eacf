#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# #include and #include-once user data from a NoCloud seed, with the listed URLs served by the
# mock metadata service listening on 127.0.0.1 inside this test's network namespace: bodies that
# are fetched and applied, a URL that returns 404, a body over the size limit, includes nested
# deeper than the limit, and an include-once body that later runs take from the stored copy.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# The requests of kiln go to 127.0.0.1 directly, whatever proxy the environment names.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

PORT=8080
BASE=http://127.0.0.1:$PORT/latest
# Larger than the 4 MiB that kiln accepts from one URL.
BIG_BODY_SIZE=$((5 * 1024 * 1024))

# start_server SCENARIO_FILE: start the mock on 127.0.0.1:$PORT, where it serves the scenario's
# paths under /latest/ like any web server, and wait until it listens.
start_server() {
        local ready
        MOCK_LOG=$(mktemp "$WORK/server-log-XXXXXX")
        ready=$(mktemp -u "$WORK/server-ready-XXXXXX")
        /usr/bin/python3 "$MOCK" --scenario "$1" --listen "127.0.0.1:$PORT" --log "$MOCK_LOG" \
                --ready-file "$ready" >"$MOCK_LOG.out" 2>&1 &
        MOCK_PID=$!
        local i
        for i in $(seq 100); do
                [ -e "$ready" ] && return 0
                kill -0 "$MOCK_PID" 2>/dev/null || break
                sleep 0.05
        done
        echo "test-include.sh: the server did not start:" >&2
        cat "$MOCK_LOG.out" >&2
        return 1
}

# requests PATH: how many GET requests the server logged for PATH (without the query).
requests() {
        mock_query "len([r for r in gets if r['path'].split('?')[0] == '$1'])"
}

# seed_run INSTANCE_ID < USER_DATA: a fresh root in $ROOT with a NoCloud seed holding stdin as its
# user data, then `kiln run` on it.
seed_run() {
        ROOT=$(new_root)
        nocloud_seed "$ROOT" "$1"
        run_kiln "$ROOT"
}

# The served files. The chain n1 -> n2 -> ... -> n6 nests deeper than kiln allows.
/usr/bin/python3 - "$WORK/scenario.json" "$BASE" "$BIG_BODY_SIZE" <<'PYTHON'
import json, sys
path, base, big = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = {
    "/latest/a.yaml": "#cloud-config\nwrite_files:\n  - path: /run/include-a\n    content: from a.yaml\n",
    "/latest/s.sh": "#!/bin/sh\ntouch /run/include-script\n",
    "/latest/once.yaml": "#cloud-config\nbootcmd:\n  - [touch, /run/include-once]\n",
    "/latest/big.yaml": "#cloud-config\n" + "#" * big + "\n",
    "/latest/n6.yaml": "#cloud-config\nwrite_files:\n  - path: /run/include-too-deep\n    content: x\n",
}
for i in range(1, 6):
    paths["/latest/n%d" % i] = "#include\n%s/n%d%s\n" % (base, i + 1, ".yaml" if i == 5 else "")
json.dump({"description": "Files for #include tests.", "paths": paths}, open(path, "w"))
PYTHON
start_server "$WORK/scenario.json" || exit 1

case_begin "cloud-config and script included"
seed_run iid-include < <(printf '#include\n# the config, then the script\n%s\n\n%s\n' "$BASE/a.yaml" \
        "$BASE/s.sh")
check_run_result 0 done 0
check_file "write_files from the included cloud-config ran" "$ROOT/run/include-a" 'from a.yaml'
check_exists "the included script ran" "$ROOT/run/include-script"

case_begin "404 among the URLs"
seed_run iid-include-404 < <(printf '#include\n%s\n%s\n' "$BASE/missing.yaml?X-Amz-Signature=SECRETSIG" \
        "$BASE/a.yaml")
check_run_result 1 error 1
check_contains "the error names the URL without its query" "$(diagnostics errors)" "'$BASE/missing.yaml?...'"
check_contains "the error names the status" "$(diagnostics errors)" "404"
check_file "the other URL still applied" "$ROOT/run/include-a" 'from a.yaml'
check_eq "the log does not show the query" 0 "$(grep -c SECRETSIG "$ROOT.out")"
check_eq "the status does not show the query" 0 "$(grep -c SECRETSIG "$ROOT.status.json")"
check_eq "the result does not show the query" 0 "$(grep -c SECRETSIG "$ROOT/run/kiln/result.json")"

case_begin "body over the size limit"
seed_run iid-include-big < <(printf '#include\n%s/big.yaml\n' "$BASE")
check_run_result 1 error 1
check_contains "the error names the URL" "$(diagnostics errors)" "'$BASE/big.yaml'"
check_contains "the error names the limit" "$(diagnostics errors)" "limit of 4 MiB"

case_begin "libcurl missing"
fetched=$(requests /latest/a.yaml)
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-include-nocurl < <(printf '#include\n%s\n' "$BASE/a.yaml")
KILN_TEST_LIBCURL=libnosuch.so.9 run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error names the URL" "$(diagnostics errors)" "'$BASE/a.yaml'"
check_contains "the error says why libcurl was not loaded" "$(diagnostics errors)" \
        "cannot load libcurl (libnosuch.so.9): libnosuch.so.9: cannot open shared object file"
check_eq "nothing was fetched" "$fetched" "$(requests /latest/a.yaml)"

case_begin "includes nested too deep"
seed_run iid-include-deep < <(printf '#include\n%s/n1\n' "$BASE")
check_run_result 1 error 1
check_contains "the error says the includes nest too deep" "$(diagnostics errors)" "nest deeper than"
check_eq "the first level was fetched" 1 "$(requests /latest/n1)"
check_eq "the body beyond the limit was not fetched" 0 "$(requests /latest/n6.yaml)"
check_absent "nothing beyond the limit applied" "$ROOT/run/include-too-deep"

case_begin "include-once, first run"
ONCE_URL="$BASE/once.yaml?X-Amz-Signature=ONETIME"
seed_run iid-include-once < <(printf '#include-once\n%s\n' "$ONCE_URL")
check_run_result 0 done 0
check_exists "bootcmd from the included cloud-config ran" "$ROOT/run/include-once"
check_eq "the URL was fetched once" 1 "$(requests /latest/once.yaml)"
# The stored copy is named by the SHA-256 of the URL.
url_hash=$(printf '%s' "$ONCE_URL" | sha256sum | cut -c1-64)
stored=$ROOT/var/lib/kiln/instances/iid-include-once/include-once/$url_hash
check_mode "the body is stored, readable by root only" "$stored" "600 root:root"
served=$(json_get "$WORK/scenario.json" 'd["paths"]["/latest/once.yaml"]')
check_eq "the stored body is the served one" "$served" "$(cat "$stored" 2>&1)"
stop_mock

case_begin "include-once, second run without the server"
rm -f "$ROOT/run/include-once"
run_kiln "$ROOT"
check_run_result 0 done 0
check_exists "bootcmd from the stored copy ran" "$ROOT/run/include-once"
check_grep "kiln says it used the stored copy" "stored copy" "$ROOT.out"
check_eq "the log does not show the query" 0 "$(grep -c ONETIME "$ROOT.out")"
