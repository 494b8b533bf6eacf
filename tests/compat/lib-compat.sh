# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034
# Helpers to run Debian's cloud-init next to kiln, for tests/integration/test-compat.sh. Source
# after tests/integration/lib.sh. cloud-init runs only in a chroot on an overlay of the root that
# tests/fixtures/cloud-init-root caches, inside a private PID namespace, with /proc mounted in the
# test's private mount namespace. So it cannot reach this machine's /etc, processes or network.

# ci_root: set CI_ROOT to a fresh overlay of the cached cloud-init root. Without the cache (tests
# have no network to build it), print a "skip" line for the case and return 1. Call it in the
# test's own shell, not in $(...), because it registers the unmount at exit.
ci_root() {
        local dir
        if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
                echo "lib-compat.sh: not in a private mount namespace, refusing to mount a root" >&2
                exit 1
        fi
        if [ -z "${CLOUD_INIT_ROOT_CACHE:-}" ]; then
                CLOUD_INIT_ROOT_CACHE=$("$TOP/tests/fixtures/cloud-init-root" \
                        "${KILN_FIXTURE_BUILD_DIR:-$TOP/build}" 2>"$WORK/cloud-init-root.err") ||
                        CLOUD_INIT_ROOT_CACHE=none
                trap 'debian_root_unmount_all; cleanup_all' EXIT
        fi
        if [ "$CLOUD_INIT_ROOT_CACHE" = none ]; then
                echo "skip $CASE: no cloud-init root ($(tail -n 1 "$WORK/cloud-init-root.err"))"
                return 1
        fi
        dir=$(mktemp -d "$WORK/cloud-init-XXXXXX")
        mkdir "$dir/upper" "$dir/work" "$dir/root"
        if ! mount -t overlay overlay \
                -o "lowerdir=$CLOUD_INIT_ROOT_CACHE,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"; then
                echo "skip $CASE: cannot mount an overlay on the cloud-init root"
                return 1
        fi
        CI_ROOT=$dir/root
}

# ci_seed ROOT INSTANCE_ID: a NoCloud seed for cloud-init in ROOT whose user-data is stdin.
ci_seed() {
        local dir=$1/var/lib/cloud/seed/nocloud
        mkdir -p "$dir"
        printf 'instance-id: %s\n' "$2" > "$dir/meta-data"
        cat > "$dir/user-data"
}

# run_cloud_init ROOT: run cloud-init's four boot stages in order, as systemd does, in a chroot
# on ROOT inside a private PID namespace. Output goes to $ROOT.ci.out; CI_RC is the exit code of
# the first stage that failed, or 0.
run_cloud_init() {
        local errexit=$-
        set +e
        unshare --pid --fork --mount-proc /bin/bash -c '
                root=$1
                mount -t proc proc "$root/proc" || exit 1
                rc=0
                for stage in "init --local" "init" "modules --mode config" "modules --mode final"; do
                        echo "== cloud-init $stage"
                        # The stage names are fixed words, split on purpose.
                        # shellcheck disable=SC2086
                        chroot "$root" /usr/bin/cloud-init $stage
                        r=$?
                        [ "$rc" -ne 0 ] || rc=$r
                done
                umount "$root/proc"
                exit "$rc"' run-cloud-init "$1" >"$1.ci.out" 2>&1
        CI_RC=$?
        [[ $errexit == *e* ]] && set -e
        return 0
}
