#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Merging cloud-config as cloud-init does: parts of one user data with and without a Merge-Type
# header or merge_how key, #cloud-config-jsonp patches, and the layers of image configuration
# (kiln.yaml), vendor data and user data. Inputs come from a NoCloud seed.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# seed_run INSTANCE_ID < USER_DATA: a fresh root in $ROOT unless one is set up already, with a
# NoCloud seed holding stdin as its user data, then `kiln run` on it.
seed_run() {
        ROOT=${ROOT:-$(new_root)}
        nocloud_seed "$ROOT" "$1"
        run_kiln "$ROOT"
}

# mime_two_parts HEADERS BODY: MIME multipart user data of two text/cloud-config parts. The first
# runs "echo first >> /run/merge-order"; the second has the extra HEADERS (each line ending in a
# newline) and the text BODY.
mime_two_parts() {
        local second_headers=$1 second_body=$2
        printf 'Content-Type: multipart/mixed; boundary="==MERGE=="\nMIME-Version: 1.0\n\n'
        printf -- '--==MERGE==\nContent-Type: text/cloud-config; charset="us-ascii"\n\n'
        printf '#cloud-config\nruncmd:\n  - echo first >> /run/merge-order\n'
        printf -- '--==MERGE==\nContent-Type: text/cloud-config; charset="us-ascii"\n%s\n' "$second_headers"
        printf '%s' "$second_body"
        printf -- '--==MERGE==--\n'
}

