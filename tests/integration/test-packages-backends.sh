#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The packages module with the dnf, yum, zypper and apk backends, on busybox roots with stand-in
# package managers, because no RHEL, SUSE or Alpine root is available here. Each stand-in records
# its argv in /run/package-calls. The stand-in rpm prints what real rpm 4.18 prints for
# `rpm -q --queryformat ...` (a "NAME.ARCH<TAB>VERSION-RELEASE" line per architecture or "package NAME is not
# installed" per name, exit code the number missing), and the stand-in apk prints `apk info -v`.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

CALLS=run/package-calls

# fake_tool ROOT PATH: a stand-in package manager at PATH that records its argv, fails with dnf's
# message when /etc/fake-fail names a package, and serves queries from /etc/fake-db.
fake_tool() {
        mkdir -p "$(dirname "$1$2")"
        cat > "$1$2" <<'EOF'
#!/bin/sh
{ printf '%s' "$0"; for a in "$@"; do printf ' %s' "$a"; done; echo; } >> /run/package-calls
[ -n "${ZYPP_LOCK_TIMEOUT:-}" ] && echo "ZYPP_LOCK_TIMEOUT=$ZYPP_LOCK_TIMEOUT" >> /run/package-env
case "$0 $1 $2" in
*/rpm\ -q\ --queryformat)
        shift 3
        missing=0
        for name in "$@"; do
                line=$(grep -E "^$name(\.[^.	]+)?	" /etc/fake-db)
                if [ -n "$line" ]; then
                        printf '%s\n' "$line"
                else
                        echo "package $name is not installed"
                        missing=$((missing + 1))
                fi
        done
        exit $missing ;;
*/apk\ info\ -v)
        cat /etc/fake-db
        exit 0 ;;
esac
if [ -s /etc/fake-fail ]; then
        echo "Error: Unable to find a match: $(cat /etc/fake-fail)" >&2
        exit 1
fi
[ -e /etc/fake-forget ] && exit 0
# An install or add records each package in the fake database, as the real tool's database would:
# NAME=VERSION (zypper, apk) or NAME-VERSION-RELEASE (dnf, yum) at that version, a bare NAME at 1.0-1.
recording=
for a in "$@"; do
        if [ -n "$recording" ]; then
                case "$0 $a" in
                *\ -*) continue ;;
                *=*) name=${a%%=*} version=${a#*=} ;;
                *\ *-[0-9]*-*) rest=${a%-*} name=${rest%-*} version=${rest##*-}-${a##*-} ;;
                */apk\ *) name=$a version=1.0-r0 ;;
                *) name=$a version=1.0-1 ;;
                esac
                case "$0 $name" in
                */apk\ *) grep -v "^$name-[0-9]" /etc/fake-db; printf '%s-%s\n' "$name" "$version" ;;
                *\ *.*) grep -v "^$name	" /etc/fake-db; printf '%s\t%s\n' "$name" "$version" ;;
                *) grep -v "^$name.x86_64	" /etc/fake-db; printf '%s.x86_64\t%s\n' "$name" "$version" ;;
                esac > /etc/fake-db.new
                mv /etc/fake-db.new /etc/fake-db
        fi
        case "$a" in install|add) recording=1 ;; esac
done
exit 0
EOF
        chmod 755 "$1$2"
}

# rpm_root TOOL: ROOT becomes a busybox root whose package manager is /usr/bin/TOOL, with an rpm
# database holding bash 5.1.8-9.el9, httpd 2.4.57-5.el9 and glibc 2.34-100.el9 for x86_64.
rpm_root() {
        ROOT=$(new_root)
        fake_tool "$ROOT" "/usr/bin/$1"
        fake_tool "$ROOT" /usr/bin/rpm
        printf 'bash.x86_64\t5.1.8-9.el9\nhttpd.x86_64\t2.4.57-5.el9\nglibc.x86_64\t2.34-100.el9\n' > "$ROOT/etc/fake-db"
}

apk_root() {
        ROOT=$(new_root)
        rm -f "$ROOT/sbin/apk"
        fake_tool "$ROOT" /sbin/apk
        printf 'musl-1.2.4_git20230717-r4\nbusybox-1.36.1-r15\ncurl-8.5.0-r0\n' > "$ROOT/etc/fake-db"
}

