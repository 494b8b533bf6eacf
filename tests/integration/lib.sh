# Shared helpers for kiln's integration tests. Sourced by tests/integration/test-*.sh, which run
# inside private network, UTS and mount namespaces made by tests/run (unshare -n -u -m), so the
# metadata addresses exist only on this namespace's loopback device.
#
# Each check prints "ok NAME" or "not ok NAME: detail"; tests/run counts them.

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KILN=${KILN:-$TOP/build/kiln}
MOCK=$TOP/tests/imds/mock-imds.py
if [ -z "${WORK:-}" ]; then
        WORK=$(mktemp -d /tmp/kiln-it-XXXXXX)
        # Removed at exit unless KILN_TEST_KEEP=1, which keeps the roots and logs for a look.
        WORK_IS_OWN=1
fi
MOCK_PID=
MOCK_LOG=
CASE=

# Bring up loopback with the EC2 metadata addresses. Refuses to run outside a private namespace.
net_setup() {
        if [ "$(readlink /proc/self/ns/net)" = "$(readlink /proc/1/ns/net)" ]; then
                echo "lib.sh: not in a private network namespace, refusing to add metadata addresses" >&2
                exit 1
        fi
        ip link set lo up
        ip addr add 169.254.169.254/32 dev lo 2>/dev/null || true
        ip -6 addr add fd00:ec2::254/128 dev lo nodad 2>/dev/null || true
}

# The userland every root starts from, built once per test file and copied by new_root.
root_template() {
        local template=$WORK/root-template applet
        if [ ! -d "$template" ]; then
                mkdir -p "$template.tmp"/{bin,etc,tmp,run,var/tmp,var/log,proc,sys/class/dmi/id,usr/bin,usr/sbin,sbin,root}
                chmod 1777 "$template.tmp/tmp" "$template.tmp/var/tmp"
                cp /bin/busybox "$template.tmp/bin/busybox"
                for applet in $("$template.tmp/bin/busybox" --list); do
                        [ -e "$template.tmp/bin/$applet" ] || ln -s busybox "$template.tmp/bin/$applet"
                done
                printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
                        > "$template.tmp/etc/passwd"
                printf 'root:x:0:\nadm:x:4:\nnogroup:x:65534:\n' > "$template.tmp/etc/group"
                : > "$template.tmp/proc/cmdline"
                mv "$template.tmp" "$template"
        fi
        echo "$template"
}

# A fresh target root with Debian's busybox-static as its userland.
new_root() {
        local root template
        template=$(root_template)
        root=$(mktemp -d "$WORK/root-XXXXXX")
        cp -a "$template/." "$root/"
        echo "$root"
}

# Mark a root as an EC2 instance by DMI, as the hypervisor would.
make_ec2() {
        echo "Amazon EC2" > "$1/sys/class/dmi/id/sys_vendor"
        echo "ec2e1916-9099-7caf-fd21-012345abcdef" > "$1/sys/class/dmi/id/product_uuid"
}

# Write a kiln.yaml into a root.
kiln_config() {
        mkdir -p "$1/etc/kiln"
        cat > "$1/etc/kiln/kiln.yaml"
}

# start_mock SCENARIO_FILE: start the mock IMDS on the metadata addresses and wait until it listens.
start_mock() {
        local scenario=$1 ready
        MOCK_LOG=$(mktemp "$WORK/mock-log-XXXXXX")
        ready=$(mktemp -u "$WORK/mock-ready-XXXXXX")
        /usr/bin/python3 "$MOCK" --scenario "$scenario" --log "$MOCK_LOG" --ready-file "$ready" \
                >"$MOCK_LOG.out" 2>&1 &
        MOCK_PID=$!
        local i
        for i in $(seq 100); do
                [ -e "$ready" ] && return 0
                kill -0 "$MOCK_PID" 2>/dev/null || break
                sleep 0.05
        done
        echo "lib.sh: the mock IMDS did not start:" >&2
        cat "$MOCK_LOG.out" >&2
        return 1
}

stop_mock() {
        if [ -n "$MOCK_PID" ]; then
                kill "$MOCK_PID" 2>/dev/null || true
                wait "$MOCK_PID" 2>/dev/null || true
                MOCK_PID=
        fi
}

# scenario JSON_TEXT: write a scenario file and print its path.
scenario() {
        local f
        f=$(mktemp "$WORK/scenario-XXXXXX.json")
        cat > "$f"
        echo "$f"
}

