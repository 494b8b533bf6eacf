#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Exec plugins in ROOT/usr/lib/kiln/modules.d. The example plugin writes /etc/motd, in busybox
# roots and in a Debian root whose /bin/sh is dash. A plugin that claims a built-in key or prints
# junk on describe is rejected while the other modules still run. A plugin that hangs is stopped
# at its time limit, a per-instance plugin does not run again on the next boot, and the document
# on a plugin's stdin carries the config and the instance id.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

PLUGIN_DIR=usr/lib/kiln/modules.d

# install_plugin ROOT NAME < SCRIPT: an executable in ROOT's plugin directory.
install_plugin() {
        mkdir -p "$1/$PLUGIN_DIR"
        cat > "$1/$PLUGIN_DIR/$2"
        chmod 0755 "$1/$PLUGIN_DIR/$2"
}

install_example() {
        mkdir -p "$1/$PLUGIN_DIR"
        cp "$TOP/packaging/kiln-plugin-example" "$1/$PLUGIN_DIR/example-motd"
}

module_state() {
        json_get "$ROOT/run/kiln/status.json" '[m["state"] for m in d["modules"] if m["name"] == "'"$1"'"][0]' 2>&1
}

module_names() {
        json_get "$ROOT/run/kiln/status.json" '" ".join(m["name"] for m in d["modules"])' 2>&1
}

case_begin "example plugin writes /etc/motd"
ROOT=$(new_root)
install_example "$ROOT"
nocloud_seed "$ROOT" iid-motd <<'EOF'
#cloud-config
example_motd: "Welcome to \"web-1\"\nmanaged by kiln \\ plugins"
runcmd:
  - [touch, /runcmd-ran]
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_file "/etc/motd holds the text with its escapes undone" "$ROOT/etc/motd" \
        'Welcome to "web-1"\nmanaged by kiln \\ plugins\n'
check_mode "/etc/motd is 0644" "$ROOT/etc/motd" "644 root:root"
check_eq "the plugin's state is changed" changed "$(module_state example-motd)"
check_grep "the plugin's output is in kiln-output.log" "^example-motd: wrote /etc/motd for instance iid-motd$" \
        "$ROOT/var/log/kiln-output.log"
check_contains "the plugin runs after scripts_user and before phone_home" "$(module_names)" \
        "scripts_user example-motd phone_home"
check_eq "no warning about example_motd" "" "$(diagnostics warnings)"

case_begin "per-instance plugin on the second boot"
rm -f "$ROOT/etc/motd"
rm -rf "${ROOT:?}/run/kiln"
run_kiln "$ROOT"
check_run_result 0 done 0
check_absent "/etc/motd is not written again" "$ROOT/etc/motd"
check_eq "the plugin is skipped" skipped "$(module_state example-motd)"

case_begin "plugin without its key"
ROOT=$(new_root)
install_example "$ROOT"
nocloud_seed "$ROOT" iid-nokey < <(printf '#cloud-config\nruncmd: [[touch, /ran]]\n')
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "the plugin is skipped" skipped "$(module_state example-motd)"
check_absent "/etc/motd is not written" "$ROOT/etc/motd"

case_begin "unknown key without the plugin"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-noplugin < <(printf '#cloud-config\nexample_motd: hi\n')
run_kiln "$ROOT"
check_run_result 0 degraded 2
check_contains "example_motd is an unknown key" "$(diagnostics warnings)" "example_motd"

case_begin "plugin claiming runcmd"
ROOT=$(new_root)
install_example "$ROOT"
install_plugin "$ROOT" thief <<'EOF'
#!/bin/sh
if [ "$1" = describe ]; then
        echo '{"protocol": 1, "name": "thief", "keys": ["runcmd"]}'
        exit 0
fi
touch /thief-ran
EOF
nocloud_seed "$ROOT" iid-thief <<'EOF'
#cloud-config
example_motd: still here
runcmd:
  - [touch, /runcmd-ran]
EOF
run_kiln "$ROOT"
check_run_result 1 error 1
check_eq "the rejection names the plugin, the key and the owner" \
        "plugins: Plugin '/usr/lib/kiln/modules.d/thief' claims key 'runcmd', which the built-in module runcmd owns, ignoring the plugin." \
        "$(diagnostics errors)"
check_exists "runcmd still runs" "$ROOT/runcmd-ran"
check_absent "the rejected plugin's run never happens" "$ROOT/thief-ran"
check_file "the other plugin still runs" "$ROOT/etc/motd" 'still here\n'

case_begin "plugin printing junk on describe"
ROOT=$(new_root)
install_plugin "$ROOT" junk <<'EOF'
#!/bin/sh
echo "I am a plugin"
EOF
nocloud_seed "$ROOT" iid-junk < <(printf '#cloud-config\nruncmd: [[touch, /runcmd-ran]]\n')
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the rejection says why" "$(diagnostics errors)" \
        "plugins: Plugin '/usr/lib/kiln/modules.d/junk' does not print valid JSON"
