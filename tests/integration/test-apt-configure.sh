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

case_begin "apt source with options and its key"
if debian_root && apt_repo_start; then
        rm -f "$ROOT/etc/apt/sources.list"
        cat <<EOF_USER_DATA | nocloud_seed "$ROOT" iid-apt-options
#cloud-config
apt:
  preserve_sources_list: true
  sources:
    mine:
      source: "deb [arch=amd64] $APT_REPO_URL kiln main"
      key: |
$(sed 's/^/        /' "$APT_REPO_DIR/key.asc")
packages: [hello]
EOF_USER_DATA
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_file "signed-by joins the options" "$ROOT/etc/apt/sources.list.d/mine.list" \
                "deb [arch=amd64 signed-by=/etc/apt/keyrings/kiln-mine.asc] ${APT_REPO_URL} kiln main\n"
        check "hello from the signed source runs" in_root hello
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

# keyserver_start: serve the HKP lookup (draft-shaw-openpgp-hkp-00, section 3) on 127.0.0.1, on a
# port the kernel picks: GET /pks/lookup?op=get&options=mr&search=0xID returns the repository's
# key.asc as application/pgp-keys when ID is the end of its fingerprint, and 404 otherwise. Sets
# KEYSERVER to hkp://127.0.0.1:PORT and KEYSERVER_LOG to the list of requested paths.
keyserver_start() {
        local log=$WORK/keyserver.out i
        KEYSERVER_LOG=$WORK/keyserver.requests
        : > "$KEYSERVER_LOG"
        cat > "$WORK/keyserver.py" <<'EOF_PY'
import http.server, sys, urllib.parse

key = open(sys.argv[1], "rb").read()
fingerprint = open(sys.argv[2]).read().strip().upper()
requests = open(sys.argv[3], "a")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        requests.write(self.path + "\n")
        requests.flush()
        search = query.get("search", [""])[0].upper()
        found = (url.path == "/pks/lookup" and query.get("op") == ["get"] and search.startswith("0X")
                 and len(search) > 2 and fingerprint.endswith(search[2:]))
        body = key if found else b"No results found"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/pgp-keys" if found else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print("port %d" % server.server_port, flush=True)
server.serve_forever()
EOF_PY
        setpriv --pdeathsig TERM /usr/bin/python3 -u "$WORK/keyserver.py" "$APT_REPO_DIR/key.asc" \
                "$APT_REPO_DIR/key.fingerprint" "$KEYSERVER_LOG" >"$log" 2>&1 &
        KEYSERVER_PID=$!
        for i in $(seq 100); do
                KEYSERVER=$(sed -n 's/^port \([0-9]*\)$/hkp:\/\/127.0.0.1:\1/p' "$log")
                [ -n "$KEYSERVER" ] && return 0
                sleep 0.05
        done
        echo "test-apt-configure: the keyserver did not start:" >&2
        cat "$log" >&2
        return 1
}

keyserver_stop() {
        if [ -n "${KEYSERVER_PID:-}" ]; then
                kill "$KEYSERVER_PID" 2>/dev/null || true
                wait "$KEYSERVER_PID" 2>/dev/null || true
                KEYSERVER_PID=
        fi
}

# main_list_user_data KEYID: user data that makes the local repository the primary mirror, signed
# by the key KEYID from the mock keyserver, with a deb822 sources_list template and one debconf
# selection. The template names the suite 'kiln' and the suite 'kiln-updates', which the
# repository lacks, so apt-get update fails unless disable_suites turns it off.
main_list_user_data() {
        cat <<EOF_USER_DATA
#cloud-config
apt:
  preserve_sources_list: false
  primary:
    - arches: [default]
      uri: $APT_REPO_URL
      keyid: "$1"
      keyserver: $KEYSERVER
  sources_list: |
    Types: deb
    URIs: \$MIRROR
    Suites: kiln kiln-updates
    Components: main
    Signed-By: \$primary_key
  disable_suites: [kiln-updates]
  conf: |
    Acquire::Retries "0";
  debconf_selections:
    tzdata: tzdata tzdata/Areas select Europe
EOF_USER_DATA
}

case_begin "main list from a template with the primary key from a keyserver"
if debian_root && apt_repo_start && keyserver_start; then
        fingerprint=$(cat "$APT_REPO_DIR/key.fingerprint")
        check_exists "the image has a classic main list" "$ROOT/etc/apt/sources.list"
        main_list_user_data "${fingerprint: -16}" | nocloud_seed "$ROOT" iid-apt-main-1
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_file "the main list is the rendered template" "$ROOT/etc/apt/sources.list.d/debian.sources" \
                "Types: deb\nURIs: ${APT_REPO_URL}\n# suite disabled by kiln: Suites: kiln kiln-updates\nSuites: kiln\nComponents: main\nSigned-By: /etc/apt/keyrings/kiln-primary.asc\n"
        check_absent "the classic list is removed" "$ROOT/etc/apt/sources.list"
        check_file "the fetched key is the repository's key" "$ROOT/etc/apt/keyrings/kiln-primary.asc" \
                "$(cat "$APT_REPO_DIR/key.asc")\n"
        check_grep "the keyserver got the HKP lookup" \
                "^/pks/lookup\\?op=get&options=mr&search=0x${fingerprint: -16}\$" "$KEYSERVER_LOG"
        check "apt-get update verifies the main list" in_root apt-get update
        check "apt-get update needs no unsigned repository" \
                bash -c "! grep -qiE 'not signed|NO_PUBKEY|insecure' '$ROOT.cmd'"
        check_eq "kiln-test 2.0-1 is the candidate" "2.0-1" "$(candidate kiln-test)"
        check "debconf has the selection" bash -c \
                "chroot '$ROOT' debconf-show tzdata 2>&1 | grep -qx '\\* tzdata/Areas: Europe'"
        # An atomic write replaces the inode, so unchanged inodes mean that nothing was written.
        inodes=$(stat -c %i "$ROOT/etc/apt/sources.list.d/debian.sources" "$ROOT/etc/apt/keyrings/kiln-primary.asc")
        printf 'instance-id: iid-apt-main-1b\n' > "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "a second run rewrites neither the main list nor the key" "$inodes" \
                "$(stat -c %i "$ROOT/etc/apt/sources.list.d/debian.sources" "$ROOT/etc/apt/keyrings/kiln-primary.asc")"
        keyserver_stop
fi

case_begin "keyid that the keyserver does not have"
if debian_root && apt_repo_start && keyserver_start; then
        cat <<EOF_USER_DATA | nocloud_seed "$ROOT" iid-apt-main-2
#cloud-config
apt:
  preserve_sources_list: true
  sources:
    a-missing:
      source: "deb $APT_REPO_URL kiln main"
      keyid: "0123456789ABCDEF"
      keyserver: $KEYSERVER
    b-plain:
      source: "deb [signed-by=/etc/apt/keyrings/none.gpg] $APT_REPO_URL kiln main"
EOF_USER_DATA
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error names the source and the keyid" "$(diagnostics errors)" \
                "apt_configure[0]: Failed to fetch key '0123456789ABCDEF' of apt.sources.a-missing from keyserver '$KEYSERVER'"
        check_absent "the source without its key is not written" "$ROOT/etc/apt/sources.list.d/a-missing.list"
        check_exists "the other source is still written" "$ROOT/etc/apt/sources.list.d/b-plain.list"
        keyserver_stop
fi
