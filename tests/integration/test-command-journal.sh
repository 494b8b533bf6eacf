#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Command output in the journal: a stand-in for journald listens on the native protocol's fixed
# socket path (/run/systemd/journal/socket, on a tmpfs over /run in this test's private mount
# namespace), and each line that a runcmd item prints arrives there as an entry of its own with
# kiln's fields, while kiln-output.log gets the bytes unchanged. Exit codes are recorded per item.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LISTENER=$TOP/tests/integration/journal-listener.py
JOURNAL_SOCKET=/run/systemd/journal/socket

net_setup

if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
        echo "test-command-journal.sh: not in a private mount namespace, refusing to mount on /run" >&2
        exit 1
fi
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal

# journal_query EXPRESSION: evaluate a Python expression over the recorded entries.
journal_query() {
        /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
entries = [r for r in rows if "ready" not in r]
output = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "kiln-output"]
print(eval(sys.argv[2]))' "$WORK/journal" "$1"
}

case_begin "runcmd output in the journal"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-journal <<'YAML'
#cloud-config
runcmd:
  - echo first line; echo to stderr >&2
  - printf 'no newline'; exit 3
  - [sh, -c, "printf 'bad \\377 byte\\n'"]
YAML
: > "$WORK/journal"
/usr/bin/python3 "$LISTENER" "$JOURNAL_SOCKET" "$WORK/journal" &
LISTENER_PID=$!
for _ in $(seq 100); do
        [ -s "$WORK/journal" ] && break
        sleep 0.05
done
run_kiln "$ROOT"
sleep 0.2
kill "$LISTENER_PID" 2>/dev/null
wait "$LISTENER_PID" 2>/dev/null

check_run_result 1 error 1
check_eq "each output line is one entry" \
        "['first line', 'to stderr', 'no newline', 'bad \\\\xff byte']" \
        "$(journal_query '[e["MESSAGE"] for e in output]')"
check_eq "the entries name their item" "['runcmd[0]', 'runcmd[0]', 'runcmd[1]', 'runcmd[2]']" \
        "$(journal_query '[e["KILN_COMMAND"] for e in output]')"
check_eq "the entries name the module and instance" "{('runcmd', 'iid-journal')}" \
        "$(journal_query '{(e["KILN_MODULE"], e["KILN_INSTANCE_ID"]) for e in output}')"
check_eq "the entries have priority info" "{'6'}" "$(journal_query '{e["PRIORITY"] for e in output}')"
check_eq "no other entry arrives: kiln's own messages go to stderr here" "0" \
        "$(journal_query 'len(entries) - len(output)')"
check_file "kiln-output.log has the bytes unchanged" "$ROOT/var/log/kiln-output.log" \
        'first line\nto stderr\nno newlinebad \377 byte\n'
check_contains "the exit code of item 1 is recorded" "$(diagnostics errors)" "runcmd[1]: runcmd[1] exited with 3"
check_eq "item 1 is recorded with its index" "[1]" "$(json_get "$ROOT.status.json" '[e["item"] for e in d["errors"]]')"
