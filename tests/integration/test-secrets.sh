#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln never logs a secret: not the IMDSv2 token, not file content from user data, not even with
# --debug, and the reports in /run/kiln do not carry them either.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOKEN=AQAEsecrettokenvalue0123456789==
CONTENT=secret-file-content-0123456789

net_setup

case_begin "token and file content stay out of logs"
ROOT=$(new_root)
make_ec2 "$ROOT"
user_data=$(mktemp "$WORK/user-data-XXXXXX")
cat > "$user_data" <<YAML
#cloud-config
write_files:
  - path: /etc/secret.conf
    permissions: '0600'
    content: "$CONTENT"
  - path: /etc/bad-encoding.conf
    encoding: gz+b64
    content: "$CONTENT"
runcmd:
  - [sh, -c, 'exit 0']
YAML
scenario_file=$(mktemp "$WORK/scenario-XXXXXX.json")
printf '{"tokens": "required", "token_value": "%s", "user_data_file": "%s"}\n' "$TOKEN" "$user_data" > "$scenario_file"
start_mock "$scenario_file"
run_kiln "$ROOT" --debug
stop_mock
check_eq "kiln run exits 1 (the bad encoding fails)" 1 "$KILN_RC"
check_file "the secret file is written" "$ROOT/etc/secret.conf" "$CONTENT"
check_mode "the secret file has mode 600" "$ROOT/etc/secret.conf" "600 root:root"
check_eq "the mock handed out the known token" True \
        "$(mock_query "any(header(r, 'X-aws-ec2-metadata-token') == '$TOKEN' for r in gets)")"
check "the token is not in kiln's output" bash -c "! grep -qF -- '$TOKEN' '$ROOT.out'"
check "file content is not in kiln's output" bash -c "! grep -qF -- '$CONTENT' '$ROOT.out'"
for f in status.json result.json; do
        check "the token is not in /run/kiln/$f" bash -c "! grep -qF -- '$TOKEN' '$ROOT/run/kiln/$f'"
        check "file content is not in /run/kiln/$f" bash -c "! grep -qF -- '$CONTENT' '$ROOT/run/kiln/$f'"
done
check_mode "the cached user data is readable by root only" \
        "$ROOT/var/lib/kiln/instances/i-0123456789abcdef0/user-data" "600 root:root"
