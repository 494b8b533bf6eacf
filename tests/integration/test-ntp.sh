#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The ntp module. In busybox roots, fake client executables drive the choice of client, and the
# written files are compared byte for byte. In the Debian root, the image's real chronyd parses the
# file kiln writes, and a root without chronyd gets an error that names chrony while the other
# modules still run. With --root other than /, no service is restarted.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

HEADER='# Written by kiln from the ntp key of the cloud-config.\n'
CHRONY_DEBIAN_TAIL='\nkeyfile /etc/chrony/chrony.keys\ndriftfile /var/lib/chrony/chrony.drift\nlogdir /var/log/chrony\nmaxupdateskew 100.0\nrtcsync\nmakestep 1 3\n'

# busybox_run DISTRO EXECUTABLE INSTANCE_ID < USER_DATA: a fresh busybox root in $ROOT whose
# os-release names DISTRO, with a fake client at EXECUTABLE (none when it is ""), then `kiln run`.
busybox_run() {
        ROOT=$(new_root)
        printf 'ID=%s\nVERSION_ID="12"\n' "$1" > "$ROOT/etc/os-release"
        if [ -n "$2" ]; then
                mkdir -p "$ROOT/$(dirname "$2")"
                printf '#!/bin/sh\nexit 0\n' > "$ROOT/$2"
                chmod 755 "$ROOT/$2"
        fi
        nocloud_seed "$ROOT" "$3"
        run_kiln "$ROOT"
}

case_begin "chrony on Debian with servers, pools, peers and allow"
busybox_run debian /usr/sbin/chronyd iid-chrony <<'YAML'
#cloud-config
ntp:
  servers: [ntp1.example.com, 192.0.2.10]
  pools: [pool.example.com]
  peers: [peer.example.com]
  allow: [192.0.2.0/24]
YAML
check_run_result 0 done 0
check_file "chrony.conf has every entry" "$ROOT/etc/chrony/chrony.conf" \
        "$HEADER# See chrony.conf(5).\npool pool.example.com iburst\nserver ntp1.example.com iburst\nserver 192.0.2.10 iburst\npeer peer.example.com\nallow 192.0.2.0/24\n$CHRONY_DEBIAN_TAIL"
check_mode "chrony.conf is 0644" "$ROOT/etc/chrony/chrony.conf" "644 root:root"
check_grep "the restart is left to the root's own boot" "left to start with it" "$ROOT.out"
# An administrator's edit survives a reboot: the module runs once per instance.
echo "server local.example.com iburst" >> "$ROOT/etc/chrony/chrony.conf"
EDITED=$(cat "$ROOT/etc/chrony/chrony.conf")
run_kiln "$ROOT"
check_eq "a second run exits 0" 0 "$KILN_RC"
check_eq "a second run leaves the edited file alone" "$EDITED" "$(cat "$ROOT/etc/chrony/chrony.conf")"

case_begin "default pools of the distribution"
busybox_run ubuntu /usr/sbin/chronyd iid-default-pools < <(printf '#cloud-config\nntp: {}\n')
check_run_result 0 done 0
check_file "chrony.conf has the four ubuntu pools" "$ROOT/etc/chrony/chrony.conf" \
        "$HEADER# See chrony.conf(5).\npool 0.ubuntu.pool.ntp.org iburst\npool 1.ubuntu.pool.ntp.org iburst\npool 2.ubuntu.pool.ntp.org iburst\npool 3.ubuntu.pool.ntp.org iburst\n$CHRONY_DEBIAN_TAIL"

case_begin "systemd-timesyncd chosen when it is the installed client"
busybox_run debian /lib/systemd/systemd-timesyncd iid-timesyncd <<'YAML'
#cloud-config
ntp:
  servers: [ntp1.example.com]
  pools: [pool.example.com]