calls() {
        cat "$ROOT/$CALLS" 2>/dev/null
}

RPM_QUERY='/usr/bin/rpm -q --queryformat %{NAME}.%{ARCH}\t%{VERSION}-%{RELEASE}\n'

# pinned_case TOOL UPDATE INSTALL_PREFIX PIN: packages nginx, bash (installed, any version), httpd
# pinned to its installed version by version only, and vim pinned with PIN syntax. The module
# updates the package index (UPDATE) before it installs anything.
pinned_case() {
        local tool=$1 update=$2 install=$3 pin=$4
        case_begin "$tool installs the missing packages with pins"
        rpm_root "$tool"
        nocloud_seed "$ROOT" "iid-$tool-1" <<'EOF'
#cloud-config
packages:
  - nginx
  - bash
  - [httpd, "2.4.57"]
  - [vim-enhanced, "8.2.2637-20.el9"]
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "the query, the update, one install call and the query of the installed" \
                "$RPM_QUERY nginx bash httpd vim-enhanced
$update
$install nginx vim-enhanced${pin}8.2.2637-20.el9
$RPM_QUERY nginx vim-enhanced" "$(calls)"
}

pinned_case dnf "/usr/bin/dnf -y makecache" "/usr/bin/dnf -y install" -
pinned_case yum "/usr/bin/yum -t -y makecache" "/usr/bin/yum -t -y install" -
pinned_case zypper "/usr/bin/zypper --non-interactive refresh" \
        "/usr/bin/zypper --non-interactive install --auto-agree-with-licenses" =

# hold_pid_file FILE SECONDS: a process that writes its pid into FILE, lives SECONDS and then
# removes FILE, as dnf, yum and zypper lock with pid files; sets HOLDER to its pid.
hold_pid_file() {
        mkdir -p "$(dirname "$1")"
        rm -f "$1"
        sh -c 'echo $$ > "$1"; sleep "$2"; rm -f "$1"' sh "$1" "$2" &
        HOLDER=$!
        for _ in $(seq 100); do
                [ -s "$1" ] && return 0
                sleep 0.05
        done
        echo "test-packages-backends.sh: the pid file holder did not start" >&2
        return 1
}

case_begin "zypper pid file held for 3 s"
rpm_root zypper
nocloud_seed "$ROOT" iid-zypper-lock <<'EOF'
#cloud-config
packages: [nginx]
system_info:
  package_lock_timeout: 20
EOF
hold_pid_file "$ROOT/run/zypp.pid" 3
START=$(now)
run_kiln "$ROOT"
ELAPSED=$(seconds_since "$START")
wait "$HOLDER"
check_run_result 0 done 0
check_contains "the log names the holder" "$(cat "$ROOT.out" "$ROOT.err" 2>/dev/null)" \
        "Waiting for '/run/zypp.pid', held by process $HOLDER (sh)"
check_le "kiln waited at least 2 s for the lock" 2 "$ELAPSED"
check_eq "zypper got the lock timeout in its environment" "ZYPP_LOCK_TIMEOUT=20
ZYPP_LOCK_TIMEOUT=20" "$(cat "$ROOT/run/package-env")"

case_begin "dnf pid file held past the deadline"
rpm_root dnf
nocloud_seed "$ROOT" iid-dnf-lock <<'EOF'
#cloud-config
packages: [nginx]
system_info:
  package_lock_timeout: 1
EOF
hold_pid_file "$ROOT/var/lib/dnf/rpmdb_lock.pid" 30
run_kiln "$ROOT"
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
check_run_result 1 error 1
check_contains "the error names the pid file and its holder" "$(diagnostics errors)" \
        "packages: Failed to get the lock '/var/lib/dnf/rpmdb_lock.pid' of dnf within 1 s, it is held by process $HOLDER (sh), so no package was installed."
check_eq "dnf was not called" "$RPM_QUERY nginx" "$(calls)"

case_begin "dnf update and upgrade"
rpm_root dnf
nocloud_seed "$ROOT" iid-dnf-2 <<'EOF'
#cloud-config
package_update: true
package_upgrade: true
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "makecache then upgrade" "/usr/bin/dnf -y makecache
/usr/bin/dnf -y upgrade" "$(calls)"

