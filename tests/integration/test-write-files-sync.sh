#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# How often kiln waits for the disk: the fsync, fdatasync and syncfs calls of kiln's own process,
# counted with strace. The benchmark input stays under a fixed bound. A write_files list of 200
# entries waits no more often than a list of one, because write_files makes a batch of entries
# durable with one syncfs, and each directory with one fsync after the module.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Waits on the benchmark input without host key generation. kiln makes 46: write_files waits 4
# times for its batches and once for each of its 4 directories, and the other files (state,
# semaphores, the files of other modules) are each fsynced, and so are their directories. Writing
# every write_files entry with a wait for the file and one for its directory made 60.
BENCH_WAITS_MAX=50

# Maximum number of waits that 200 entries in one directory may add to those of one entry.
ENTRIES_EXTRA_WAITS_MAX=2

net_setup

# count_waits ROOT: run `kiln run` on ROOT under strace, set KILN_RC, and set WAITS to how often
# kiln's own process called fsync, fdatasync or syncfs. The commands that kiln runs (useradd,
# visudo) are not traced.
count_waits() {
        local root=$1
        # LeakSanitizer cannot work under ptrace, so a sanitizer build checks leaks in other cases.
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
                strace -qq -o "$root.strace" -e trace=fsync,fdatasync,syncfs "$KILN" run --root "$root" \
                >"$root.out" 2>&1
        KILN_RC=$?
        WAITS=$(grep -cE '^(fsync|fdatasync|syncfs)\(' "$root.strace")
}

# scaling_document ENTRIES: a write_files list of ENTRIES files in /opt/scale, as tests/bench writes it.
scaling_document() {
        local i
        printf '#cloud-config\nwrite_files:\n'
        for ((i = 0; i < $1; i++)); do
                printf '  - path: /opt/scale/f%05d\n    content: "entry %d\\n"\n' "$i" "$i"
        done
}

bench_input() {
        case_begin "disk waits on the benchmark input"
        debian_root || return 1
        { echo '#cloud-config'; echo 'ssh_genkeytypes: []'; sed 1d "$TOP/tests/bench/user-data.yaml"; } |
                nocloud_seed "$ROOT" i-sync-bench
        count_waits "$ROOT"
        check_run_result 0 done 0
        check_le "strace saw kiln wait for the disk" 1 "$WAITS"
        check_le "kiln waits for the disk at most $BENCH_WAITS_MAX times" "$WAITS" "$BENCH_WAITS_MAX"
        check_file "the append entry follows the entry before it" "$ROOT/opt/app/events.log" \
                'first line\nsecond line\n'
        check_mode "a batched entry has its mode" "$ROOT/opt/app/secret.env" "600 root:root"
        check_file "an entry in new directories is written" "$ROOT/etc/app/nested/deeper/app.yaml" \
                'name: app\nreplicas: 2\n'
}

# waits_for_entries ENTRIES: run kiln on a new root with a write_files list of ENTRIES files, as
# count_waits does.
waits_for_entries() {
        ROOT=$(new_root)
        scaling_document "$1" | nocloud_seed "$ROOT" "i-sync-$1"
        count_waits "$ROOT"
}

entry_count() {
        case_begin "disk waits do not grow with write_files entries"
        local one many
        waits_for_entries 1
        one=$WAITS
        check_eq "kiln run exits 0 for 1 entry" 0 "$KILN_RC"
        waits_for_entries 200
        many=$WAITS
        check_eq "kiln run exits 0 for 200 entries" 0 "$KILN_RC"
        check_le "strace saw kiln wait for the disk" 1 "$one"
        check_le "200 entries wait at most $ENTRIES_EXTRA_WAITS_MAX times more than 1 ($one)" \
                "$((many - one))" "$ENTRIES_EXTRA_WAITS_MAX"
        check_file "the last of 200 entries is written" "$ROOT/opt/scale/f00199" 'entry 199\n'
}

if command -v strace >/dev/null; then
        bench_input
        entry_count
else
        case_begin "disk waits"
        echo "skip $CASE: strace is not installed"
fi