YAML
check_run_result 0 done 0
check_file "the drop-in lists servers and pools" "$ROOT/etc/systemd/timesyncd.conf.d/kiln.conf" \
        "$HEADER# See timesyncd.conf(5).\n\n[Time]\nNTP=ntp1.example.com pool.example.com\n"
check_absent "no chrony.conf is written" "$ROOT/etc/chrony/chrony.conf"

case_begin "ntpd on a RHEL root"
busybox_run rhel /usr/sbin/ntpd iid-ntpd < <(printf '#cloud-config\nntp:\n  ntp_client: ntp\n  servers: [ntp1.example.com]\n')
check_run_result 0 done 0
check_grep "ntp.conf has the server with iburst" "^server ntp1.example.com iburst$" "$ROOT/etc/ntp.conf"
check_grep "ntp.conf keeps the drift file" "^driftfile /var/lib/ntp/drift$" "$ROOT/etc/ntp.conf"

case_begin "a newline in a server is rejected"
busybox_run debian /usr/sbin/chronyd iid-injection <<'YAML'
#cloud-config
ntp:
  servers: ["ntp1.example.com\nallow all"]
runcmd:
  - [touch, /runcmd-ran]
YAML
check_run_result 1 error 1
check_contains "the error names the item" "$(diagnostics errors)" "ntp[0]: ntp.servers.0 is 'ntp1.example.com\\nallow all'"
check_absent "no chrony.conf is written" "$ROOT/etc/chrony/chrony.conf"
check_exists "runcmd still runs" "$ROOT/runcmd-ran"

case_begin "kiln validate rejects the same server"
printf '#cloud-config\nntp:\n  servers: ["ntp1.example.com iburst"]\n' > "$WORK/ntp-space.yaml"
VALIDATE_OUT=$("$KILN" validate "$WORK/ntp-space.yaml" 2>&1)
check_eq "kiln validate exits 1" 1 "$?"
check_contains "the message names the key" "$VALIDATE_OUT" "ntp.servers.0 is 'ntp1.example.com iburst'"

# The Debian root has chrony and no other NTP client.
case_begin "Debian root: the image's chronyd reads the file"
if debian_root; then
        nocloud_seed "$ROOT" iid-debian-chrony <<'YAML'
#cloud-config
ntp:
  servers: [ntp1.example.com]
  pools: [pool.example.com]
  allow: [10.0.0.0/8]
YAML
        ORIGINAL=$(cat "$ROOT/etc/chrony/chrony.conf")
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "the image's chrony.conf is kept as chrony.conf.dist" "$ORIGINAL" \
                "$(cat "$ROOT/etc/chrony/chrony.conf.dist")"
        PARSED=$(chroot "$ROOT" /usr/sbin/chronyd -p -f /etc/chrony/chrony.conf 2>&1)
        check_eq "chronyd parses the file" 0 "$?"
        check_contains "chronyd reads the server" "$PARSED" "server ntp1.example.com iburst"
        check_contains "chronyd reads the pool" "$PARSED" "pool pool.example.com iburst"
        check_contains "chronyd reads allow" "$PARSED" "allow 10.0.0.0/8"
fi

case_begin "Debian root without chrony: error naming chrony, other modules run"
if debian_root; then
        rm "$ROOT/usr/sbin/chronyd"
        ORIGINAL=$(cat "$ROOT/etc/chrony/chrony.conf")
        nocloud_seed "$ROOT" iid-debian-no-chrony <<'YAML'
#cloud-config
ntp:
  servers: [ntp1.example.com]
runcmd:
  - [touch, /runcmd-ran]
YAML
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error names chrony and its package" "$(diagnostics errors)" \
                "The NTP client 'chrony' is not installed in the image ('chronyd' not found)"
        check_contains "the error says what to install" "$(diagnostics errors)" "Install the package 'chrony'"
        check_eq "chrony.conf is unchanged" "$ORIGINAL" "$(cat "$ROOT/etc/chrony/chrony.conf")"
        check_exists "runcmd still runs" "$ROOT/runcmd-ran"
fi