case_begin "MIME parts with Merge-Type list(append)"
ROOT=
seed_run iid-mime-append < <(mime_two_parts 'Merge-Type: list(append)+dict(recurse_array)+str()
' '#cloud-config
runcmd:
  - echo second >> /run/merge-order
')
check_run_result 0 done 0
check_file "both runcmd lists ran, in part order" "$ROOT/run/merge-order" 'first\nsecond\n'

case_begin "MIME parts without Merge-Type"
ROOT=
seed_run iid-mime-default < <(mime_two_parts '' '#cloud-config
runcmd:
  - echo second >> /run/merge-order
')
check_run_result 0 done 0
check_file "the second runcmd replaced the first" "$ROOT/run/merge-order" 'second\n'

case_begin "MIME part with a merge_how key"
ROOT=
seed_run iid-mime-merge-how < <(mime_two_parts '' '#cloud-config
merge_how:
  - name: list
    settings: [prepend]
  - name: dict
    settings: [no_replace, recurse_list]
runcmd:
  - echo second >> /run/merge-order
')
check_run_result 0 done 0
check_file "the second runcmd list came first" "$ROOT/run/merge-order" 'second\nfirst\n'
check_eq "merge_how is not reported as an unknown key" "" "$(diagnostics warnings)"

case_begin "MIME part with an unknown merger"
ROOT=
seed_run iid-mime-bad-merger < <(mime_two_parts 'Merge-Type: lists(append)+dict(recurse_array)
' '#cloud-config
runcmd:
  - echo second >> /run/merge-order
')
check_run_result 1 error 1
check_file "only the first part was applied" "$ROOT/run/merge-order" 'first\n'
check_contains "the error names the merger and the header" "$(diagnostics errors)" \
        "Unknown merger 'lists' in the Merge-Type header of part-002"
check_contains "the error suggests 'list'" "$(diagnostics errors)" "Did you mean 'list'?"

case_begin "MIME cloud-config-jsonp part"
ROOT=
seed_run iid-mime-jsonp < <(
        printf 'Content-Type: multipart/mixed; boundary="==MERGE=="\nMIME-Version: 1.0\n\n'
        printf -- '--==MERGE==\nContent-Type: text/cloud-config\n\n'
        printf '#cloud-config\nruncmd:\n  - echo first >> /run/merge-order\n'
        printf -- '--==MERGE==\nContent-Type: text/cloud-config-jsonp\n\n'
        printf '[{"op": "add", "path": "/runcmd/-", "value": "echo patched >> /run/merge-order"}]\n'
        printf -- '--==MERGE==--\n')
check_run_result 0 done 0
check_file "the patch appended a command" "$ROOT/run/merge-order" 'first\npatched\n'

case_begin "cloud-config-jsonp user data"
ROOT=
seed_run iid-jsonp <<'EOF'
#cloud-config-jsonp
[{"op": "add", "path": "/runcmd", "value": ["touch /run/jsonp"]}]
EOF
check_run_result 0 done 0
check_exists "the patched runcmd ran" "$ROOT/run/jsonp"

case_begin "failing cloud-config-jsonp user data"
ROOT=
seed_run iid-jsonp-fail <<'EOF'
#cloud-config-jsonp
[{"op": "add", "path": "/runcmd", "value": ["touch /run/jsonp"]},
 {"op": "remove", "path": "/nothing"}]
EOF
check_run_result 1 error 1
check_absent "nothing from the patch ran" "$ROOT/run/jsonp"
check_contains "the error names the operation" "$(diagnostics errors)" \
        "operation 1 ('remove' at '/nothing')"

case_begin "image configuration under user data"
ROOT=$(new_root)
kiln_config "$ROOT" <<'YAML'
runcmd:
  - touch /run/image-runcmd
write_files:
  - path: /run/image-file
    content: "from the image"
YAML
seed_run iid-image < <(printf '#cloud-config\nruncmd:\n  - touch /run/user-runcmd\n')
check_run_result 0 done 0
check_exists "the user's runcmd ran" "$ROOT/run/user-runcmd"
check_absent "the image's runcmd was replaced" "$ROOT/run/image-runcmd"
check_file "the image's write_files still applied" "$ROOT/run/image-file" 'from the image'

case_begin "merge_how of a part stays within the user data"
ROOT=$(new_root)
kiln_config "$ROOT" <<'YAML'
runcmd:
  - echo image >> /run/merge-order
YAML
seed_run iid-part-merge-how <<'EOF'
#cloud-config
merge_how: 'dict(recurse_array)+list(append)'
runcmd:
  - echo user >> /run/merge-order
EOF
check_run_result 0 done 0
check_file "only the user's runcmd ran" "$ROOT/run/merge-order" 'user\n'

case_begin "image configuration with merge_how list(append)"
ROOT=$(new_root)
kiln_config "$ROOT" <<'YAML'
merge_how: 'dict(recurse_array)+list(append)+str()'
runcmd:
  - echo image >> /run/merge-order
YAML
seed_run iid-image-append < <(printf '#cloud-config\nruncmd:\n  - echo user >> /run/merge-order\n')
check_run_result 0 done 0
check_file "the image's runcmd ran after the user's" "$ROOT/run/merge-order" 'user\nimage\n'

case_begin "vendor data under user data"
ROOT=$(new_root)
mkdir -p "$ROOT/var/lib/kiln/seed/nocloud"
cat > "$ROOT/var/lib/kiln/seed/nocloud/vendor-data" <<'EOF'
#cloud-config
runcmd:
  - touch /run/vendor-runcmd
write_files:
  - path: /run/vendor-file
    content: "from the vendor"
EOF
seed_run iid-vendor < <(printf '#cloud-config\nruncmd:\n  - touch /run/user-runcmd\n')
check_run_result 0 done 0
check_exists "the user's runcmd ran" "$ROOT/run/user-runcmd"
check_absent "the vendor's runcmd was replaced" "$ROOT/run/vendor-runcmd"
check_file "the vendor's write_files still applied" "$ROOT/run/vendor-file" 'from the vendor'

case_begin "runcmd error line after an append"
ROOT=
seed_run iid-mime-line < <(mime_two_parts 'Merge-Type: list(append)+dict(recurse_array)+str()
' '#cloud-config

runcmd:
  - {bad: item}
')
check_run_result 1 error 1
check_contains "the error names the appended item" "$(diagnostics errors)" "runcmd[1]"
check_contains "the error gives the item's line in its own part" "$(diagnostics errors)" "line 4"
