#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The yum_repos module on a busybox root. User data gives the exact .repo file, and an existing
# file is kept as it is. A repository id that is not a file name is rejected while the others are
# written, and a second run changes nothing.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

case_begin "yum repository file"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-yum-1 <<'EOF_USER_DATA'
#cloud-config
yum_repos:
  epel testing:
    name: Extra Packages for Enterprise Linux - Testing
    baseurl: http://download.example/pub/epel/testing/$releasever/$basearch/
    enabled: false
    gpgcheck: true
    gpgkey:
      - file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL
      - https://download.example/RPM-GPG-KEY-EPEL-2
    skip-if-unavailable: yes
    priority: 10
EOF_USER_DATA
run_kiln "$ROOT"
check_run_result 0 done 0
check_file "the .repo file has cloud-init's layout" "$ROOT/etc/yum.repos.d/epel-testing.repo" \
        "# Created by kiln\n[epel-testing]\nname = Extra Packages for Enterprise Linux - Testing\nbaseurl = http://download.example/pub/epel/testing/\$releasever/\$basearch/\nenabled = 0\ngpgcheck = 1\ngpgkey = file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL\n\thttps://download.example/RPM-GPG-KEY-EPEL-2\nskip_if_unavailable = 1\npriority = 10\n\n"
check_mode "the .repo file has mode 0644" "$ROOT/etc/yum.repos.d/epel-testing.repo" "644 root:root"
BEFORE=$(stat -c %Y.%i "$ROOT/etc/yum.repos.d/epel-testing.repo")
# A new instance id runs the per-instance module again over the same user data.
printf 'instance-id: iid-yum-1b\n' > "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "the second run changes nothing" "done" \
        "$(json_get "$ROOT.status.json" '[m["state"] for m in d["modules"] if m["name"] == "yum_repos"][0]' 2>&1)"
check_eq "a second run keeps the file" "$BEFORE" "$(stat -c %Y.%i "$ROOT/etc/yum.repos.d/epel-testing.repo")"

case_begin "existing yum repository file"
ROOT=$(new_root)
mkdir -p "$ROOT/etc/yum.repos.d"
printf '[base]\nbaseurl=http://image/\n' > "$ROOT/etc/yum.repos.d/base.repo"
nocloud_seed "$ROOT" iid-yum-2 <<'EOF_USER_DATA'
#cloud-config
yum_repos:
  base:
    baseurl: http://user-data/
EOF_USER_DATA
run_kiln "$ROOT"
check_run_result 0 done 0
check_file "the image's file is kept" "$ROOT/etc/yum.repos.d/base.repo" "[base]\nbaseurl=http://image/\n"
check_grep "the skip is logged" "Skipping yum repository 'base'" "$ROOT.out"

case_begin "invalid yum repositories"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-yum-3 <<'EOF_USER_DATA'
#cloud-config
yum_repos:
  ../../etc/shadow:
    baseurl: http://evil/
  no-source:
    name: Nowhere
  good:
    baseurl: http://good/
EOF_USER_DATA
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the bad id is named" "$(diagnostics errors)" "yum_repos[0]: yum_repos: the repository id '../../etc/shadow'"
check_contains "the repository without a source is named" "$(diagnostics errors)" "yum_repos[1]: yum_repos: the repository 'no-source' has none of baseurl"
check_absent "nothing is written outside the folder" "$ROOT/etc/shadow.repo"
check_absent "the repository without a source is not written" "$ROOT/etc/yum.repos.d/no-source.repo"
check_file "the valid repository is written" "$ROOT/etc/yum.repos.d/good.repo" "# Created by kiln\n[good]\nbaseurl = http://good/\n\n"
check "kiln validate rejects the same input" bash -c "! '$KILN' validate '$ROOT/var/lib/kiln/seed/nocloud/user-data' >/dev/null 2>&1"
