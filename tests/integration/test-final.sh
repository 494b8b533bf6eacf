#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The end of a boot: final_message and the boot-finished file, phone_home against a local HTTP
# server, and power_state. The roots are busybox roots whose shutdown, poweroff, reboot and halt
# are fake scripts that only record their arguments, so no test can power anything off.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

VERSION=$("$KILN" version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)

# fake_power ROOT [EXIT]: replace every power command of ROOT with a script that appends its
# arguments, one a line and then "--", to ROOT/tmp/shutdown-argv, copies result.json as it was
# when it ran to ROOT/tmp/shutdown-result.json, and exits EXIT (default 0).
fake_power() {
        local root=$1 path
        for path in sbin/shutdown usr/sbin/shutdown bin/shutdown bin/poweroff bin/reboot bin/halt \
                sbin/poweroff sbin/reboot sbin/halt; do
                rm -f "$root/$path"
                cat > "$root/$path" <<SCRIPT
#!/bin/sh
# A fake power command for kiln's tests: it records its arguments and changes nothing.
printf '%s\n' "\$0" "\$@" -- >> /tmp/shutdown-argv
cp /run/kiln/result.json /tmp/shutdown-result.json
exit ${2:-0}
SCRIPT
                chmod 755 "$root/$path"
        done
}

# Refuse to go on unless every power command of ROOT is one of the fakes.
assert_fake_power() {
        local path
        for path in sbin/shutdown usr/sbin/shutdown bin/shutdown bin/poweroff bin/reboot bin/halt; do
                if ! grep -q "A fake power command" "$ROOT/$path" 2>/dev/null; then
                        echo "test-final.sh: $ROOT/$path is not the fake, refusing to run kiln" >&2
                        exit 1
                fi
        done
}

# power_run INSTANCE_ID [FAKE_EXIT] < USER_DATA: a fresh root with fake power commands and a NoCloud
# seed, then `kiln run` on it.
power_run() {
        ROOT=$(new_root)
        fake_power "$ROOT" "${2:-0}"
        assert_fake_power
        nocloud_seed "$ROOT" "$1"
        run_kiln "$ROOT"
}

# seed_run INSTANCE_ID < USER_DATA: a fresh root with a NoCloud seed, then `kiln run` on it.
seed_run() {
        ROOT=$(new_root)
        fake_power "$ROOT"
        nocloud_seed "$ROOT" "$1"
        run_kiln "$ROOT"
}

BOOT_FINISHED_RE='^[0-9]+\.[0-9]{2} - (Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} \+0000 - kiln '

case_begin "final_message default"
seed_run iid-final-default < <(printf '#cloud-config\nruncmd:\n  - [touch, /tmp/ran]\n')
check_run_result 0 done 0
check_grep "the log has the default message" \
        "kiln $VERSION finished at [A-Z][a-z]{2}, .* \\+0000\\. Datasource nocloud\\. Up [0-9]+\\.[0-9]{2} seconds" "$ROOT.out"
check_grep "boot-finished has uptime, time and version" "$BOOT_FINISHED_RE$VERSION\$" \
        "$ROOT/var/lib/kiln/instances/iid-final-default/boot-finished"
check_eq "boot-finished has one line" 1 "$(wc -l < "$ROOT/var/lib/kiln/instance/boot-finished")"
check_mode "boot-finished is 0644" "$ROOT/var/lib/kiln/instance/boot-finished" "644 root:root"
check_eq "final_message ran without changing the system" done \
        "$(json_get "$ROOT.status.json" '[m["state"] for m in d["modules"] if m["name"] == "final_message"][0]')"
first=$(cat "$ROOT/var/lib/kiln/instance/boot-finished")
sleep 1.1
run_kiln "$ROOT"
check_run_result 0 done 0
check "a second boot rewrites boot-finished" test "$first" != "$(cat "$ROOT/var/lib/kiln/instance/boot-finished")"
check_grep "a second boot logs the message again" "kiln $VERSION finished at" "$ROOT.out"

case_begin "final_message substitutions"
seed_run iid-final-basic < <(printf '#cloud-config\nfinal_message: "v=$VERSION ds=${datasource} up=$UPTIME."\n')
check_run_result 0 done 0
check_grep "basic template is rendered" "v=$VERSION ds=nocloud up=[0-9]+\\.[0-9]{2}\\.\$" "$ROOT.out"

