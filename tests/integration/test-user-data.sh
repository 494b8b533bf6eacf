#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# User data as it arrives in practice: missing, empty, header only, null values, header variants,
# CRLF line ends, a byte-order mark and UTF-8, gzip and base64. Inputs come from a NoCloud seed,
# except where the case is about the metadata service's 404.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# seed_run INSTANCE_ID < USER_DATA: a fresh root in $ROOT with a NoCloud seed holding stdin as its
# user data, then `kiln run` on it.
seed_run() {
        ROOT=$(new_root)
        nocloud_seed "$ROOT" "$1"
        run_kiln "$ROOT"
}

# The script that kiln stored for a part of an instance.
stored_script() {
        echo "$ROOT/var/lib/kiln/instances/$1/scripts/$2"
}

case_begin "user-data 404 with an HTML body"
ROOT=$(new_root)
make_ec2 "$ROOT"
start_mock "$(scenario <<'EOF'
{
  "description": "No user data and no public keys: both answer 404.",
  "public_keys": {},
  "paths": {
    "/latest/user-data": {"status": 404, "headers": {"Content-Type": "text/html"},
                          "body": "<html><body><h1>404 - Not Found</h1></body></html>"}
  }
}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_run_result 0 done 0
check_eq "no warnings" "" "$(diagnostics warnings)"
check_eq "user-data was asked for once (404 is final)" 1 \
        "$(mock_query 'len([r for r in gets if r["path"] == "/latest/user-data"])')"
check_eq "the mock answered user-data with 404" 404 \
        "$(mock_query '[r["status"] for r in gets if r["path"] == "/latest/user-data"][0]')"
check_eq "public-keys was asked for once (404 is final)" 1 \
        "$(mock_query 'len([r for r in gets if r["path"] == "/latest/meta-data/public-keys/"])')"
check_eq "the instance has no SSH keys" "[]" \
        "$(json_get "$ROOT/var/lib/kiln/instances/i-0123456789abcdef0/metadata.json" 'd["metadata"]["public_ssh_keys"]')"

case_begin "empty user-data"
seed_run iid-empty </dev/null
check_run_result 0 done 0
check_eq "no warnings" "" "$(diagnostics warnings)"

case_begin "header-only user-data"
seed_run iid-header-only < <(printf '#cloud-config\n')
check_run_result 0 done 0
check_eq "no warnings" "" "$(diagnostics warnings)"

case_begin "write_files without a value"
seed_run iid-null < <(printf '#cloud-config\nwrite_files:\nruncmd:\n  - touch /run/b07-d\n')
check_run_result 0 degraded 2
check_exists "runcmd still ran" "$ROOT/run/b07-d"
check_contains "a warning names write_files" "$(diagnostics warnings)" "write_files"
check_eq "no errors" "" "$(diagnostics errors)"

case_begin "space after '#' in the header"
seed_run iid-space < <(printf '# cloud-config\nruncmd:\n  - touch /run/b03-a\n')
check_run_result 0 degraded 2
check_absent "nothing ran" "$ROOT/run/b03-a"
check_contains "the warning names the first line" "$(diagnostics warnings)" "'# cloud-config'"
check_contains "the warning suggests '#cloud-config'" "$(diagnostics warnings)" "'#cloud-config'"

case_begin "blank lines before the header"
seed_run iid-blank < <(printf '\n\n#cloud-config\nruncmd:\n  - touch /run/b03-b\n')
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/b03-b"

case_begin "indented shebang"
seed_run iid-indented < <(printf '  #!/bin/sh\n  touch /run/b03-c\n')
check_run_result 0 done 0
check_exists "the script ran" "$ROOT/run/b03-c"
check_eq "the stored script starts with '#!'" "#!" "$(head -c 2 "$(stored_script iid-indented part-001)")"

case_begin "blanks after the header"
seed_run iid-trailing < <(printf '#cloud-config \t\nruncmd:\n  - touch /run/b03-d\n')
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/b03-d"

case_begin "CRLF script"
seed_run iid-crlf-script < <(printf '#!/bin/sh\r\necho crlf-ok > /run/b01-script\r\n')
check_run_result 0 done 0
check_file "the script ran without stray CRs" "$ROOT/run/b01-script" 'crlf-ok\n'
check_exists "the script is stored" "$(stored_script iid-crlf-script part-001)"
check_eq "the stored script has no CR" 0 "$(tr -cd '\r' < "$(stored_script iid-crlf-script part-001)" | wc -c)"
check_grep "kiln logs the conversion and names the part" "CRLF.*part|part.*CRLF" "$ROOT.out"

case_begin "CRLF cloud-config"
seed_run iid-crlf-config < <(printf '#cloud-config\r\nwrite_files:\r\n  - path: /run/b01-file\r\n    content: "ok"\r\n')
check_run_result 0 done 0
check_file "the file holds exactly 'ok'" "$ROOT/run/b01-file" 'ok'

case_begin "byte-order mark"
seed_run iid-bom < <(printf '\xef\xbb\xbf#cloud-config\nruncmd:\n  - touch /run/b02-bom\n')
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/b02-bom"

case_begin "UTF-8 in a script"
printf '#!/bin/sh\n# Größe – naïve café ✓\necho "héllo" > /run/b02-utf8\n' > "$WORK/utf8-script"
seed_run iid-utf8-script < "$WORK/utf8-script"
check_run_result 0 done 0
check_eq "the stored script is byte for byte the input" "$(sha256sum < "$WORK/utf8-script")" \
        "$(sha256sum < "$(stored_script iid-utf8-script part-001)")"
check_file "the script wrote the UTF-8 bytes" "$ROOT/run/b02-utf8" 'h\xc3\xa9llo\n'

case_begin "UTF-8 in a YAML comment and value"
seed_run iid-utf8-yaml < <(printf '#cloud-config\n# Kommentar: ä\nwrite_files:\n  - path: /run/b02-yaml\n    content: "Grüße\\n"\n')
check_run_result 0 done 0
check_file "the file holds the 8 bytes of 'Grüße\\n'" "$ROOT/run/b02-yaml" 'Gr\xc3\xbc\xc3\x9fe\n'

CLOUD_CONFIG='#cloud-config\nruncmd:\n  - touch /run/b06\n'

case_begin "gzip user-data"
seed_run iid-gzip < <(printf "$CLOUD_CONFIG" | gzip -n)
check_run_result 0 done 0
check_exists "runcmd ran" "$ROOT/run/b06"

case_begin "base64 of gzip user-data"
seed_run iid-gzip-base64 < <(printf "$CLOUD_CONFIG" | gzip -n | base64 -w0)
check_run_result 0 degraded 2
check_exists "runcmd ran" "$ROOT/run/b06"
check_contains "a warning says the user data was base64" "$(diagnostics warnings)" "base64"

case_begin "gzip user-data base64-encoded twice"
seed_run iid-gzip-base64-twice < <(printf "$CLOUD_CONFIG" | gzip -n | base64 -w0 | base64 -w0)
check_run_result 0 degraded 2
check_absent "nothing ran" "$ROOT/run/b06"
check_contains "the warning says it was encoded more than once" "$(diagnostics warnings)" \
        "base64-encoded more than once"
