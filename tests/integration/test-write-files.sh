#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# write_files end to end from a NoCloud seed: permissions in their YAML forms and with set-id bits,
# content encodings, exact bytes, truncation of existing files, append once per instance, and an
# empty list.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

case_begin "permissions"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-permissions <<'EOF'
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
# A umask that would change the default and explicit modes if kiln let it.
saved_umask=$(umask)
umask 077
run_kiln "$ROOT"
umask "$saved_umask"
check_run_result 1 error 1
check_mode "unquoted 0640 is octal" "$ROOT/run/b11/a" "640 root:root"
check_mode "quoted '0640' is octal" "$ROOT/run/b11/b" "640 root:root"
check_mode "quoted \"640\" is octal" "$ROOT/run/b11/c" "640 root:root"
check_mode "integer 384 is the mode 0600" "$ROOT/run/b11/d" "600 root:root"
check_mode "'0o640' is octal" "$ROOT/run/b11/e" "640 root:root"
check_mode "set-uid survives chown" "$ROOT/run/b11/f" "4755 root:root"
check_absent "'0999' is not written" "$ROOT/run/b11/g"
check_mode "no permissions means 644" "$ROOT/run/b11/h" "644 root:root"
check_file "content of a" "$ROOT/run/b11/a" 'a\n'
check_file "content of f" "$ROOT/run/b11/f" '#!/bin/sh\n'
check_file "content of h" "$ROOT/run/b11/h" 'h\n'
check_contains "the error names the value and the path" "$(diagnostics errors)" \
        "invalid permissions '0999' for /run/b11/g"
check_eq "the only error is the one for g" 1 "$(json_get "$ROOT.status.json" 'len(d["errors"])')"
check_contains "a warning recommends quoting the integer mode" "$(diagnostics warnings | grep -F /run/b11/d | tr 'A-Z' 'a-z')" "quot"

case_begin "encodings, exact bytes and append"
ROOT=$(new_root)
B64=$(printf 'hello world' | base64 -w0)
GZ=$(printf 'line1\nline2\n' | gzip -n | base64 -w0)
printf 'OLD-CONTENT-THAT-IS-LONG\n' > "$ROOT/run/b13-existing"
nocloud_seed "$ROOT" iid-encodings <<EOF
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
run_kiln "$ROOT"
check_run_result 1 error 1
check_file "plain content gets no newline" "$ROOT/run/b13/plain" 'no newline at end'
check_file "b64 is decoded" "$ROOT/run/b13/b64" 'hello world'
check_file "base64 is decoded" "$ROOT/run/b13/base64" 'hello world'
check_file "gz+b64 is decoded and inflated" "$ROOT/run/b13/gzb64" 'line1\nline2\n'
check_file "gzip+base64 is decoded and inflated" "$ROOT/run/b13/gzb64b" 'line1\nline2\n'
check_file "gz of !!binary is inflated" "$ROOT/run/b13/gzbin" 'line1\nline2\n'
check_absent "content that is not gzip is not written" "$ROOT/run/b13/bad"
check_absent "an unknown encoding is not written" "$ROOT/run/b13/unknown"
check_file "an existing file is replaced, not overwritten in place" "$ROOT/run/b13-existing" 'new\n'
check_file "append adds the content" "$ROOT/run/b13-append" 'added\n'
errors=$(diagnostics errors)
check_contains "the gzip error names the path" "$(grep -F 'gzip' <<<"$errors")" "/run/b13/bad"
check_contains "the gzip error says the content is not gzip data" "$errors" "not gzip data"
check_contains "the encoding error names the encoding" "$errors" "unsupported encoding 'rot13'"
check_eq "two errors" 2 "$(json_get "$ROOT.status.json" 'len(d["errors"])')"

run_kiln "$ROOT"
check_eq "a second run of the instance exits 0" 0 "$KILN_RC"
check_file "append does not grow at a second run of the instance" "$ROOT/run/b13-append" 'added\n'

case_begin "permissions written as decimal, with blanks, and as a real number"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-permissions-forms <<'EOF2'
#cloud-config
write_files:
  - {path: /run/pf/a, content: "a", permissions: 755}
  - {path: /run/pf/b, content: "b", permissions: "  0644 "}
  - {path: /run/pf/c, content: "c", permissions: 3.14}
EOF2
run_kiln "$ROOT"
check_run_result 1 error 1
check_mode "755 is the decimal number, mode 01363, as in cloud-init" "$ROOT/run/pf/a" "1363 root:root"
check_contains "the warning suggests the octal mode" "$(diagnostics warnings)" "Did you mean '0755'?"
check_mode "blanks around a string mode are accepted" "$ROOT/run/pf/b" "644 root:root"
check_absent "a real number is not a mode" "$ROOT/run/pf/c"
check_contains "the error shows the number as written" "$(diagnostics errors)" "invalid permissions '3.14' for /run/pf/c"

case_begin "empty write_files list"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-empty-list <<'EOF2'
#cloud-config
write_files: []
EOF2
run_kiln "$ROOT"
check_run_result 0 done 0
