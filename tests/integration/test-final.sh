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
