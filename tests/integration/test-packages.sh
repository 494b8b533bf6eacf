#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The packages module in a Debian root with its real apt-get and dpkg, installing from the signed
# local repository of tests/fixtures/apt-repo: a package from the Debian archive, a pinned
# version that is not the candidate, a package that is installed already (no apt-get call), a
# misspelled name (apt's reason, later modules still run), the dpkg lock held for a while and
# past the deadline, and a reboot that a package's postinst requests.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# prepare: wrap the root's apt-get in a shim that records each call's arguments and then runs
# the real one, and give the root a shutdown that only records how it was called.
prepare() {
        mv "$ROOT/usr/bin/apt-get" "$ROOT/usr/bin/apt-get.real"
        printf '#!/bin/sh\necho "$*" >> /var/log/apt-get-calls\nexec /usr/bin/apt-get.real "$@"\n' \
                > "$ROOT/usr/bin/apt-get"
        chmod 0755 "$ROOT/usr/bin/apt-get"
        printf '#!/bin/sh\nif [ -e /run/kiln/result.json ]; then r=reported; else r=unreported; fi\n%s\n' \
                'echo "$* ($r)" >> /var/lib/test-shutdown' > "$ROOT/usr/sbin/shutdown"
        chmod 0755 "$ROOT/usr/sbin/shutdown"
}

# installed NAME: the status and version that the root's dpkg records for NAME.
installed() {
        chroot "$ROOT" dpkg-query --show --showformat='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null
}

# detail FIELD: the FIELD of each package in the module's status.json record, one per line.
detail() {
        json_get "$ROOT/run/kiln/status.json" \
                '"\n".join("%s %s" % (p["name"], p["'"$1"'"]) for m in d["modules"] if m["name"] == "packages" for p in m.get("packages", []))'
}

# hold_lock FILE SECONDS: lock FILE inside the root as apt does (fcntl F_SETLK) for SECONDS in
# the background; sets HOLDER to the holder's pid once the lock is taken.
hold_lock() {
        rm -f "$WORK/locked"
        /usr/bin/python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "w")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[3], "w").close()
time.sleep(float(sys.argv[2]))' "$ROOT/$1" "$2" "$WORK/locked" &
        HOLDER=$!
        for _ in $(seq 100); do
                [ -e "$WORK/locked" ] && return 0
                sleep 0.05
        done
        echo "test-packages.sh: the lock holder did not start" >&2
        return 1
}

case_begin "a package from the Debian archive"
if debian_root && apt_repo_start; then
        prepare
        apt_repo_use "$ROOT"
        nocloud_seed "$ROOT" iid-pkg-1 <<EOF
#cloud-config
packages:
  - hello
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "dpkg records hello as installed" "ii 2.10-3" "$(installed hello)"
        check_eq "hello runs" "Hello, world!" "$(chroot "$ROOT" /usr/bin/hello 2>&1)"
        check_eq "apt-get updated, then installed" \
                "$(printf '%s\n' update install)" \
                "$(awk '{ for (i = 1; i <= NF; i++) if ($i == "update" || $i == "install") print $i }' \
                        "$ROOT/var/log/apt-get-calls")"
        check_grep "apt-get ran with the lock timeout" '--option=DPkg::Lock::Timeout=120 ' \
                "$ROOT/var/log/apt-get-calls"
        check_grep "apt-get kept existing configuration files" '--force-confold' "$ROOT/var/log/apt-get-calls"
        check_eq "status.json records hello as installed" "hello installed" "$(detail result)"
        check_grep "apt's output went to kiln-output.log" 'Setting up hello' "$ROOT/var/log/kiln-output.log"

        rm -f "$ROOT/var/log/apt-get-calls"
        cp "$ROOT/var/lib/kiln/seed/nocloud/user-data" "$WORK/user-data-1"
        nocloud_seed "$ROOT" iid-pkg-1-again < "$WORK/user-data-1"
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_absent "a second run calls no apt-get" "$ROOT/var/log/apt-get-calls"
        check_eq "a second run records hello as present" "hello present" "$(detail result)"
fi

case_begin "a pinned version that is not the candidate"
if debian_root && apt_repo_start; then
        prepare
        apt_repo_use "$ROOT"
        nocloud_seed "$ROOT" iid-pkg-2 <<EOF
