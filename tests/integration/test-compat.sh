#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln and Debian's cloud-init 22.4 get the same NoCloud user data, each in its own Debian root.
# Both must leave the same files behind: written files (content, mode, owner), /etc/hostname,
# /etc/hosts, the created users' passwd, group and shadow fields, sudo rules and authorized_keys.
# The documents are the benchmark input and tests/compat/*.yaml; tests/compat/compare.py lists
# the facts it compares, and tests/compat/known-differences lists, with reasons, where kiln
# differs from cloud-init on purpose.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/compat/lib-compat.sh"

KNOWN=$TOP/tests/compat/known-differences

# The /etc/hosts that the Debian 12 installer writes for a host named debian, to see how both
# tools update an existing file. Neither cached root has one, as debootstrap creates none.
DEBIAN_HOSTS='127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n'

# compare_document NAME FILE: run both tools on FILE and compare their roots.
compare_document() {
        local name=$1 document=$2 kiln_root
        case_begin "compat $name"
        debian_root || return 0
        kiln_root=$ROOT
        ci_root || return 0
        nocloud_seed "$kiln_root" "iid-compat-$name" < "$document"
        ci_seed "$CI_ROOT" "iid-compat-$name" < "$document"
        if [ "$name" = hostname-localhost ]; then
                printf '%b' "$DEBIAN_HOSTS" > "$kiln_root/etc/hosts"
                printf '%b' "$DEBIAN_HOSTS" > "$CI_ROOT/etc/hosts"
        fi
        run_kiln "$kiln_root"
        run_cloud_init "$CI_ROOT"
        # cloud-init's own exit code and kiln's are compared by the known differences, not here:
        # the documents include input that kiln rejects on purpose.
        echo "# $name: kiln exited $KILN_RC, cloud-init's stages exited $CI_RC"
        # /var/lib/cloud/instance is an absolute symbolic link, valid only inside the root. The
        # failure output of this check is cloud-init's, not kiln's.
        ROOT=$CI_ROOT
        cp "$CI_ROOT.ci.out" "$ROOT.out"
        check "cloud-init ran its final stage" \
                test -e "$CI_ROOT/var/lib/cloud/instances/iid-compat-$name/boot-finished"
        /usr/bin/python3 "$TOP/tests/compat/compare.py" "$name" "$document" "$kiln_root" "$CI_ROOT" "$KNOWN"
}

compare_document bench "$TOP/tests/bench/user-data.yaml"
for document in "$TOP"/tests/compat/*.yaml; do
        compare_document "$(basename "$document" .yaml)" "$document"
done
