#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The etc_hosts module: manage_etc_hosts true, 'localhost' and false on a busybox root and on the
# Debian root's real /etc/hosts, resolution through the root's own getent, and second runs that
# leave the file untouched.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# seed_run ROOT INSTANCE_ID < USER_DATA: a NoCloud seed holding stdin as its user data, then
# `kiln run` on ROOT.
seed_run() {
        nocloud_seed "$1" "$2"
        run_kiln "$1"
}

mtime() {
        stat -c %Y.%i "$1"
}

case_begin "manage_etc_hosts true on a busybox root"
ROOT=$(new_root)
printf '127.0.0.1 image\n' > "$ROOT/etc/hosts"
chmod 0640 "$ROOT/etc/hosts"
seed_run "$ROOT" iid-hosts-true < <(printf '#cloud-config\nmanage_etc_hosts: true\nfqdn: web-1.example.com\n')
check_run_result 0 done 0
check_grep "the 127.0.1.1 line names the fqdn, then the hostname" '^127\.0\.1\.1 web-1\.example\.com web-1$' "$ROOT/etc/hosts"
check_grep "the header says how to stop kiln managing the file" 'manage_etc_hosts to false' "$ROOT/etc/hosts"
check "the image's line is gone" bash -c "! grep -q image '$ROOT/etc/hosts'"
check_mode "the mode is kept" "$ROOT/etc/hosts" "640 root:root"
BEFORE=$(mtime "$ROOT/etc/hosts")
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "a second run leaves the file untouched" "$BEFORE" "$(mtime "$ROOT/etc/hosts")"

case_begin "a site template"
ROOT=$(new_root)
mkdir -p "$ROOT/etc/kiln/templates"
printf '## template:jinja\n{# site hosts #}\n10.9.9.9 {{ fqdn }} {{ hostname }}\n' > "$ROOT/etc/kiln/templates/hosts.tmpl"
seed_run "$ROOT" iid-hosts-tmpl < <(printf '#cloud-config\nmanage_etc_hosts: true\nhostname: db-1.example.org\n')
check_run_result 0 done 0
check_file "the template is rendered" "$ROOT/etc/hosts" '10.9.9.9 db-1.example.org db-1\n'

case_begin "manage_etc_hosts: template is deprecated"
ROOT=$(new_root)
seed_run "$ROOT" iid-hosts-deprecated < <(printf '#cloud-config\nmanage_etc_hosts: template\nhostname: web-2\n')
check_run_result 0 degraded 2
check_contains "the warning names the key" "$(diagnostics warnings)" "manage_etc_hosts: 'template' is deprecated"
check_grep "the file is written" '^127\.0\.1\.1 web-2$' "$ROOT/etc/hosts"

case_begin "an invalid value"
ROOT=$(new_root)
printf '127.0.0.1 image\n' > "$ROOT/etc/hosts"
seed_run "$ROOT" iid-hosts-bad < <(printf '#cloud-config\nmanage_etc_hosts: always\nhostname: web-3\n')
check_run_result 1 error 1
check_contains "the error names the key and value" "$(diagnostics errors)" "manage_etc_hosts: expected true, false or 'localhost', got 'always'"
check_file "/etc/hosts is left as it was" "$ROOT/etc/hosts" '127.0.0.1 image\n'
check_file "the hostname module still ran" "$ROOT/etc/hostname" 'web-3\n'

case_begin "manage_etc_hosts false"
ROOT=$(new_root)
printf '127.0.0.1 image\n' > "$ROOT/etc/hosts"
seed_run "$ROOT" iid-hosts-false < <(printf '#cloud-config\nmanage_etc_hosts: false\nhostname: web-4\n')
check_run_result 0 done 0
check_file "/etc/hosts is left as it was" "$ROOT/etc/hosts" '127.0.0.1 image\n'