case_begin "final_message jinja"
seed_run iid-final-jinja < <(printf '#cloud-config\nfinal_message: |\n  ## template: jinja\n  at {{timestamp}} from {{ DATASOURCE }}\n')
check_run_result 0 done 0
check_grep "jinja template is rendered" "at [A-Z][a-z]{2}, [0-9]{2} .* \\+0000 from nocloud\$" "$ROOT.out"
check "the header line is not shown" bash -c "! grep -q 'template: jinja' '$ROOT.out'"

case_begin "final_message unknown variable"
seed_run iid-final-unknown < <(printf '#cloud-config\nfinal_message: "hello $NAME"\n')
check_run_result 0 degraded 2
check_contains "the warning names the variable" "$(diagnostics warnings)" "final_message: final_message: unknown variable 'NAME'"
check_grep "the text is shown as written" 'hello \$NAME$' "$ROOT.out"
check_exists "boot-finished is written" "$ROOT/var/lib/kiln/instance/boot-finished"

case_begin "power_state reboot"
power_run iid-power-reboot < <(printf '#cloud-config\npower_state:\n  mode: reboot\n  delay: "+5"\n  message: bye now\nruncmd:\n  - [touch, /tmp/runcmd-ran]\n')
check_run_result 0 done 0
check_file "shutdown gets -r +5 and the message" "$ROOT/tmp/shutdown-argv" '/usr/sbin/shutdown\n-r\n+5\nbye now\n--\n'
check_eq "shutdown ran after result.json was final" done \
        "$(json_get "$ROOT/tmp/shutdown-result.json" 'd["status"]' 2>&1)"
check_exists "runcmd ran before" "$ROOT/tmp/runcmd-ran"
rm -f "$ROOT/tmp/shutdown-argv"
run_kiln "$ROOT"
check_run_result 0 done 0
check_absent "a second boot of the instance changes no power state" "$ROOT/tmp/shutdown-argv"

case_begin "power_state poweroff now, halt with minutes"
power_run iid-power-poweroff < <(printf '#cloud-config\npower_state:\n  mode: poweroff\n')
check_run_result 0 done 0
check_file "shutdown gets -P now" "$ROOT/tmp/shutdown-argv" '/usr/sbin/shutdown\n-P\nnow\n--\n'
power_run iid-power-halt < <(printf '#cloud-config\npower_state:\n  mode: halt\n  delay: 2\n  message: ""\n')
check_run_result 0 done 0
check_file "shutdown gets -H +2" "$ROOT/tmp/shutdown-argv" '/usr/sbin/shutdown\n-H\n+2\n--\n'

case_begin "power_state condition"
power_run iid-power-false < <(printf '#cloud-config\npower_state:\n  mode: reboot\n  condition: false\n')
check_run_result 0 done 0
check_absent "condition false: no shutdown" "$ROOT/tmp/shutdown-argv"
power_run iid-power-exit1 < <(printf '#cloud-config\npower_state:\n  mode: reboot\n  condition: "test -e /nonexistent"\n')
check_run_result 0 done 0
check_absent "condition exiting 1: no shutdown" "$ROOT/tmp/shutdown-argv"
check_grep "the log says why" "condition exited 1, so no power change" "$ROOT.out"
power_run iid-power-list < <(printf '#cloud-config\npower_state:\n  mode: reboot\n  condition: [sh, -c, "test \\"$INSTANCE_ID\\" = iid-power-list"]\n')
check_run_result 0 done 0
check_file "condition exiting 0: shutdown runs" "$ROOT/tmp/shutdown-argv" '/usr/sbin/shutdown\n-r\nnow\n--\n'

case_begin "power_state condition timeout"
start=$(now)
power_run iid-power-timeout < <(printf '#cloud-config\npower_state:\n  mode: reboot\n  timeout: 1\n  condition: "sleep 20"\n')
check_le "kiln stops waiting after the timeout" "$(seconds_since "$start")" 8
check_run_result 0 done 0
check_absent "no shutdown" "$ROOT/tmp/shutdown-argv"
check_grep "the log has a warning" "did not finish within 1 s" "$ROOT.out"

case_begin "power_state invalid mode"
power_run iid-power-mode < <(printf '#cloud-config\npower_state:\n  mode: explode\nruncmd:\n  - [touch, /tmp/runcmd-ran]\n')
check_run_result 1 error 1
check_contains "the error names power_state.mode" "$(diagnostics errors)" "power_state: power_state.mode must be poweroff, reboot or halt, not 'explode';"
check_absent "no shutdown" "$ROOT/tmp/shutdown-argv"
check_exists "runcmd still ran" "$ROOT/tmp/runcmd-ran"