# run_kiln ROOT [ARGS...]: run `kiln run` on ROOT; sets KILN_RC, output in $ROOT.out.
# The caller's errexit setting is kept.
run_kiln() {
        local root=$1 errexit=$-
        shift
        set +e
        "$KILN" run --root "$root" "$@" >"$root.out" 2>&1
        KILN_RC=$?
        [[ $errexit == *e* ]] && set -e
        return 0
}

# kiln_status ROOT [ARGS...]: run `kiln status`; sets STATUS_RC, output in STATUS_OUT.
kiln_status() {
        local root=$1 errexit=$-
        shift
        set +e
        STATUS_OUT=$("$KILN" status --root "$root" "$@" 2>&1)
        STATUS_RC=$?
        [[ $errexit == *e* ]] && set -e
        return 0
}

# status_json ROOT: run `kiln status --format json`; sets STATUS_RC, the document in $ROOT.status.json.
status_json() {
        local root=$1 errexit=$-
        set +e
        "$KILN" status --root "$root" --format json >"$root.status.json" 2>"$root.status.err"
        STATUS_RC=$?
        [[ $errexit == *e* ]] && set -e
        return 0
}

# nocloud_seed ROOT INSTANCE_ID: a NoCloud seed in ROOT whose meta-data names INSTANCE_ID and
# whose user-data is stdin, byte for byte.
nocloud_seed() {
        local dir=$1/var/lib/kiln/seed/nocloud
        mkdir -p "$dir"
        printf 'instance-id: %s\n' "$2" > "$dir/meta-data"
        cat > "$dir/user-data"
}

# Seconds since the epoch with nanoseconds, for measuring how long kiln took.
now() {
        date +%s.%N
}

# seconds_since START: seconds elapsed since a now() value, to the millisecond.
seconds_since() {
        awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.3f", end - start }'
}

# mock_query PYTHON_EXPRESSION: print an expression over the mock's request log. In it, requests
# is the list of logged requests (dicts as mock-imds.py writes them), gets and puts are the GET
# and PUT requests, and header(r, NAME) is a request's header, matched without regard to case,
# or None.
mock_query() {
        /usr/bin/python3 - "$MOCK_LOG" "$1" <<'PYTHON'
import json, sys
requests = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
gets = [r for r in requests if r["method"] == "GET"]
puts = [r for r in requests if r["method"] == "PUT"]
def header(r, name):
    for key, value in r["headers"].items():
        if key.lower() == name.lower():
            return value
    return None
print(eval(sys.argv[2]))
PYTHON
}

# check_run_result RUN_EXIT STATUS STATUS_EXIT: check the exit code of the last run_kiln on $ROOT,
# then the status that `kiln status --format json` reports and that command's exit code.
check_run_result() {
        status_json "$ROOT"
        check_eq "kiln run exits $1" "$1" "$KILN_RC"
        check_eq "the status is $2" "$2" "$(json_get "$ROOT.status.json" 'd["status"]' 2>&1)"
        check_eq "kiln status exits $3" "$3" "$STATUS_RC"
}

# diagnostics KIND: the messages of the errors or warnings (KIND) in $ROOT.status.json, one per
# line, each as "MODULE[ITEM]: MESSAGE" or "MODULE: MESSAGE".
diagnostics() {
        json_get "$ROOT.status.json" \
                '"\n".join("%s%s: %s" % (e["module"], "" if e["item"] is None else "[%d]" % e["item"], e["message"]) for e in d["'"$1"'"])' \
                2>/dev/null
}

# Start a named case; checks print under this name.
case_begin() {
        CASE=$1
}

pass() {
        echo "ok $CASE: $1"
}

fail() {
        echo "not ok $CASE: $1"
        if [ -n "${ROOT:-}" ] && [ -f "$ROOT.out" ]; then
                sed 's/^/    | /' "$ROOT.out" | tail -n 20
        fi
}

# check DESCRIPTION COMMAND...: pass when the command succeeds.
check() {
        local what=$1
        shift
        if "$@"; then pass "$what"; else fail "$what"; fi
}

# check_le DESCRIPTION A B: pass when the number A is at most B.
check_le() {
        if awk -v a="$2" -v b="$3" 'BEGIN { exit !(a + 0 <= b + 0) }'; then
                pass "$1"
        else
                fail "$1 (expected at most $3, got $2)"
        fi
}