case_begin "manage_etc_hosts localhost on the Debian root"
if debian_root; then
        # debootstrap writes no /etc/hosts, so give the root the one Debian's installer writes.
        printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n' \
                > "$ROOT/etc/hosts"
        cp "$ROOT/etc/hosts" "$WORK/debian-hosts"
        printf '10.0.0.5 db.internal db\n' >> "$ROOT/etc/hosts"
        seed_run "$ROOT" iid-hosts-debian < <(printf '#cloud-config\nmanage_etc_hosts: localhost\nfqdn: app-1.example.net\n')
        check_run_result 0 done 0
        check_eq "the root's getent resolves the fqdn" "127.0.1.1       app-1.example.net app-1" \
                "$(chroot "$ROOT" getent hosts app-1.example.net)"
        check_eq "the root's getent resolves the short name" "127.0.1.1       app-1.example.net app-1" \
                "$(chroot "$ROOT" getent hosts app-1)"
        check_eq "other lines are kept" "10.0.0.5        db.internal db" "$(chroot "$ROOT" getent hosts db)"
        check_eq "only the 127.0.1.1 line changed" "2c2
< 127.0.1.1	debian
---
> 127.0.1.1 app-1.example.net app-1" "$(diff "$WORK/debian-hosts" <(grep -v '^10\.0\.0\.5' "$ROOT/etc/hosts"))"
        BEFORE=$(mtime "$ROOT/etc/hosts")
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "a second run leaves the file untouched" "$BEFORE" "$(mtime "$ROOT/etc/hosts")"
fi

case_begin "manage_etc_hosts true on the Debian root"
if debian_root; then
        seed_run "$ROOT" iid-hosts-debian-true < <(printf '#cloud-config\nmanage_etc_hosts: true\nhostname: app-2\nfqdn: app-2.example.net\n')
        check_run_result 0 done 0
        check_eq "the root's getent resolves the fqdn" "127.0.1.1       app-2.example.net app-2" \
                "$(chroot "$ROOT" getent hosts app-2.example.net)"
        check_eq "localhost resolves to ::1 or 127.0.0.1" "ok" \
                "$(chroot "$ROOT" getent hosts localhost | grep -qE '^(::1|127\.0\.0\.1) ' && echo ok)"
        check_mode "the mode is 0644" "$ROOT/etc/hosts" "644 root:root"
fi

case_begin "an administrator's rename keeps their hosts file"
ROOT=$(new_root)
USER_DATA='#cloud-config\nhostname: web-1\nfqdn: web-1.example.com\nmanage_etc_hosts: true\n'
seed_run "$ROOT" iid-hosts-admin < <(printf "$USER_DATA")
check_run_result 0 done 0
check_grep "the first run maps kiln's names" '^127\.0\.1\.1 web-1\.example\.com web-1$' "$ROOT/etc/hosts"
echo admin-name > "$ROOT/etc/hostname"
ADMIN_HOSTS=$'127.0.1.1 admin.example.com admin-name\n127.0.0.1 localhost'
echo "$ADMIN_HOSTS" > "$ROOT/etc/hosts"
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "the hostname stays the administrator's" admin-name "$(cat "$ROOT/etc/hostname")"
check_eq "the hosts file stays the administrator's" "$ADMIN_HOSTS" "$(cat "$ROOT/etc/hosts")"
check_grep "the log says why the hosts file is left alone" \
        "etc_hosts: /etc/hostname contains 'admin-name', which an administrator set after kiln" "$ROOT.out"

case_begin "a new instance manages the hosts file again"
seed_run "$ROOT" iid-hosts-admin-2 < <(printf "$USER_DATA")
check_run_result 0 done 0
check_eq "the new instance sets kiln's hostname" web-1 "$(cat "$ROOT/etc/hostname")"
check_grep "the new instance maps kiln's names" '^127\.0\.1\.1 web-1\.example\.com web-1$' "$ROOT/etc/hosts"
check "the administrator's line is gone" bash -c "! grep -q admin-name '$ROOT/etc/hosts'"