case_begin "power_state invalid delay"
power_run iid-power-delay < <(printf '#cloud-config\npower_state:\n  mode: reboot\n  delay: soon\n')
check_run_result 1 error 1
check_contains "the error names power_state.delay" "$(diagnostics errors)" "power_state.delay must be 'now', '+N'"
check_absent "no shutdown" "$ROOT/tmp/shutdown-argv"

case_begin "power_state without shutdown"
ROOT=$(new_root)
fake_power "$ROOT"
rm -f "$ROOT/sbin/shutdown" "$ROOT/usr/sbin/shutdown" "$ROOT/bin/shutdown"
nocloud_seed "$ROOT" iid-power-missing < <(printf '#cloud-config\npower_state:\n  mode: reboot\n')
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error says shutdown is missing" "$(diagnostics errors)" "Failed to find shutdown in the target root"
check_absent "nothing ran" "$ROOT/tmp/shutdown-argv"

case_begin "power_state shutdown fails"
power_run iid-power-fails 3 < <(printf '#cloud-config\npower_state:\n  mode: reboot\n')
check_run_result 1 error 1
check_contains "status.json has the error" "$(diagnostics errors)" "power_state: Failed to change the power state: '/usr/sbin/shutdown' exited 3."
check_eq "result.json has the error" error "$(json_get "$ROOT/run/kiln/result.json" 'd["status"]')"
check_eq "the shutdown saw the earlier result" done "$(json_get "$ROOT/tmp/shutdown-result.json" 'd["status"]' 2>&1)"

# start_http FAILURES [ROUTES]: an HTTP server on 127.0.0.1 that answers 503 to the first FAILURES
# requests and 200 after, and appends each request as a JSON line {method, path, type, body} to
# $HTTP_LOG. ROUTES is a JSON object from a path without query to [STATUS, LOCATION]: a request for it gets
# STATUS, with a Location header unless LOCATION is null. Sets HTTP_PORT, HTTP_PID and HTTP_LOG.
start_http() {
        HTTP_LOG=$(mktemp "$WORK/http-log-XXXXXX")
        local ready=$WORK/http-ready-$$ routes='{}'
        [ $# -ge 2 ] && routes=$2
        rm -f "$ready"
        /usr/bin/python3 - "$1" "$routes" "$HTTP_LOG" "$ready" <<'PYTHON' &
import http.server, json, sys
failures, routes, log, ready = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
class Handler(http.server.BaseHTTPRequestHandler):
    count = 0
    def answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "type": self.headers.get("Content-Type"), "body": body}) + "\n")
        Handler.count += 1
        status, location = routes.get(self.path.split("?")[0], [503 if Handler.count <= failures else 200, None])
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_POST = answer
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
open(ready, "w").write(str(server.server_address[1]))
server.serve_forever()
PYTHON
        HTTP_PID=$!
        for _ in $(seq 100); do [ -s "$ready" ] && break; sleep 0.05; done
        HTTP_PORT=$(cat "$ready")
}

# stop_http [PID]: stop the server started last, or the one with PID.
stop_http() {
        kill "${1:-$HTTP_PID}" 2>/dev/null
        wait "${1:-$HTTP_PID}" 2>/dev/null
}

# http_get PYTHON_EXPRESSION: an expression over the server's requests (list of dicts, form is
# the parsed body of the last one).
http_get() {
        /usr/bin/python3 - "$HTTP_LOG" "$1" <<'PYTHON'
import json, sys, urllib.parse
requests = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
form = dict(urllib.parse.parse_qsl(requests[-1]["body"], keep_blank_values=True)) if requests else {}
print(eval(sys.argv[2]))
PYTHON
}