check_eq() {
        local what=$1 expected=$2 actual=$3
        if [ "$expected" = "$actual" ]; then
                pass "$what"
        else
                fail "$what (expected '$expected', got '$actual')"
        fi
}

# check_file DESCRIPTION PATH EXPECTED_CONTENT: exact bytes (printf-style escapes in EXPECTED).
check_file() {
        local what=$1 path=$2 expected=$3
        if [ ! -f "$path" ]; then
                fail "$what (missing $path)"
        elif cmp -s "$path" <(printf '%b' "$expected"); then
                pass "$what"
        else
                fail "$what (content of $path: $(head -c 200 "$path" | od -c | head -3 | tr -s ' ' | tr '\n' ' '))"
        fi
}

check_exists() {
        if [ -e "$2" ]; then pass "$1"; else fail "$1 (missing $2)"; fi
}

check_absent() {
        if [ ! -e "$2" ]; then pass "$1"; else fail "$1 ($2 exists)"; fi
}

check_mode() {
        local what=$1 path=$2 expected=$3 actual
        actual=$(stat -c '%a %U:%G' "$path" 2>/dev/null || echo missing)
        check_eq "$what" "$expected" "$actual"
}

# check_grep DESCRIPTION PATTERN FILE
check_grep() {
        if grep -qE -- "$2" "$3" 2>/dev/null; then pass "$1"; else fail "$1 (no '$2' in $3)"; fi
}

# check_contains DESCRIPTION TEXT STRING: pass when STRING occurs in TEXT, as a fixed string.
check_contains() {
        if [[ $2 == *"$3"* ]]; then pass "$1"; else fail "$1 (no '$3' in: $(head -c 600 <<<"$2"))"; fi
}

