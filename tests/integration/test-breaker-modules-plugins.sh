#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Exec plugins that misbehave: one killed by a signal, one that prints bytes that are not UTF-8 on
# stderr, one named like a cloud-init module alias, and a symbolic link that points out of the
# root. Each is reported against the right name with the right status, and the others still run.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# add_plugin ROOT FILE DESCRIPTION RUN_BODY: a shell plugin that prints DESCRIPTION on describe.
add_plugin() {
        local dir=$1/usr/lib/kiln/modules.d
        mkdir -p "$dir"
        printf '#!/bin/sh\nif [ "$1" = describe ]; then echo '\''%s'\''; exit 0; fi\n%s\n' "$3" "$4" > "$dir/$2"
        chmod 0755 "$dir/$2"
}

case_begin "misbehaving plugins"
ROOT=$(new_root)
OUTSIDE=$WORK/outside-plugin
printf '#!/bin/sh\ntouch %s.ran\n' "$OUTSIDE" > "$OUTSIDE"
chmod 0755 "$OUTSIDE"
add_plugin "$ROOT" segv '{"protocol":1,"name":"segv"}' "echo 'first line' >&2; kill -SEGV \$\$"
add_plugin "$ROOT" binary '{"protocol":1,"name":"binary"}' "printf 'bad\\377\\033x\\n' >&2; exit 3"
add_plugin "$ROOT" alias '{"protocol":1,"name":"set_hostname"}' "exit 0"
add_plugin "$ROOT" good '{"protocol":1,"name":"good"}' "touch /var/tmp/good-ran"
ln -s "$OUTSIDE" "$ROOT/usr/lib/kiln/modules.d/outside"
nocloud_seed "$ROOT" iid-plugins <<'USERDATA'
#cloud-config
{}
USERDATA
run_kiln "$ROOT"
check_run_result 1 error 1
errors=$(diagnostics errors)
warnings=$(diagnostics warnings)
check_contains "a signal names the plugin, the signal and the stderr line" "$errors" \
        "segv: Plugin '/usr/lib/kiln/modules.d/segv' was killed by signal 11 (SIGSEGV): first line"
check_contains "bytes that are not UTF-8 become '?' in the message" "$errors" \
        "binary: Plugin '/usr/lib/kiln/modules.d/binary' exited with 3: bad??x"
check_contains "a cloud-init alias is rejected as a name" "$errors" \
        "is named 'set_hostname', which is the name of the built-in module hostname, ignoring the plugin."
check_contains "a link out of the root is skipped" "$warnings" \
        "Failed to open plugin '/usr/lib/kiln/modules.d/outside'"
check_absent "the file outside the root never ran" "$OUTSIDE.ran"
check_exists "the good plugin still ran" "$ROOT/var/tmp/good-ran"