case_begin "phone_home all"
start_http 0
ROOT=$(new_root)
mkdir -p "$ROOT/etc/ssh"
ssh-keygen -q -t ed25519 -N '' -C host -f "$ROOT/etc/ssh/ssh_host_ed25519_key"
ssh-keygen -q -t rsa -b 2048 -N '' -C host -f "$ROOT/etc/ssh/ssh_host_rsa_key"
nocloud_seed "$ROOT" "iid phone+1" < <(printf '#cloud-config\nssh_deletekeys: false\nssh_genkeytypes: []\nhostname: web-1\nfqdn: web-1.example.com\nphone_home:\n  url: http://127.0.0.1:%s/$INSTANCE_ID/x?id=${INSTANCE_ID}&token=s3cret\n' "$HTTP_PORT")
run_kiln "$ROOT"
stop_http
check_run_result 0 done 0
check_eq "one POST" 1 "$(http_get 'len(requests)')"
check_eq "the instance id is substituted and escaped" "/iid%20phone%2B1/x?id=iid%20phone%2B1&token=s3cret" "$(http_get 'requests[0]["path"]')"
check_eq "the body is a form" "application/x-www-form-urlencoded" "$(http_get 'requests[0]["type"]')"
check_eq "the fields in cloud-init's order" "pub_key_rsa pub_key_ecdsa pub_key_ed25519 instance_id hostname fqdn" "$(http_get '" ".join(form)')"
check_eq "pub_key_rsa is the whole file" "$(base64 -w0 "$ROOT/etc/ssh/ssh_host_rsa_key.pub")" "$(http_get 'form["pub_key_rsa"]' | head -c -1 | base64 -w0)"
check_eq "pub_key_ed25519 is the whole file" "$(cat "$ROOT/etc/ssh/ssh_host_ed25519_key.pub")" "$(http_get 'form["pub_key_ed25519"].strip()')"
check_eq "a missing key is N/A" "N/A" "$(http_get 'form["pub_key_ecdsa"]')"
check_eq "instance_id" "iid phone+1" "$(http_get 'form["instance_id"]')"
check_eq "hostname" "web-1" "$(http_get 'form["hostname"]')"
check_eq "fqdn" "web-1.example.com" "$(http_get 'form["fqdn"]')"
check "the token is not logged" bash -c "! grep -q s3cret '$ROOT.out'"

case_begin "phone_home list and retries"
start_http 2
ROOT=$(new_root)
printf 'image-host\n' > "$ROOT/etc/hostname"
nocloud_seed "$ROOT" iid-phone-2 < <(printf '#cloud-config\nphone_home:\n  url: http://127.0.0.1:%s/${INSTANCE_ID}\n  post: [instance_id, hostname, pub_key_dsa]\n  tries: 3\n' "$HTTP_PORT")
start=$(now)
run_kiln "$ROOT"
stop_http
check_run_result 0 degraded 2
check_eq "three POSTs" 3 "$(http_get 'len(requests)')"
check_le "the pauses are about 3 s" "$(seconds_since "$start")" 12
check_eq "the requested fields only" "instance_id hostname pub_key_dsa" "$(http_get '" ".join(form)')"
check_eq "hostname from /etc/hostname" "image-host" "$(http_get 'form["hostname"]')"
check_eq "pub_key_dsa is N/A" "N/A" "$(http_get 'form["pub_key_dsa"]')"
check_contains "pub_key_dsa is a warning" "$(diagnostics warnings)" "phone_home.post[2] 'pub_key_dsa' names no value"

case_begin "phone_home closed port"
ROOT=$(new_root)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nocloud_seed "$ROOT" iid-phone-3 < <(printf '#cloud-config\nphone_home:\n  url: http://127.0.0.1:%s/x?token=s3cret\n  tries: 1\nruncmd:\n  - [touch, /tmp/runcmd-ran]\n' "$port")
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error names the url without its query" "$(diagnostics errors)" "phone_home: Failed to post the phone_home data to 'http://127.0.0.1:$port/x' in 1 tries"
check "the token is not logged" bash -c "! grep -q s3cret '$ROOT.out'"
check_exists "runcmd still ran" "$ROOT/tmp/runcmd-ran"

case_begin "phone_home invalid"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-phone-4 < <(printf '#cloud-config\nphone_home:\n  url: ftp://example.com/\n')
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "a non-http url is an error" "$(diagnostics errors)" "phone_home.url must start with http:// or https://"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-phone-5 < <(printf '#cloud-config\nphone_home:\n  post: all\n')
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "a missing url is an error" "$(diagnostics errors)" "phone_home.url is missing"

# phone_run INSTANCE_ID PATH [YAML]: a fresh root whose user data posts to PATH on $HTTP_PORT, with
# the lines YAML after the url (default "  tries: 1\n", escapes as in printf %b), then `kiln run`.
phone_run() {
        ROOT=$(new_root)
        nocloud_seed "$ROOT" "$1" < <(printf '#cloud-config\nphone_home:\n  url: http://127.0.0.1:%s%s\n%b' \
                "$HTTP_PORT" "$2" "${3:-  tries: 1\n}")
        run_kiln "$ROOT"
}