# JSON field from a file: json_get FILE PYTHON_EXPRESSION_ON_d
json_get() {
        /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

cleanup_all() {
        stop_mock
        if [ -n "${WORK_IS_OWN:-}" ] && [ "${KILN_TEST_KEEP:-0}" != 1 ]; then
                rm -rf "$WORK"
        fi
}
trap cleanup_all EXIT

# debian_root: set ROOT to a fresh Debian 12 root for the current case, so that kiln runs the
# image's real useradd, visudo and ssh-keygen. The root is an overlay mount whose lower layer is
# the cache that tests/fixtures/debian-root builds, so each case starts from the pristine root and
# the cache never changes. /dev contains the device nodes that debootstrap made, and the account
# tools need no /proc. The cache lives in $KILN_FIXTURE_BUILD_DIR (default $TOP/build) and must exist
# before the tests run, because they have no network: without it, this prints a "skip" line for
# the case and returns 1. Call it in the test's own shell, not in $(...), because it registers
# the unmount at exit.
debian_root() {
        local dir
        if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
                echo "lib.sh: not in a private mount namespace, refusing to mount a Debian root" >&2
                exit 1
        fi
        if [ -z "${DEBIAN_ROOT_CACHE:-}" ]; then
                DEBIAN_ROOT_CACHE=$("$TOP/tests/fixtures/debian-root" "${KILN_FIXTURE_BUILD_DIR:-$TOP/build}" \
                        2>"$WORK/debian-root.err") || DEBIAN_ROOT_CACHE=none
                trap 'debian_root_unmount_all; cleanup_all' EXIT
        fi
        if [ "$DEBIAN_ROOT_CACHE" = none ]; then
                echo "skip $CASE: no Debian root ($(tail -n 1 "$WORK/debian-root.err"))"
                return 1
        fi
        dir=$(mktemp -d "$WORK/debian-XXXXXX")
        mkdir "$dir/upper" "$dir/work" "$dir/root"
        if ! mount -t overlay overlay -o "lowerdir=$DEBIAN_ROOT_CACHE,upperdir=$dir/upper,workdir=$dir/work" \
                "$dir/root"; then
                echo "skip $CASE: cannot mount an overlay on the Debian root"
                return 1
        fi
        ROOT=$dir/root
}

# Unmount the Debian roots before $WORK is removed, so that the removal does not walk through them.
# A server that a test started inside a root (nginx, apache2) and did not stop is ended first: any
# process whose root directory is below $WORK belongs to this test.
debian_root_unmount_all() {
        local mountpoint proc root
        for proc in /proc/[0-9]*; do
                root=$(readlink "$proc/root" 2>/dev/null) || continue
                [[ $root == "$WORK"/* ]] && kill -KILL "${proc#/proc/}" 2>/dev/null
        done
        awk -v work="$WORK/" 'index($2, work) == 1 { print $2 }' /proc/self/mounts | sort -r |
                while read -r mountpoint; do umount "$mountpoint"; done
}

# apt_repo_start: serve the signed apt repository that tests/fixtures/apt-repo builds (cached in
# $KILN_FIXTURE_BUILD_DIR, default $TOP/build) over HTTP on 127.0.0.1, on a port the kernel picks,
# and wait until it serves the signed InRelease file. Sets APT_REPO_DIR to the repository and APT_REPO_URL to
# http://127.0.0.1:PORT/. Without the cache, this prints a "skip" line for the case and returns 1.
# Call it in the test's own shell, not in $(...), because it registers apt_repo_stop at exit.
apt_repo_start() {
        local log port i
        [ -z "${APT_REPO_PID:-}" ] || return 0
        if [ -z "${APT_REPO_DIR:-}" ]; then
                APT_REPO_DIR=$("$TOP/tests/fixtures/apt-repo" "${KILN_FIXTURE_BUILD_DIR:-$TOP/build}" \
                        2>"$WORK/apt-repo.err") || APT_REPO_DIR=none
        fi
        if [ "$APT_REPO_DIR" = none ]; then
                echo "skip $CASE: no apt repository ($(tail -n 1 "$WORK/apt-repo.err"))"
                return 1
        fi

        log=$(mktemp "$WORK/apt-repo-http-XXXXXX")
        # The parent death signal stops the server when the test's shell exits, even when a later
        # helper replaces the EXIT trap that apt_repo_trap_add chained.
        setpriv --pdeathsig TERM /usr/bin/python3 -u -m http.server --bind 127.0.0.1 --directory "$APT_REPO_DIR" 0 \
                >"$log" 2>&1 &
        APT_REPO_PID=$!
        apt_repo_trap_add

        for i in $(seq 100); do
                port=$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9]*\) .*/\1/p' "$log")
                if [ -n "$port" ] && curl -fsS -o /dev/null "http://127.0.0.1:$port/dists/kiln/InRelease" 2>/dev/null; then
                        APT_REPO_URL=http://127.0.0.1:$port/
                        return 0
                fi
                kill -0 "$APT_REPO_PID" 2>/dev/null || break
                sleep 0.05
        done
        echo "lib.sh: the apt repository server did not start:" >&2
        cat "$log" >&2
        apt_repo_stop
        return 1
}

apt_repo_stop() {
        if [ -n "${APT_REPO_PID:-}" ]; then
                kill "$APT_REPO_PID" 2>/dev/null || true
                wait "$APT_REPO_PID" 2>/dev/null || true
                APT_REPO_PID=
                APT_REPO_URL=
        fi
}

# Run apt_repo_stop first at exit, then whatever the EXIT trap already ran.
apt_repo_trap_add() {
        local current
        current=$(trap -p EXIT)
        [[ $current == *apt_repo_stop* ]] && return 0
        if [ -n "$current" ]; then
                # trap -p prints "trap -- 'COMMAND' EXIT", quoted for the shell.
                eval "set -- $current"
                trap "apt_repo_stop; $3" EXIT
        else
                trap apt_repo_stop EXIT
        fi
}

# apt_repo_use ROOT: point ROOT's apt at the repository of apt_repo_start and at nothing else.
# ROOT's Debian sources are removed, because their mirror is unreachable in tests. The local
# repository gets a deb822 source whose Signed-By names a copy of its key in
# ROOT/etc/apt/keyrings/kiln-test.gpg, so apt checks the signature.
apt_repo_use() {
        local root=$1
        rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*.list \
                "$root"/etc/apt/sources.list.d/*.sources
        mkdir -p "$root/etc/apt/keyrings" "$root/etc/apt/sources.list.d"
        install -m 0644 "$APT_REPO_DIR/key.gpg" "$root/etc/apt/keyrings/kiln-test.gpg"
        cat > "$root/etc/apt/sources.list.d/kiln-test.sources" <<SOURCES
Types: deb
URIs: $APT_REPO_URL
Suites: kiln
Components: main
Signed-By: /etc/apt/keyrings/kiln-test.gpg
SOURCES
}
