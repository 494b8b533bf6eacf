#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The apt key in a Debian root with the image's real apt. The signed local repository of
# tests/fixtures/apt-repo works through the lib.sh helpers. A source that the apt_configure module
# adds with its key passes apt-get update with the signature checked, a wrong key fails it, and a
# second run changes nothing.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# in_root COMMAND...: run a command of the root's own userland inside it; output in $ROOT.cmd.
in_root() {
        chroot "$ROOT" "$@" >"$ROOT.cmd" 2>&1
}

# candidate PACKAGE: the version that the root's apt would install.
candidate() {
        chroot "$ROOT" apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }'
}

case_begin "local apt repository helpers"
if debian_root && apt_repo_start; then
        apt_repo_use "$ROOT"
        check_absent "the Debian sources are removed" "$ROOT/etc/apt/sources.list"
        check "apt-get update verifies the repository" in_root apt-get update
        check "apt-get update needs no unsigned repository" \
                bash -c "! grep -qiE 'not signed|NO_PUBKEY|insecure' '$ROOT.cmd'"
        check_eq "kiln-test 2.0-1 is the candidate" "2.0-1" "$(candidate kiln-test)"
        check_eq "hello from the Debian mirror is the candidate" "2.10-3" "$(candidate hello)"
        touch "$ROOT/etc/kiln-test-reboot"
        check "kiln-test 1.0-1 installs" in_root apt-get install -y --no-install-recommends kiln-test=1.0-1
        check_file "kiln-test 1.0-1 writes its version" "$ROOT/usr/share/kiln-test/version" "1.0-1\n"
        # The root's /var/run links to /run, which outside the chroot would be this machine's.
        check_exists "kiln-test requests a reboot when asked to" "$ROOT/run/reboot-required"
        check "hello installs" in_root apt-get install -y --no-install-recommends hello
        check "hello runs" in_root hello
fi

case_begin "local apt repository with a wrong key"
if debian_root && apt_repo_start; then
        apt_repo_use "$ROOT"
        install -m 0644 "$APT_REPO_DIR/other-key.gpg" "$ROOT/etc/apt/keyrings/kiln-test.gpg"
        check "apt-get update fails" bash -c "! chroot '$ROOT' apt-get update >'$ROOT.cmd' 2>&1"
        check_grep "apt names the missing key" "NO_PUBKEY" "$ROOT.cmd"
fi
