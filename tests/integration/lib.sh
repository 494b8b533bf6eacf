# Shared helpers for kiln's integration tests. Sourced by tests/integration/test-*.sh, which run
# inside private network, UTS and mount namespaces made by tests/run (unshare -n -u -m), so the
# metadata addresses exist only on this namespace's loopback device.
#
# Each check prints "ok NAME" or "not ok NAME: detail"; tests/run counts them.

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KILN=${KILN:-$TOP/build/kiln}
MOCK=$TOP/tests/imds/mock-imds.py
WORK=${WORK:-$(mktemp -d /tmp/kiln-it-XXXXXX)}
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

# A fresh target root with Debian's busybox-static as its userland.
new_root() {
        local root
        root=$(mktemp -d "$WORK/root-XXXXXX")
        mkdir -p "$root"/{bin,etc,tmp,run,var/tmp,var/log,proc,sys/class/dmi/id,usr/bin,usr/sbin,sbin,root}
        chmod 1777 "$root/tmp" "$root/var/tmp"
        cp /bin/busybox "$root/bin/busybox"
        local applet
        for applet in $("$root/bin/busybox" --list); do
                [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
        printf 'root:x:0:\nadm:x:4:\nnogroup:x:65534:\n' > "$root/etc/group"
        : > "$root/proc/cmdline"
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
run_kiln() {
        local root=$1
        shift
        set +e
        "$KILN" run --root "$root" "$@" >"$root.out" 2>&1
        KILN_RC=$?
        set -e
}

# kiln_status ROOT [ARGS...]: run `kiln status`; sets STATUS_RC, output in STATUS_OUT.
kiln_status() {
        local root=$1
        shift
        set +e
        STATUS_OUT=$("$KILN" status --root "$root" "$@" 2>&1)
        STATUS_RC=$?
        set -e
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

# JSON field from a file: json_get FILE PYTHON_EXPRESSION_ON_d
json_get() {
        /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

cleanup_all() {
        stop_mock
}
trap cleanup_all EXIT