#cloud-config
packages:
  - [kiln-test, "1.0-1"]
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_grep "apt's candidate is 2.0-1" 'Candidate: 2\.0-1' <(chroot "$ROOT" apt-cache policy kiln-test)
        check_eq "dpkg records kiln-test 1.0-1" "ii 1.0-1" "$(installed kiln-test)"
        check_file "the package's file has version 1.0-1" "$ROOT/usr/share/kiln-test/version" "1.0-1\n"
        check_grep "apt-get installed kiln-test=1.0-1" ' install kiln-test=1\.0-1$' "$ROOT/var/log/apt-get-calls"
        check_eq "status.json records the version" "kiln-test 1.0-1" "$(detail version)"
fi

case_begin "a package whose postinst fails"
if debian_root && apt_repo_start; then
        prepare
        apt_repo_use "$ROOT"
        nocloud_seed "$ROOT" iid-pkg-postinst <<EOF
#cloud-config
packages: [hello, kiln-fail]
runcmd:
  - touch /var/lib/runcmd-ran
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error carries dpkg's reason" "$(diagnostics errors)" \
                "packages[1]: Failed to install the package 'kiln-fail': /usr/bin/apt-get exited with 100: dpkg: error processing package kiln-fail (--configure): installed kiln-fail package post-installation script subprocess returned error exit status 1"
        check_eq "the error has no /dev/pts noise" 0 "$(diagnostics errors | grep -c 'dev/pts')"
        check_eq "status.json records hello installed and kiln-fail failed" \
                "$(printf 'hello installed\nkiln-fail failed')" "$(detail result)"
        check_eq "hello is installed" "ii 2.10-3" "$(installed hello)"
        check_grep "the postinst's own message went to kiln-output.log" 'kiln-fail: /etc/kiln-fail.conf is missing' \
                "$ROOT/var/log/kiln-output.log"
        check_exists "runcmd still ran" "$ROOT/var/lib/runcmd-ran"
fi

case_begin "conflicting pins and a duplicate"
if debian_root && apt_repo_start; then
        prepare
        apt_repo_use "$ROOT"
        nocloud_seed "$ROOT" iid-pkg-conflict <<EOF
#cloud-config
packages:
  - [kiln-test, "1.0-1"]
  - hello
  - [kiln-test, "2.0-1"]
  - hello
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error names both items" "$(diagnostics errors)" \
                "packages[2]: packages[0] requests version '1.0-1' and packages[2] version '2.0-1' of the package 'kiln-test', so neither is installed."
        check_contains "the duplicate gets a warning" "$(diagnostics warnings)" \
                "packages[3]: packages[3]: the package 'hello' is also requested by packages[1], ignoring the duplicate."
        check_eq "kiln-test is not installed" "" "$(installed kiln-test)"
        check_eq "hello is installed" "ii 2.10-3" "$(installed hello)"
        check_eq "status.json records each package once" \
                "$(printf 'kiln-test failed\nhello installed\nkiln-test failed')" "$(detail result)"
        check_eq "status.json records the installed version" "hello 2.10-3" \
                "$(detail installed_version | grep -v None)"
fi

case_begin "packages that are installed already"
if debian_root; then
        prepare
        SUDO_VERSION=$(chroot "$ROOT" dpkg-query --show --showformat='${Version}' sudo)
        nocloud_seed "$ROOT" iid-pkg-3 <<EOF
#cloud-config
packages:
  - sudo
  - [openssl, "$(chroot "$ROOT" dpkg-query --show --showformat='${Version}' openssl)"]
  - apt: [tzdata]
    snap: [lxd]
EOF
        run_kiln "$ROOT"
        check_run_result 0 degraded 2
        check_absent "apt-get was not called" "$ROOT/var/log/apt-get-calls"
        check_eq "status.json records every package as present" \
                "$(printf 'sudo present\nopenssl present\ntzdata present')" "$(detail result)"
        check_contains "the snap is skipped with a warning" "$(diagnostics warnings)" \
                'packages[2]: packages[2].snap: kiln does not install snap packages, skipping ["lxd"].'
        check_eq "sudo is unchanged" "ii $SUDO_VERSION" "$(installed sudo)"
fi

case_begin "a misspelled package"
if debian_root && apt_repo_start; then
        prepare
        apt_repo_use "$ROOT"
        nocloud_seed "$ROOT" iid-pkg-4 <<EOF
#cloud-config
packages:
  - hello
  - helo
runcmd:
  - touch /var/lib/runcmd-ran
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error names the package and apt's reason" "$(diagnostics errors)" \
                "packages[1]: Failed to install the package 'helo': /usr/bin/apt-get exited with 100: E: Unable to locate package helo"
        check_eq "status.json records both as failed" "$(printf 'hello failed\nhelo failed')" "$(detail result)"
        check_exists "runcmd still ran" "$ROOT/var/lib/runcmd-ran"
        check_eq "hello was not installed either, as apt installs all or nothing" "" "$(installed hello)"