# start_redirect STATUS: a target server, then a server that answers /x with STATUS and a Location
# of the target's /final?token=s3cret. Sets TARGET_PID and TARGET_LOG for the target.
start_redirect() {
        start_http 0
        TARGET_PID=$HTTP_PID TARGET_LOG=$HTTP_LOG
        start_http 0 "{\"/x\": [$1, \"http://127.0.0.1:$HTTP_PORT/final?token=s3cret\"]}"
}

case_begin "phone_home redirect to file"
start_http 0 '{"/x": [302, "file:///etc/shadow"]}'
phone_run iid-phone-file '/x?token=s3cret' '  tries: 1\nruncmd:\n  - [touch, /tmp/runcmd-ran]\n'
stop_http
check_run_result 1 error 1
check_eq "one POST" 1 "$(http_get 'len(requests)')"
check_contains "the error names the redirect target" "$(diagnostics errors)" "phone_home: Failed to post the phone_home data to 'http://127.0.0.1:$HTTP_PORT/x' in 1 tries: redirected to 'file:///etc/shadow', which is not an http:// or https:// URL"
check "the log does not say posted" bash -c "! grep -q 'Posted the phone_home data' '$ROOT.out'"
check "the token is not logged" bash -c "! grep -q s3cret '$ROOT.out'"
check_exists "runcmd still ran" "$ROOT/tmp/runcmd-ran"

case_begin "phone_home 307 repeats the POST"
start_redirect 307
phone_run iid-phone-307 /x '  post: [instance_id]\n  tries: 1\n'
stop_http
stop_http "$TARGET_PID"
check_run_result 0 done 0
check_eq "the first server gets one POST" POST "$(http_get '" ".join(r["method"] for r in requests)')"
HTTP_LOG=$TARGET_LOG
check_eq "the target gets one POST" POST "$(http_get '" ".join(r["method"] for r in requests)')"
check_eq "the target gets the path" "/final?token=s3cret" "$(http_get 'requests[0]["path"]')"
check_eq "the target gets the form" "iid-phone-307" "$(http_get 'form["instance_id"]')"
check_grep "the log says posted after one redirect" "Posted the phone_home data to 'http://127.0.0.1:[0-9]+/x' \\(attempt 1 of 1, 1 redirects\\)" "$ROOT.out"
check "the token of the target is not logged" bash -c "! grep -q s3cret '$ROOT.out'"

case_begin "phone_home 303 becomes a GET"
start_redirect 303
phone_run iid-phone-303 /x
stop_http
stop_http "$TARGET_PID"
check_run_result 0 done 0
HTTP_LOG=$TARGET_LOG
check_eq "the target gets one GET" GET "$(http_get '" ".join(r["method"] for r in requests)')"
check_eq "the GET has no body" "" "$(http_get 'requests[0]["body"]')"

case_begin "phone_home redirect loop"
start_http 0 '{"/loop": [302, "/loop"]}'
phone_run iid-phone-loop /loop
stop_http
check_run_result 1 error 1
check_eq "the first request and 10 redirects" 11 "$(http_get 'len(requests)')"
check_contains "the error names the cap" "$(diagnostics errors)" "in 1 tries: more than 10 redirects, the next to 'http://127.0.0.1:$HTTP_PORT/loop'"

case_begin "phone_home 3xx without Location"
start_http 0 '{"/x": [302, null]}'
phone_run iid-phone-noloc /x
stop_http
check_run_result 1 error 1
check_contains "the error names the status" "$(diagnostics errors)" "in 1 tries: HTTP status 302 without a Location header to follow"

case_begin "phone_home tries 0, invalid and too many"
start_http 0
phone_run iid-phone-tries0 /x '  tries: 0\n'
check_run_result 0 degraded 2
check_eq "tries 0 posts once" 1 "$(http_get 'len(requests)')"
check_contains "tries 0 is a warning" "$(diagnostics warnings)" "phone_home.tries is 0, so kiln makes 1 try."
: > "$HTTP_LOG"
phone_run iid-phone-triesx /x '  tries: many\n'
check_run_result 0 degraded 2
check_eq "tries many posts" 1 "$(http_get 'len(requests)')"
check_contains "tries many is a warning" "$(diagnostics warnings)" "phone_home.tries must be an integer, not 'many', so kiln makes 10 tries."
: > "$HTTP_LOG"
phone_run iid-phone-tries1k /x '  tries: 1000\n'
stop_http
check_run_result 0 degraded 2
check_eq "tries 1000 posts" 1 "$(http_get 'len(requests)')"
check_contains "tries 1000 is a warning" "$(diagnostics warnings)" "phone_home.tries is 1000, more than the maximum 100, so kiln makes 100 tries."
