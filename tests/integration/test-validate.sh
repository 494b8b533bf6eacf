#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln validate: exit codes, positions and key paths in its findings, the JSON format, --system,
# the JSON Schema that packaging/kiln-schema.json must equal, and the shipped examples. On the
# inputs of real failure reports, validate must reach the verdict that `kiln run` reaches.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# validate ARGS...: run `kiln validate`; sets VALIDATE_RC and VALIDATE_OUT (stdout and stderr).
validate() {
        local errexit=$-
        set +e
        VALIDATE_OUT=$("$KILN" validate "$@" 2>&1)
        VALIDATE_RC=$?
        [[ $errexit == *e* ]] && set -e
        return 0
}

# input NAME < TEXT: write stdin to $WORK/NAME and print the path.
input() {
        cat > "$WORK/$1"
        echo "$WORK/$1"
}

case_begin "usage"
validate
check_eq "no FILE and no --system exits 64" 64 "$VALIDATE_RC"
check_contains "the usage error says what is missing" "$VALIDATE_OUT" "validate needs a FILE or --system"
validate --print-schema "$TOP/examples/user-data.yaml"
check_eq "--print-schema with a file exits 64" 64 "$VALIDATE_RC"
validate --bogus "$TOP/examples/user-data.yaml"
check_eq "an unknown option exits 64" 64 "$VALIDATE_RC"
validate --format yaml "$TOP/examples/user-data.yaml"
check_eq "an unknown format exits 64" 64 "$VALIDATE_RC"
"$KILN" run --system >/dev/null 2>&1
check_eq "--system belongs to validate" 64 "$?"
validate --help
check_eq "--help exits 0" 0 "$VALIDATE_RC"
check_contains "--help names --print-schema" "$VALIDATE_OUT" "--print-schema"

