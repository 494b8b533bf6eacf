#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# systemd readiness: with NOTIFY_SOCKET set, kiln sends STATUS= progress lines and READY=1 only
# after the last module, over a socket path and over an abstract socket.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LISTENER=$TOP/tests/integration/notify-listener.py

# notify_run ROOT SOCKET: run kiln with NOTIFY_SOCKET=SOCKET; messages land in $ROOT.notify.
notify_run() {
        local root=$1 socket=$2 pid
        : > "$root.notify"
        /usr/bin/python3 "$LISTENER" "$socket" "$root.notify" "$root/run/notify-last-command" &
        pid=$!
        for _ in $(seq 100); do
                [ -s "$root.notify" ] && break
                sleep 0.05
        done
        NOTIFY_SOCKET=$socket run_kiln "$root"
        sleep 0.2
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
}

# notify_query ROOT EXPRESSION: evaluate a Python expression over the recorded messages.
notify_query() {
        /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
messages = [r for r in rows if "message" in r]
print(eval(sys.argv[2]))' "$1.notify" "$2"
}

for socket_kind in path abstract; do
        case_begin "notify, $socket_kind socket"
        ROOT=$(new_root)
        nocloud_seed "$ROOT" "iid-notify-$socket_kind" <<'YAML'
#cloud-config
runcmd:
  - sleep 0.3
  - touch /run/notify-last-command
YAML
        if [ "$socket_kind" = path ]; then
                socket=$WORK/notify-$$.sock
        else
                socket=@kiln-test-notify-$$
        fi
        notify_run "$ROOT" "$socket"
        check_run_result 0 done 0
        check_eq "READY=1 is sent exactly once" 1 \
                "$(notify_query "$ROOT" 'sum("READY=1" in m["message"].split("\n") for m in messages)')"
        check_eq "READY=1 is the last message" True \
                "$(notify_query "$ROOT" '"READY=1" in messages[-1]["message"].split("\n")')"
        check_eq "READY=1 comes after the last command ran" True \
                "$(notify_query "$ROOT" 'messages[-1]["marker_exists"]')"
        check_eq "STATUS= names the running module" True \
                "$(notify_query "$ROOT" 'any(m["message"].startswith("STATUS=Running module runcmd") for m in messages)')"
        check_eq "READY=1 is not sent before the end" True \
                "$(notify_query "$ROOT" 'all("READY=1" not in m["message"] for m in messages[:-1])')"
        check_eq "the final STATUS= gives the result" True \
                "$(notify_query "$ROOT" '"STATUS=Finished: done" in messages[-1]["message"]')"
done

case_begin "no datasource still signals readiness"
ROOT=$(new_root)
notify_run "$ROOT" "$WORK/notify-none-$$.sock"
check_run_result 1 error 1
check_eq "READY=1 is sent so the unit does not hang" True \
        "$(notify_query "$ROOT" '"READY=1" in messages[-1]["message"].split("\n")')"
check_eq "the final STATUS= says error" True \
        "$(notify_query "$ROOT" '"STATUS=Finished: error" in messages[-1]["message"]')"

case_begin "start timeout from kiln.yaml"
ROOT=$(new_root)
kiln_config "$ROOT" <<'YAML'
system_info:
  start_timeout: 3600
YAML
nocloud_seed "$ROOT" iid-notify-timeout < <(printf '#cloud-config\nruncmd:\n  - touch /run/ran\n')
notify_run "$ROOT" "$WORK/notify-timeout-$$.sock"
check_run_result 0 done 0
check_eq "EXTEND_TIMEOUT_USEC asks for 3600 s" True \
        "$(notify_query "$ROOT" 'any("EXTEND_TIMEOUT_USEC=3600000000" in m["message"].split("\n") for m in messages)')"
check_eq "the timeout is asked for before the modules run" True \
        "$(notify_query "$ROOT" 'min(i for i, m in enumerate(messages) if "EXTEND_TIMEOUT_USEC" in m["message"]) < min(i for i, m in enumerate(messages) if m["message"].startswith("STATUS=Running module"))')"

case_begin "invalid start timeout"
ROOT=$(new_root)
kiln_config "$ROOT" <<'YAML'
system_info:
  start_timeout: soon
YAML
nocloud_seed "$ROOT" iid-notify-bad-timeout < <(printf '#cloud-config\nruncmd:\n  - touch /run/ran\n')
notify_run "$ROOT" "$WORK/notify-bad-timeout-$$.sock"
check_run_result 0 degraded 2
check_contains "the warning names the key" "$(diagnostics warnings)" \
        "system_info.start_timeout must be a number of seconds from 1 to 86400, not \"soon\", ignoring it."
check_eq "no EXTEND_TIMEOUT_USEC is sent" False \
        "$(notify_query "$ROOT" 'any("EXTEND_TIMEOUT_USEC" in m["message"] for m in messages)')"
check_exists "the modules still ran" "$ROOT/run/ran"
