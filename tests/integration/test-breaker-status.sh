#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `kiln status` on a status.json that is not valid JSON. kiln writes the file atomically, so such
# a file never belongs to a run in progress. It is damaged, so status must report an error that
# names the file instead of "not run" with exit 0, and --wait must not block on it.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Maximum time in seconds that `kiln status --wait` may block before the test gives up on it.
WAIT_TIMEOUT=5

case_begin "damaged status.json"
ROOT=$(new_root)
mkdir -p "$ROOT/run/kiln"
printf '{"status": "done", "err' > "$ROOT/run/kiln/status.json"
kiln_status "$ROOT"
check_eq "'kiln status' exits 1" 1 "$STATUS_RC"
check_contains "'kiln status' names the file" "$STATUS_OUT" "status.json"
started=$(now)
wait_out=$(timeout "$WAIT_TIMEOUT" "$KILN" status --wait --root "$ROOT" 2>&1)
wait_rc=$?
check_le "'kiln status --wait' returned within $WAIT_TIMEOUT s" "$(seconds_since "$started")" "$WAIT_TIMEOUT"
check_eq "'kiln status --wait' exits 1" 1 "$wait_rc"
check_contains "'kiln status --wait' names the file" "$wait_out" "status.json"