case_begin "shipped examples"
for f in "$TOP"/examples/*; do
        # Executables (examples/demo) are scripts that run kiln, not user data.
        [ -f "$f" ] && [ ! -x "$f" ] || continue
        validate "$f"
        check_eq "$(basename "$f") is valid" 0 "$VALIDATE_RC"
        check_eq "$(basename "$f") has no findings" "$f: valid" "$VALIDATE_OUT"
done

case_begin "JSON Schema"
"$KILN" validate --print-schema > "$WORK/schema.json"
check_eq "--print-schema exits 0" 0 "$?"
# A change to a module's declarations changes the schema: regenerate the file with
# `kiln validate --print-schema > packaging/kiln-schema.json`.
check "packaging/kiln-schema.json is the output of --print-schema (regenerate it)" cmp -s "$WORK/schema.json" \
        "$TOP/packaging/kiln-schema.json"
check_eq "the schema is draft-07" "http://json-schema.org/draft-07/schema#" \
        "$(json_get "$WORK/schema.json" 'd["$schema"]')"
check_eq "write_files items require path" "['path']" \
        "$(json_get "$WORK/schema.json" 'd["properties"]["write_files"]["items"]["required"]')"

case_begin "positions, paths and expectations"
F=$(input b11 <<'EOF'
#cloud-config
write_files:
  - {path: /run/b11/a, content: "a\n", permissions: 0640}
  - {path: /run/b11/d, content: "d\n", permissions: 384}
  - {path: /run/b11/g, content: "g\n", permissions: '0999'}
  - path: /run/b11/x
    permisions: '0600'
runcmds:
  - true
EOF
)
validate "$F"
check_eq "an invalid mode makes the file invalid" 1 "$VALIDATE_RC"
check_contains "the error gives file, line, column and key path" "$VALIDATE_OUT" \
        "$F:5:40: error: write_files.2.permissions is an invalid mode '0999'"
check_contains "the error says what is expected" "$VALIDATE_OUT" "Give an octal mode from 0 to 07777"
check_contains "a decimal mode is a warning" "$VALIDATE_OUT" \
        "$F:4:40: warning: write_files.1.permissions is read as the decimal number 384"
check_contains "a nested unknown key is a warning with a suggestion" "$VALIDATE_OUT" \
        "$F:7:5: warning: Unknown key 'write_files.3.permisions', ignoring it. Did you mean 'permissions'?"
check_contains "a top-level unknown key is a warning with a suggestion" "$VALIDATE_OUT" \
        "$F:8:1: warning: Unknown key 'runcmds', ignoring it. Did you mean 'runcmd'?"
check_contains "the summary counts errors and warnings" "$VALIDATE_OUT" "$F: invalid, 1 error, 3 warnings"

case_begin "JSON format"
"$KILN" validate --format json "$F" "$TOP/examples/user-data.yaml" > "$WORK/b11.json"
check_eq "JSON output exits 1 for an invalid file" 1 "$?"
check_eq "valid is false" False "$(json_get "$WORK/b11.json" 'd["valid"]')"
check_eq "every file is listed" 2 "$(json_get "$WORK/b11.json" 'len(d["files"])')"
check_eq "the file is named" "$F" "$(json_get "$WORK/b11.json" 'd["files"][0]["file"]')"
check_eq "the error has path, line, column and message" \
        "write_files.2.permissions 5 40 True" \
        "$(json_get "$WORK/b11.json" '" ".join(str(x) for x in (d["files"][0]["errors"][0]["path"], d["files"][0]["errors"][0]["line"], d["files"][0]["errors"][0]["column"], "invalid mode" in d["files"][0]["errors"][0]["message"]))')"
check_eq "warnings are listed" 3 "$(json_get "$WORK/b11.json" 'len(d["files"][0]["warnings"])')"
check_eq "the valid example has no errors" 0 "$(json_get "$WORK/b11.json" 'len(d["files"][1]["errors"])')"

case_begin "YAML errors and parser warnings"
F=$(input b10b <<'EOF'
#cloud-config
users:
  - name: alice
#!/bin/bash
echo hi > /run/b10-b
EOF
)
validate "$F"
check_eq "a YAML error makes the file invalid" 1 "$VALIDATE_RC"
check_contains "the YAML error has line and column" "$VALIDATE_OUT" "$F:5:1: error: Failed to parse the cloud-config"
check_contains "the YAML error suggests MIME multipart" "$VALIDATE_OUT" "MIME multipart"
F=$(input tab <<'EOF'
#cloud-config
runcmd:
	- true
EOF
)
validate "$F"
check_contains "a tab in the indentation is an error with a column" "$VALIDATE_OUT" \
        "$F:3:1: error: Failed to parse the cloud-config: tab character used for indentation"

case_begin "files that cannot be read"
validate "$WORK/no-such-file"
check_eq "a missing file is invalid" 1 "$VALIDATE_RC"
check_contains "the error names the file" "$VALIDATE_OUT" "Failed to read '$WORK/no-such-file'"
validate "$WORK"
check_eq "a directory is invalid" 1 "$VALIDATE_RC"

case_begin "decoded user data"
F="$WORK/gzip-b64"
printf '#cloud-config\nruncmd:\n  - [ls, {a: b}]\n' | gzip -n | base64 -w0 > "$F"
validate "$F"
check_eq "base64 of gzip is decoded and checked" 1 "$VALIDATE_RC"
check_contains "the decoding is a warning" "$VALIDATE_OUT" "base64"
check_contains "the shape error is found after decoding" "$VALIDATE_OUT" "runcmd.0.1"
F=$(input jinja <<'EOF'
## template: jinja
#cloud-config
hostname: {{ v1.local_hostname }}
EOF
)
validate "$F"
check_eq "a Jinja template is not an error" 0 "$VALIDATE_RC"
check_contains "a Jinja template is said to be unchecked" "$(tr 'A-Z' 'a-z' <<<"$VALIDATE_OUT")" "jinja"
F=$(input mime <<'EOF'
Content-Type: multipart/mixed; boundary="==B=="
MIME-Version: 1.0

--==B==
Content-Type: text/cloud-config

#cloud-config
runcmd:
  - echo one
--==B==
Content-Type: text/cloud-config

#cloud-config
write_files:
  - path: /x
    encoding: rot13
--==B==--
EOF
)
validate "$F"
check_eq "a bad part makes a multipart file invalid" 1 "$VALIDATE_RC"
check_contains "the finding names the part" "$VALIDATE_OUT" "(part-002):4:5: error: write_files.0.encoding"

# seed_run NAME < USER_DATA: a fresh root in $ROOT with a NoCloud seed holding stdin, then
# `kiln run` on it and `kiln validate` on the same user data.
seed_run() {
        ROOT=$(new_root)
        nocloud_seed "$ROOT" "iid-$1"
        run_kiln "$ROOT"
        status_json "$ROOT"
        validate "$ROOT/var/lib/kiln/seed/nocloud/user-data"
}

# verdicts VALIDATE_EXIT RUN_STATUS: check both verdicts on the last seed_run.
verdicts() {
        check_eq "kiln validate exits $1" "$1" "$VALIDATE_RC"
        check_eq "kiln run ends $2" "$2" "$(json_get "$ROOT.status.json" 'd["status"]')"
}

# Real failure reports. kiln validate must report invalid exactly when kiln run ends in error
# because of a value's shape. A run that fails for another reason (a command's exit code, content
# that is not gzip data) can still have valid user data.

case_begin "duplicate keys (valid, run degraded)"
seed_run b05 <<'EOF'
#cloud-config
runcmd:
  - touch /run/b05-first
write_files:
  - path: /run/b05-file
    content: "x"
    path: /run/b05-other
runcmd:
  - touch /run/b05-second
EOF
verdicts 0 degraded
check_contains "the duplicate is a warning with its position" "$VALIDATE_OUT" \
        "user-data:8:1: warning: duplicate key 'runcmd' at lines 2 and 8"

case_begin "empty user data (valid, run done)"
seed_run b07b </dev/null
verdicts 0 done

case_begin "header only (valid, run done)"
seed_run b07c < <(printf '#cloud-config\n')
verdicts 0 done

case_begin "null write_files (valid, run degraded)"
seed_run b07d <<'EOF'
#cloud-config
write_files:
runcmd:
  - touch /run/b07-d
EOF
verdicts 0 degraded
check_contains "null write_files is a warning" "$VALIDATE_OUT" "write_files has no value (null)"

case_begin "write_files modes (invalid, run error)"
seed_run b11 <<'EOF'
#cloud-config
write_files:
  - {path: /run/b11/a, content: "a\n", permissions: 0640}
  - {path: /run/b11/b, content: "b\n", permissions: '0640'}
  - {path: /run/b11/c, content: "c\n", permissions: "640"}
  - {path: /run/b11/d, content: "d\n", permissions: 384}
  - {path: /run/b11/e, content: "e\n", permissions: '0o640'}
  - {path: /run/b11/f, content: "#!/bin/sh\n", owner: "root:root", permissions: '4755'}
  - {path: /run/b11/g, content: "g\n", permissions: '0999'}
  - {path: /run/b11/h, content: "h\n"}
EOF
verdicts 1 error
check_contains "the invalid mode is the error" "$VALIDATE_OUT" "write_files.6.permissions is an invalid mode '0999'"
check_contains "only that one is an error" "$VALIDATE_OUT" "invalid, 1 error, 1 warning"

case_begin "write_files encodings (invalid, run error)"
B64=$(printf 'hello world' | base64 -w0)
GZ=$(printf 'line1\nline2\n' | gzip -n | base64 -w0)
seed_run b13 <<EOF
#cloud-config
write_files:
  - {path: /run/b13/plain,   content: "no newline at end"}
  - {path: /run/b13/b64,     encoding: b64,          content: "$B64"}
  - {path: /run/b13/base64,  encoding: base64,       content: "$B64"}
  - {path: /run/b13/gzb64,   encoding: gz+b64,       content: "$GZ"}
  - {path: /run/b13/gzb64b,  encoding: gzip+base64,  content: "$GZ"}
  - path: /run/b13/gzbin
    encoding: gz
    content: !!binary |
      $GZ
  - {path: /run/b13/bad,     encoding: gz+b64,       content: "$B64"}
  - {path: /run/b13/unknown, encoding: rot13,        content: "uryyb"}
  - {path: /run/b13-existing, content: "new\n"}
  - {path: /run/b13-append,  content: "added\n", append: true}
EOF
verdicts 1 error
check_contains "the unsupported encoding is the error" "$VALIDATE_OUT" "write_files.7.encoding has the unsupported value 'rot13'"
check_contains "content that is not gzip data is left to the run" "$VALIDATE_OUT" "invalid, 1 error, 0 warnings"

case_begin "unquoted ': ' in runcmd (invalid, run error)"
seed_run b15a <<'EOF'
#cloud-config
runcmd:
  - echo Status: ok > /run/b15-a
  - touch /run/b15-a2
EOF
verdicts 1 error
check_contains "the mapping item is named with its position" "$VALIDATE_OUT" \
        "user-data:3:5: error: runcmd.0 is a mapping, not a command"

case_begin "quoted ': ' in runcmd (valid, run done)"
seed_run b15b <<'EOF'
#cloud-config
runcmd:
  - "echo 'Status: ok' > /run/b15-b"
  - [sh, -c, "echo 'url: https://example.com/x' > /run/b15-b2"]
EOF
verdicts 0 done

case_begin "a command that fails (valid, run error)"
seed_run b16 <<'EOF'
#cloud-config
runcmd:
  - echo one > /run/b16-one
  - [sh, -c, 'echo "two words" > /run/b16-two']
  - [touch, "/run/b16 three"]
  - sh -c 'exit 3'
  - echo after > /run/b16-after
  - |
    for i in 1 2; do echo "$i" >> /run/b16-multi; done
EOF
verdicts 0 error
check_eq "no findings" "$ROOT/var/lib/kiln/seed/nocloud/user-data: valid" "$VALIDATE_OUT"

# ssh_pwauth belongs to the ssh module: its spellings of true and false are valid, and whether
# 'maybe' is an error is the module's decision, which validate must share.
for value in True yes on TRUE '"no"'; do
        case_begin "ssh_pwauth: $value (valid, run not in error)"
        seed_run "b21-$value" < <(printf '#cloud-config\nssh_pwauth: %s\n' "$value")
        check_eq "kiln validate exits 0" 0 "$VALIDATE_RC"
        check "kiln run does not end in error" test "$(json_get "$ROOT.status.json" 'd["status"]')" != error
done
case_begin "ssh_pwauth: \"maybe\" (run in error exactly when invalid)"
seed_run b21c < <(printf '#cloud-config\nssh_pwauth: "maybe"\n')
if [ "$VALIDATE_RC" = 1 ]; then expected=error; else expected=not-error; fi
actual=$(json_get "$ROOT.status.json" '"error" if d["status"] == "error" else "not-error"')
check_eq "kiln run ends in error exactly when kiln validate exits 1" "$expected" "$actual"

case_begin "YAML 1.1 booleans as hostname and command (invalid, run error)"
seed_run b21d <<'EOF'
#cloud-config
hostname: off
runcmd:
  - false
EOF
verdicts 1 error
check_contains "the boolean hostname is named" "$VALIDATE_OUT" \
        "user-data:2:1: error: hostname must be a string or null, not the boolean false"
check_contains "the boolean command is named" "$VALIDATE_OUT" \
        "user-data:4:5: error: runcmd.0 is the YAML boolean false, not a command"

case_begin "--system"
seed_run system <<'EOF'
#cloud-config
runcmd:
  - [touch, /run/system]
write_files:
  - {path: /run/system-file, content: x, permissions: '0999'}
EOF
validate --system --root "$ROOT"
check_eq "the cached user data is invalid" 1 "$VALIDATE_RC"
check_contains "the cached file is named inside the root" "$VALIDATE_OUT" \
        "$ROOT/var/lib/kiln/instance/user-data:5:42: error: write_files.0.permissions"
validate --system --root "$ROOT" --format json
check_contains "--system lists the vendor data too" "$VALIDATE_OUT" "/var/lib/kiln/instance/vendor-data"
ROOT=$(new_root)
validate --system --root "$ROOT"
check_eq "a root where kiln never ran is invalid" 1 "$VALIDATE_RC"
check_contains "the error says kiln has not run" "$VALIDATE_OUT" "kiln has not run on this system yet"

case_begin "--system with a file"
out=$("$KILN" validate --system /etc/hostname 2>&1)
rc=$?
check_eq "--system with a file exits 64" 64 "$rc"
check_contains "the message says to choose one" "$out" "not both"

case_begin "findings between parts"
printf '#cloud-config-jsonp\n[{"op":"frobnicate","path":"/a"}]\n' > "$WORK/bad-patch"
out=$("$KILN" validate "$WORK/bad-patch" 2>&1)
rc=$?
check_eq "a bad JSON patch is invalid" 1 "$rc"
check_contains "the message names the operation" "$out" "unknown operation 'frobnicate'"
printf 'Content-Type: multipart/mixed; boundary="S"\nMIME-Version: 1.0\n\n--S\nContent-Type: text/cloud-config\n\n#cloud-config\nruncmd: [echo a]\n--S\nContent-Type: text/cloud-config\nMerge-Type: ((((garbage)))+++dict(\n\n#cloud-config\nruncmd: [echo b]\n--S--\n' > "$WORK/bad-merge-type"
out=$("$KILN" validate "$WORK/bad-merge-type" 2>&1)
rc=$?
check_eq "a garbage Merge-Type is invalid" 1 "$rc"
check_contains "the message names the header" "$out" "Merge-Type header of part-002"

case_begin "text with no header"
printf 'yum install -y tmux\n' > "$WORK/no-header"
out=$("$KILN" validate "$WORK/no-header" 2>&1)
rc=$?
check_eq "text that would be ignored whole is invalid" 1 "$rc"
check_contains "the message says nothing would be applied" "$out" "nothing in this file would be applied"