case_begin "zypper update and upgrade"
rpm_root zypper
nocloud_seed "$ROOT" iid-zypper-2 <<'EOF'
#cloud-config
package_update: true
package_upgrade: true
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "refresh then update" "/usr/bin/zypper --non-interactive refresh
/usr/bin/zypper --non-interactive update --auto-agree-with-licenses" "$(calls)"

case_begin "installed packages cost no install call"
rpm_root dnf
nocloud_seed "$ROOT" iid-dnf-3 <<'EOF'
#cloud-config
packages: [bash, [httpd, "2.4.57-5.el9"]]
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "only the query ran" "$RPM_QUERY bash httpd" "$(calls)"

case_begin "dnf with architecture-qualified names"
rpm_root dnf
nocloud_seed "$ROOT" iid-dnf-arch <<'EOF'
#cloud-config
packages: [bash.x86_64, glibc.i686]
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "only glibc.i686 is installed, then queried again" "$RPM_QUERY bash.x86_64 glibc.i686
/usr/bin/dnf -y makecache
/usr/bin/dnf -y install glibc.i686
$RPM_QUERY glibc.i686" "$(calls)"

case_begin "failed dnf install is an error and runcmd still runs"
rpm_root dnf
echo nginx > "$ROOT/etc/fake-fail"
nocloud_seed "$ROOT" iid-dnf-4 <<'EOF'
#cloud-config
packages: [nginx]
runcmd:
  - [touch, /run/runcmd-ran]
EOF
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error carries dnf's message" "$(diagnostics errors)" "Unable to find a match: nginx"
check_contains "the error names the packages module" "$(diagnostics errors)" "packages"
check_exists "runcmd ran after the failure" "$ROOT/run/runcmd-ran"

case_begin "install that exits 0 without installing"
rpm_root dnf
touch "$ROOT/etc/fake-forget"
nocloud_seed "$ROOT" iid-dnf-5 <<'EOF'
#cloud-config
packages: [nginx]
EOF
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error says the database lacks the package" "$(diagnostics errors)" \
        "Failed to install the package 'nginx': /usr/bin/dnf exited 0, but the package database does not have the package installed."

case_begin "package command past its time limit"
# A stand-in apt-get whose update hangs, as on an unreachable mirror, and a dpkg-query that knows
# no package, as the real one answers for unknown names.
ROOT=$(new_root)
printf '#!/bin/sh\necho "$0 $*" >> /run/package-calls\nexec sleep 60\n' > "$ROOT/usr/bin/apt-get"
printf '#!/bin/sh\nexit 1\n' > "$ROOT/usr/bin/dpkg-query"
chmod 0755 "$ROOT/usr/bin/apt-get" "$ROOT/usr/bin/dpkg-query"
nocloud_seed "$ROOT" iid-apt-hang <<'EOF'
#cloud-config
packages: [hello]
system_info:
  package_command_timeout: 2
EOF
START=$(now)
run_kiln "$ROOT"
ELAPSED=$(seconds_since "$START")
check_run_result 1 error 1
check_contains "the error names the command and the limit" "$(diagnostics errors)" \
        "packages: Failed to run the package update: /usr/bin/apt-get timed out after 2 s (system_info.package_command_timeout)."
check_le "kiln stopped the update within 10 s" "$ELAPSED" 10

case_begin "apk installs the missing packages with pins"
apk_root
nocloud_seed "$ROOT" iid-apk-1 <<'EOF'
#cloud-config
packages:
  - nginx
  - busybox
  - [curl, "8.5.0-r0"]
  - [musl, "1.2.5-r0"]
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
# As cloud-init does on Alpine, the index is updated before packages are added.
check_eq "the query, the update, one add call and the query of the added" "/sbin/apk info -v
/sbin/apk --wait=120 update
/sbin/apk --wait=120 add nginx musl=1.2.5-r0
/sbin/apk info -v" "$(calls)"

case_begin "apk second run changes nothing"
check_contains "apk's database has the added packages" "$(cat "$ROOT/etc/fake-db")" "nginx-1.0-r0
musl-1.2.5-r0"
printf 'instance-id: iid-apk-1b\n' > "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "only one more query, no update or add" "/sbin/apk --wait=120 add nginx musl=1.2.5-r0
/sbin/apk info -v
/sbin/apk info -v" "$(calls | tail -n 3)"