fi

case_begin "the dpkg lock held for 3 s"
if debian_root && apt_repo_start; then
        prepare
        apt_repo_use "$ROOT"
        nocloud_seed "$ROOT" iid-pkg-5 <<EOF
#cloud-config
packages: [hello]
EOF
        hold_lock var/lib/dpkg/lock-frontend 3
        START=$(now)
        run_kiln "$ROOT"
        ELAPSED=$(seconds_since "$START")
        wait "$HOLDER" 2>/dev/null
        check_run_result 0 done 0
        check_grep "the log names the holder" \
                "Waiting for '/var/lib/dpkg/lock-frontend', held by process $HOLDER \\(python3\\)" "$ROOT.out"
        check_le "kiln waited for the lock" 2.5 "$ELAPSED"
        check_eq "hello was installed" "ii 2.10-3" "$(installed hello)"
fi

case_begin "the dpkg lock held past the deadline"
if debian_root && apt_repo_start; then
        prepare
        apt_repo_use "$ROOT"
        mkdir -p "$ROOT/etc/kiln"
        printf 'system_info:\n  package_lock_timeout: 0.5\n' > "$ROOT/etc/kiln/kiln.yaml"
        nocloud_seed "$ROOT" iid-pkg-6 <<EOF
#cloud-config
packages: [hello]
runcmd:
  - touch /var/lib/runcmd-ran
EOF
        hold_lock var/lib/dpkg/lock 30
        run_kiln "$ROOT"
        kill "$HOLDER" 2>/dev/null
        wait "$HOLDER" 2>/dev/null
        check_run_result 1 error 1
        check_contains "the error names the lock and its holder" "$(diagnostics errors)" \
                "packages: Failed to get the lock '/var/lib/dpkg/lock' of apt within 0.5 s, it is held by process $HOLDER (python3), so no package was installed."
        check_absent "apt-get was not called" "$ROOT/var/log/apt-get-calls"
        check_exists "runcmd still ran" "$ROOT/var/lib/runcmd-ran"
fi

case_begin "a package on hold"
if debian_root; then
        prepare
        echo "sudo hold" | chroot "$ROOT" dpkg --set-selections
        check_eq "dpkg marks sudo on hold" "hi " "$(chroot "$ROOT" dpkg-query --show --showformat='${db:Status-Abbrev}' sudo)"
        nocloud_seed "$ROOT" iid-pkg-hold <<EOF
#cloud-config
packages: [sudo]
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "status.json records sudo as present" "sudo present" "$(detail result)"
        check_absent "apt-get was not called" "$ROOT/var/log/apt-get-calls"
fi

case_begin "a reboot that a package requires"
if debian_root && apt_repo_start; then
        prepare
        apt_repo_use "$ROOT"
        : > "$ROOT/etc/kiln-test-reboot"
        nocloud_seed "$ROOT" iid-pkg-7 <<EOF
#cloud-config
packages: [kiln-test]
package_reboot_if_required: true
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "dpkg records kiln-test 2.0-1" "ii 2.0-1" "$(installed kiln-test)"
        check_exists "the postinst asked for a reboot" "$ROOT/run/reboot-required"
        check_file "shutdown ran after the report" "$ROOT/var/lib/test-shutdown" \
                "-r now Rebooting because installed packages require it (reported)\n"
fi

case_begin "the deprecated apt_ names"
if debian_root; then
        prepare
        : > "$ROOT/run/reboot-required"
        nocloud_seed "$ROOT" iid-pkg-8 <<EOF
#cloud-config
packages: [sudo]
apt_reboot_if_required: true
EOF
        run_kiln "$ROOT"
        check_run_result 0 degraded 2
        check_contains "the old name gets a deprecation warning" "$(diagnostics warnings)" \
                "package_reboot_if_required"
        check_file "apt_reboot_if_required still reboots" "$ROOT/var/lib/test-shutdown" \
                "-r now Rebooting because installed packages require it (reported)\n"
fi

case_begin "validate reaches the verdict of run"
cat > "$WORK/bad-packages.yaml" <<EOF
#cloud-config
packages:
  - hello
  - "-oAPT::Get::AllowUnauthenticated=true"