check_exists "runcmd still runs" "$ROOT/runcmd-ran"

case_begin "files that are no plugins"
ROOT=$(new_root)
install_example "$ROOT"
cp "$ROOT/$PLUGIN_DIR/example-motd" "$ROOT/$PLUGIN_DIR/example-motd.dpkg-old"
cp "$ROOT/$PLUGIN_DIR/example-motd" "$ROOT/$PLUGIN_DIR/example-motd~"
cp "$ROOT/$PLUGIN_DIR/example-motd" "$ROOT/$PLUGIN_DIR/.hidden"
printf 'notes\n' > "$ROOT/$PLUGIN_DIR/README"
nocloud_seed "$ROOT" iid-skip < <(printf '#cloud-config\nexample_motd: one\n')
run_kiln "$ROOT"
check_run_result 0 degraded 2
check_eq "only the file without x bits is named, as a warning" \
        "plugins: Plugin '/usr/lib/kiln/modules.d/README' is not executable, skipping." "$(diagnostics warnings)"
check_eq "no errors: the backups are not described, so their names do not clash" "" "$(diagnostics errors)"

case_begin "plugin that hangs"
ROOT=$(new_root)
install_plugin "$ROOT" slow <<'EOF'
#!/bin/sh
if [ "$1" = describe ]; then
        echo '{"protocol": 1, "name": "slow", "timeout": 1, "frequency": "always"}'
        exit 0
fi
sleep 600 &
echo $! > /slow.pid
wait
EOF
# sh gives a background job /dev/null as its stdin, which the busybox root lacks; an empty file
# serves.
mkdir -p "$ROOT/dev"
: > "$ROOT/dev/null"
nocloud_seed "$ROOT" iid-slow < <(printf '#cloud-config\nruncmd: [[touch, /runcmd-ran]]\n')
START=$(now)
run_kiln "$ROOT"
ELAPSED=$(seconds_since "$START")
check_run_result 1 error 1
check_eq "the time-out names the plugin and the limit" \
        "slow: Plugin '/usr/lib/kiln/modules.d/slow' did not finish within 1 s and was stopped." "$(diagnostics errors)"
check_le "kiln stops it within the grace period" "$ELAPSED" 8
# A killed process whose parent died may stay a zombie until init reaps it.
check_eq "the plugin's child is gone too" "" \
        "$(awk '$3 != "Z" { print "running" }' "/proc/$(cat "$ROOT/slow.pid")/stat" 2>/dev/null)"
check_exists "runcmd ran before it" "$ROOT/runcmd-ran"

case_begin "input document on stdin"
ROOT=$(new_root)
install_plugin "$ROOT" dump <<'EOF'
#!/bin/sh
if [ "$1" = describe ]; then
        echo '{"protocol": 1, "name": "dump", "keys": ["dump_me"], "after": ["write_files"]}'
        exit 0
fi
cat > /input.json
echo "$KILN_PROTOCOL $KILN_PLUGIN $INSTANCE_ID" > /env
EOF
nocloud_seed "$ROOT" iid-dump < <(printf '#cloud-config\ndump_me: {a: [1, 2]}\nhostname: web-9\n')
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "input protocol" 1 "$(json_get "$ROOT/input.json" 'd["protocol"]')"
check_eq "input config has the plugin's key" "{'a': [1, 2]}" "$(json_get "$ROOT/input.json" 'd["config"]["dump_me"]')"
check_eq "input config has the other keys" web-9 "$(json_get "$ROOT/input.json" 'd["config"]["hostname"]')"
check_eq "input instance id" iid-dump "$(json_get "$ROOT/input.json" 'd["instance"]["instance_id"]')"
check_eq "input datasource" nocloud "$(json_get "$ROOT/input.json" 'd["instance"]["datasource"]')"
check_file "environment" "$ROOT/env" '1 dump iid-dump\n'
check_contains "after: write_files places it right after write_files" "$(module_names)" "write_files dump domains"

case_begin "modules list in kiln.yaml"
ROOT=$(new_root)
install_example "$ROOT"
kiln_config "$ROOT" <<'EOF'
modules:
  - [example-motd, always]
  - runcmd
EOF
nocloud_seed "$ROOT" iid-list < <(printf '#cloud-config\nexample_motd: listed\nruncmd: [[touch, /runcmd-ran]]\n')
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "only the listed modules run, in the listed order" "example-motd runcmd" "$(module_names)"
check_file "the plugin ran" "$ROOT/etc/motd" 'listed\n'
rm -f "$ROOT/etc/motd"
rm -rf "${ROOT:?}/run/kiln"
run_kiln "$ROOT"
check_file "the listed frequency always runs it again" "$ROOT/etc/motd" 'listed\n'

