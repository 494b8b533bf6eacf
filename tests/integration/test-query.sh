#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The instance data a run writes under /run/kiln, and `kiln query`. The world-readable document has
# every sensitive value redacted. The 0600 one has everything plus the merged configuration. Root
# reads the sensitive one and other users the redacted one. Values print by dotted key, and an
# unknown key fails with a suggestion.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECRET=s3cr3t-value-7f3a
TOKEN=hidden-token-91c2
REDACTED="redacted for non-root user"

# query ROOT [ARGS...]: run `kiln query` as root; sets QUERY_RC and QUERY_OUT (stdout and stderr).
query() {
        local root=$1
        shift
        QUERY_OUT=$("$KILN" query --root "$root" "$@" 2>&1)
        QUERY_RC=$?
}

# query_as_nobody ROOT [ARGS...]: the same as the user nobody.
query_as_nobody() {
        local root=$1
        shift
        QUERY_OUT=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$KILN" query --root "$root" "$@" 2>&1)
        QUERY_RC=$?
}

ROOT=$(new_root)
mkdir -p "$ROOT/var/lib/kiln/seed/nocloud"
cat > "$ROOT/var/lib/kiln/seed/nocloud/meta-data" <<EOF2
instance-id: iid-query
local-hostname: query-host
iam:
  security-credentials:
    role: {AccessKeyId: AKIAEXAMPLE, SecretAccessKey: $SECRET}
EOF2
printf '#cloud-config\nruncmd:\n  - echo %s\n' "$TOKEN" > "$ROOT/var/lib/kiln/seed/nocloud/user-data"
run_kiln "$ROOT"
PUBLIC=$ROOT/run/kiln/instance-data.json
SENSITIVE=$ROOT/run/kiln/instance-data-sensitive.json

case_begin "files"
check_eq "the run exits 0" 0 "$KILN_RC"
check_mode "instance-data.json is world-readable" "$PUBLIC" "644 root:root"
check_mode "instance-data-sensitive.json is root's only" "$SENSITIVE" "600 root:root"
check "instance-data.json does not contain the credential" bash -c "! grep -q '$SECRET' '$PUBLIC'"
check "instance-data.json does not contain the user data" bash -c "! grep -q '$TOKEN' '$PUBLIC'"
check_eq "the credentials are redacted" "$REDACTED" \
        "$(json_get "$PUBLIC" 'd["ds"]["meta_data"]["iam"]["security-credentials"]')"
check_eq "their alias is redacted too" "$REDACTED" \
        "$(json_get "$PUBLIC" 'd["ds"]["meta_data"]["iam"]["security_credentials"]')"
check_eq "instance-data.json has no merged_cfg" False "$(json_get "$PUBLIC" '"merged_cfg" in d')"
check_eq "the sensitive file has the credential" "$SECRET" \
        "$(json_get "$SENSITIVE" 'd["ds"]["meta_data"]["iam"]["security-credentials"]["role"]["SecretAccessKey"]')"
check_eq "the sensitive file has merged_cfg" "echo $TOKEN" "$(json_get "$SENSITIVE" 'd["merged_cfg"]["runcmd"][0]')"
check_contains "sensitive_keys lists merged_cfg" "$(json_get "$SENSITIVE" 'd["sensitive_keys"]')" "merged_cfg"

case_begin "query"
query "$ROOT" v1.instance_id
check_eq "query v1.instance_id exits 0" 0 "$QUERY_RC"
check_eq "query v1.instance_id prints the id raw" iid-query "$QUERY_OUT"
query "$ROOT" local_hostname
check_eq "a top-level v1 key prints as well" query-host "$QUERY_OUT"
query "$ROOT" v1.public_ssh_keys
check_eq "a list prints as JSON" "[]" "$QUERY_OUT"
query "$ROOT" v1
check_eq "an object prints as JSON" nocloud "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cloud_name"])' "$QUERY_OUT")"
query "$ROOT" merged_cfg.runcmd.0
check_eq "root reads the sensitive document" "echo $TOKEN" "$QUERY_OUT"
query "$ROOT"
check_eq "query without a key prints the whole document" iid-query \
        "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["v1"]["instance_id"])' "$QUERY_OUT")"

case_begin "list-keys"
query "$ROOT" --list-keys
check_eq "--list-keys exits 0" 0 "$QUERY_RC"
check_grep "--list-keys lists v1" "^v1$" <(echo "$QUERY_OUT")
check_grep "--list-keys lists ds" "^ds$" <(echo "$QUERY_OUT")
check_eq "--list-keys sorts the keys" "$(sort <<<"$QUERY_OUT")" "$QUERY_OUT"
query "$ROOT" v1 --list-keys
check_grep "--list-keys under v1 lists instance_id" "^instance_id$" <(echo "$QUERY_OUT")
query "$ROOT" v1.instance_id --list-keys
check_eq "--list-keys of a string exits 1" 1 "$QUERY_RC"

case_begin "unknown-key"
query "$ROOT" v1.instanse_id
check_eq "an unknown key exits 1" 1 "$QUERY_RC"
check_contains "an unknown key gets a suggestion" "$QUERY_OUT" "Did you mean 'instance_id'?"
query "$ROOT" v1.instance_id.more
check_eq "a key below a string exits 1" 1 "$QUERY_RC"
check_contains "a key below a string says why" "$QUERY_OUT" "is not an object"

query "$ROOT" v1.public_ssh_keys.5
check_eq "an index past the list's end exits 1" 1 "$QUERY_RC"
check_contains "an index past the end names the list's size" "$QUERY_OUT" "list of 0 items"

case_begin "non-root"
chmod o+x "$WORK"
chmod o+rx "$ROOT"
query_as_nobody "$ROOT" ds.meta_data.iam.security-credentials
check_eq "nobody's query exits 0" 0 "$QUERY_RC"
check_eq "nobody reads the redacted value" "$REDACTED" "$QUERY_OUT"
query_as_nobody "$ROOT" merged_cfg
check_eq "nobody cannot query merged_cfg" 1 "$QUERY_RC"

case_begin "no-data"
ROOT=$(new_root)
query "$ROOT" v1.instance_id
check_eq "query before any run exits 1" 1 "$QUERY_RC"
check_contains "query before any run says why" "$QUERY_OUT" "no instance data at /run/kiln/instance-data.json"
"$KILN" status --list-keys --root "$ROOT" >"$ROOT.out" 2>&1
check_eq "--list-keys belongs to query" 64 "$?"