EOF
OUT=$("$KILN" validate "$WORK/bad-packages.yaml" 2>&1)
check_contains "validate rejects the option as a package name" "$OUT" "packages.1 is not a valid package name"
ROOT=$(new_root)
mkdir -p "$ROOT/usr/bin" && : > "$ROOT/usr/bin/apt-get"
nocloud_seed "$ROOT" iid-pkg-9 < "$WORK/bad-packages.yaml"
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "run rejects it with the same message" "$(diagnostics errors)" \
        "packages[1]: packages.1 is not a valid package name: '-oAPT::Get::AllowUnauthenticated=true'"

case_begin "loose shapes that cloud-init accepts"
if debian_root && apt_repo_start; then
        prepare
        apt_repo_use "$ROOT"
        cat > "$WORK/loose-packages.yaml" <<EOF
#cloud-config
packages: hello
package_update: 1
EOF
        OUT=$("$KILN" validate "$WORK/loose-packages.yaml" 2>&1)
        check_contains "validate warns about the string" "$OUT" \
                "packages is the string 'hello', not a list, so it is read as the list ['hello']."
        check_contains "validate warns about the number" "$OUT" \
                "package_update is the number 1, not a boolean, so it is read as true."
        nocloud_seed "$ROOT" iid-pkg-loose-1 < "$WORK/loose-packages.yaml"
        run_kiln "$ROOT"
        check_run_result 0 degraded 2
        check_contains "run warns about the string as validate does" "$(diagnostics warnings)" \
                "packages is the string 'hello', not a list, so it is read as the list ['hello']."
        check_eq "hello is installed" "ii 2.10-3" "$(installed hello)"
        check_eq "apt-get updated, then installed" "$(printf '%s\n' update install)" \
                "$(awk '{ for (i = 1; i <= NF; i++) if ($i == "update" || $i == "install") print $i }' \
                        "$ROOT/var/log/apt-get-calls")"

        nocloud_seed "$ROOT" iid-pkg-loose-2 <<EOF
#cloud-config
packages:
  - [sudo]
package_update: 0
EOF
        rm -f "$ROOT/var/log/apt-get-calls"
        run_kiln "$ROOT"
        check_run_result 0 degraded 2
        check_contains "a one-item list is read as the name" "$(diagnostics warnings)" \
                "packages[0]: packages.0 is a list of one item, so it is read as the package name 'sudo'."
        check_eq "status.json records sudo as present" "sudo present" "$(detail result)"
        check_absent "package_update 0 runs no update" "$ROOT/var/log/apt-get-calls"
fi

case_begin "rpm queries of 40 missing packages"
# rpm -q exits with the number of names that are not installed (at most 254), so one query of 40
# missing names would exit 40. The stand-in dnf and rpm record their argv in /run/package-calls,
# and the stand-in rpm reports no package as installed until the stand-in dnf has installed them.
ROOT=$(new_root)
printf '#!/bin/sh\necho "$0 $*" >> /run/package-calls\n[ "$2" = install ] && touch /run/installed\nexit 0\n' \
        > "$ROOT/usr/bin/dnf"
cat > "$ROOT/usr/bin/rpm" <<'RPM'
#!/bin/sh
echo "$0 $1 $2 $3 ($(($# - 3)) names)" >> /run/package-calls
shift 3
if [ -e /run/installed ]; then
        printf '%s.noarch\t1.0-1\n' "$@"
        exit 0
fi
for name in "$@"; do
        echo "package $name is not installed"
done
[ $# -gt 254 ] && exit 254
exit $#
RPM
chmod 0755 "$ROOT/usr/bin/dnf" "$ROOT/usr/bin/rpm"
{
        echo "#cloud-config"
        echo "packages:"
        for i in $(seq 40); do
                echo "  - pkg$i"
        done
} | nocloud_seed "$ROOT" iid-pkg-10
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "two queries of 31 and 9 names, one install, two queries again" \
        "/usr/bin/rpm -q --queryformat %{NAME}.%{ARCH}\t%{VERSION}-%{RELEASE}\n (31 names)
/usr/bin/rpm -q --queryformat %{NAME}.%{ARCH}\t%{VERSION}-%{RELEASE}\n (9 names)
/usr/bin/dnf -y makecache
/usr/bin/dnf -y install $(seq -f 'pkg%g' -s ' ' 40)
/usr/bin/rpm -q --queryformat %{NAME}.%{ARCH}\t%{VERSION}-%{RELEASE}\n (31 names)
/usr/bin/rpm -q --queryformat %{NAME}.%{ARCH}\t%{VERSION}-%{RELEASE}\n (9 names)" "$(cat "$ROOT/run/package-calls")"