case_begin "example plugin in a Debian root"
if debian_root; then
        install_example "$ROOT"
        check_eq "the Debian root's /bin/sh is dash" dash "$(readlink "$ROOT/bin/sh")"
        nocloud_seed "$ROOT" iid-debian < <(printf '#cloud-config\nexample_motd: "Debian\\tbox\\n"\n')
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_file "/etc/motd written by dash" "$ROOT/etc/motd" 'Debian\tbox\n\n'
fi

# pids_of CMDLINE: the pids of the processes whose command line, with spaces between the
# arguments, is CMDLINE.
pids_of() {
        local status
        for status in /proc/[0-9]*/cmdline; do
                [ "$( { tr '\0' ' ' < "$status"; } 2>/dev/null)" = "$1 " ] && basename "$(dirname "$status")"
        done
}

case_begin "background processes of commands and plugins"
# bootcmd leaves `sleep 3041` holding its output and `sleep 2.5` holding it a little longer, runcmd
# leaves `sleep 3051` with its output redirected, the plugin lingering leaves `sleep 3031` from
# describe and `sleep 3011` from run, and the plugin endless prints without end on describe.
# The last runcmd item makes a file once the `sleep 2.5` has ended, and the test then lists kiln's
# zombie children, from outside the root because the root has no /proc. busybox sh opens /dev/null
# as the stdin of a background job, so the root gets one.
ROOT=$(new_root)
mkdir -p "$ROOT/dev"
mknod -m 0666 "$ROOT/dev/null" c 1 3
install_plugin "$ROOT" lingering <<'EOF'
#!/bin/sh
case "$1" in
describe)
        (sleep 3031) &
        echo '{"protocol": 1, "name": "lingering", "frequency": "always"}' ;;
run)
        (sleep 3011; echo late) &
        exit 0 ;;
esac
EOF
install_plugin "$ROOT" endless <<'EOF'
#!/bin/sh
yes '{}'
EOF
nocloud_seed "$ROOT" iid-background <<'EOF'
#cloud-config
bootcmd:
  - sleep 3041 &
  - sleep 2.5 &
runcmd:
  - [sh, -c, "sleep 3051 >/dev/null 2>&1 &"]
  - [sh, -c, "sleep 3; touch /run/check-zombies; sleep 0.5"]
EOF
START=$(now)
"$KILN" run --root "$ROOT" >"$ROOT.out" 2>&1 &
KILN_PID=$!
for _ in $(seq 600); do
        [ -e "$ROOT/run/check-zombies" ] && break
        sleep 0.05
done
ZOMBIES=$(grep -l "^PPid:[[:space:]]*$KILN_PID$" /proc/[0-9]*/status 2>/dev/null |
        xargs -r grep -l '^State:[[:space:]]*Z' 2>/dev/null)
wait "$KILN_PID"
KILN_RC=$?
ELAPSED=$(seconds_since "$START")
check_run_result 1 error 1
check_le "kiln takes less than 7 s, not the 10 s limit of describe" "$ELAPSED" 7
check_contains "endless is rejected for its output" "$(diagnostics errors)" \
        "Plugin '/usr/lib/kiln/modules.d/endless' printed more than 65536 bytes on 'describe'"
check_eq "lingering ran" changed "$(module_state lingering)"
check_grep "bootcmd does not wait for its background process" \
        "Module bootcmd changed the system in [0-9]{1,3}\.[0-9] ms" "$ROOT.out"
check_grep "the plugin does not wait for its background process" \
        "Module lingering changed the system in [0-9]{1,3}\.[0-9] ms" "$ROOT.out"
check_exists "runcmd[1] ran" "$ROOT/run/check-zombies"
check_eq "no relay was left a zombie of kiln" "" "$ZOMBIES"
check_eq "describe's background process is gone" "" "$(pids_of "sleep 3031")"
RELAYS=$(pids_of "$KILN run --root $ROOT")
check "relays still log the background processes' output" test -n "$RELAYS"
HELD=
for pid in $RELAYS; do
        for fd in /proc/"$pid"/fd/*; do
                target=$(readlink "$fd")
                case "$target" in
                *"memfd:kiln-plugin-input"*) HELD="$HELD $pid:${fd##*/}:plugin-input" ;;
                "$ROOT.out") [ "${fd##*/}" = 2 ] || HELD="$HELD $pid:${fd##*/}:kiln-output" ;;
                "$ROOT"|"$ROOT/") HELD="$HELD $pid:${fd##*/}:root" ;;
                esac
        done
done
check_eq "relays hold no plugin input, kiln stdout or root" "" "$HELD"
for pid in $(pids_of "sleep 3011") $(pids_of "sleep 3041") $(pids_of "sleep 3051") $(pids_of "sleep 3031"); do
        kill "$pid" 2>/dev/null
done
