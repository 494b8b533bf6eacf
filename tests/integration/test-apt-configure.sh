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

# apt_user_data KEY_FILE: user data that adds the local repository as source kiln-test, with
# $MIRROR from primary and the key from KEY_FILE. The repository's suite is 'kiln', which is not a
# Debian codename, so the line names it instead of using $RELEASE.
apt_user_data() {
        cat <<EOF_USER_DATA
#cloud-config
apt:
  preserve_sources_list: true
  primary:
    - arches: [default]
      uri: $APT_REPO_URL
  conf: |
    Acquire::Retries "0";
  sources:
    kiln-test:
      source: "deb \$MIRROR kiln main"
      key: |
$(sed 's/^/        /' "$1")
EOF_USER_DATA
}

case_begin "apt source with its key"
if debian_root && apt_repo_start; then
        rm -f "$ROOT/etc/apt/sources.list"
        apt_user_data "$APT_REPO_DIR/key.asc" | nocloud_seed "$ROOT" iid-apt-1
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_file "the source names its key" "$ROOT/etc/apt/sources.list.d/kiln-test.list" \
                "deb [signed-by=/etc/apt/keyrings/kiln-kiln-test.asc] ${APT_REPO_URL} kiln main\n"
        check_file "the key is the armored block" "$ROOT/etc/apt/keyrings/kiln-kiln-test.asc" "$(cat "$APT_REPO_DIR/key.asc")\n"
        check_file "the conf snippet is written" "$ROOT/etc/apt/apt.conf.d/94kiln-config" 'Acquire::Retries "0";\n'
        check "apt-get update verifies the source" in_root apt-get update
        check_eq "kiln-test 2.0-1 is the candidate" "2.0-1" "$(candidate kiln-test)"
        printf 'instance-id: iid-apt-1b\n' > "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "a second run changes nothing" "done" \
                "$(json_get "$ROOT.status.json" '[m["state"] for m in d["modules"] if m["name"] == "apt_configure"][0]' 2>&1)"
        check_eq "the source line is not repeated" "1" "$(grep -c . "$ROOT/etc/apt/sources.list.d/kiln-test.list")"
fi

case_begin "apt source with a wrong key"
if debian_root && apt_repo_start; then
        rm -f "$ROOT/etc/apt/sources.list"
        apt_user_data "$APT_REPO_DIR/other-key.asc" | nocloud_seed "$ROOT" iid-apt-2
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check "apt-get update fails" bash -c "! chroot '$ROOT' apt-get update >'$ROOT.cmd' 2>&1"
        check_grep "apt names the missing key" "NO_PUBKEY" "$ROOT.cmd"
fi

case_begin "apt source with a broken key"
if debian_root; then
        printf -- '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64!\n-----END PGP PUBLIC KEY BLOCK-----\n' > "$WORK/broken.asc"
        APT_REPO_URL=http://127.0.0.1:9/ apt_user_data "$WORK/broken.asc" | nocloud_seed "$ROOT" iid-apt-3
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the key is named" "$(diagnostics errors)" "apt_configure[0]: apt.sources.kiln-test.key contains '!'"
        check_absent "no source is written" "$ROOT/etc/apt/sources.list.d/kiln-test.list"
        check_file "the conf snippet is still written" "$ROOT/etc/apt/apt.conf.d/94kiln-config" 'Acquire::Retries "0";\n'
fi
