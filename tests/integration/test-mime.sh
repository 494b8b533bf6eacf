#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# MIME multipart user data and the part types it carries: boothooks, per-boot, per-instance and
# per-once scripts, parts for other programs, transfer encodings, gzip parts and archives. Also
# text that is not user data, and the script directories under /var/lib/kiln/scripts. Inputs come
# from a NoCloud seed.
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

# reboot_with INSTANCE_ID: run kiln again on $ROOT, as the next boot of INSTANCE_ID, with the
# user data already in the seed.
reboot_with() {
        printf 'instance-id: %s\n' "$1" > "$ROOT/var/lib/kiln/seed/nocloud/meta-data"
        run_kiln "$ROOT"
}

# lines FILE: the number of lines in FILE, 0 when it is missing.
lines() {
        if [ -f "$1" ]; then wc -l < "$1" | tr -d ' '; else echo 0; fi
}

# module_field NAME FIELD: a field of a module's record in status.json.
module_field() {
        json_get "$ROOT/run/kiln/status.json" \
                "[m['$2'] for m in d['modules'] if m['name'] == '$1'][0]" 2>/dev/null
}

case_begin "MIME parts for other programs and a declared boothook"
seed_run iid-b08 <<'EOF'
Content-Type: multipart/mixed; boundary="==B08=="
MIME-Version: 1.0

--==B08==
Content-Type: text/cloud-boothook; charset="us-ascii"

#!/bin/sh
date +%s.%N > /run/b08-boothook
--==B08==
Content-Type: application/x-example-json

{"role": "db", "cluster": "example"}
--==B08==
Content-Type: text/x-shellscript

#!/bin/sh
date +%s.%N > /run/b08-script
--==B08==--
EOF
check_run_result 0 done 0
check_exists "the boothook ran" "$ROOT/run/b08-boothook"
check_exists "the script ran" "$ROOT/run/b08-script"
check_le "the boothook ran before the script" "$(cat "$ROOT/run/b08-boothook")" "$(cat "$ROOT/run/b08-script")"
check_eq "boothooks is the first module" boothooks "$(json_get "$ROOT/run/kiln/status.json" 'd["modules"][0]["name"]')"
check_le "boothooks finished before bootcmd started" \
        "$(date -d "$(module_field boothooks finished)" +%s.%N)" "$(date -d "$(module_field bootcmd started)" +%s.%N)"
check_exists "the boothook is stored" "$ROOT/var/lib/kiln/instances/iid-b08/boothooks/part-001"
check_file "the JSON part is saved verbatim" "$ROOT/var/lib/kiln/instances/iid-b08/parts/002" \
        '{"role": "db", "cluster": "example"}'
check_mode "the saved part has mode 600" "$ROOT/var/lib/kiln/instances/iid-b08/parts/002" "600 root:root"
check_absent "the JSON part is not stored as a script" "$ROOT/var/lib/kiln/instances/iid-b08/scripts/part-002"
check_grep "the JSON part is logged" "part 2 \(application/x-example-json\).*other programs" "$ROOT.out"
check_eq "no warnings" "" "$(diagnostics warnings)"

case_begin "text that is neither a script nor cloud-config"
seed_run iid-b10a < <(printf 'yum install -y tmux\n')
check_run_result 0 degraded 2
check_eq "no part is stored" "" "$(ls "$ROOT/var/lib/kiln/instances/iid-b10a/scripts" 2>/dev/null)"
WARNINGS=$(diagnostics warnings)
check_contains "the warning quotes the first line" "$WARNINGS" "'yum install -y tmux'"
for start in "'#!'" "'#cloud-config'" "'#include'" "'#cloud-boothook'" "'Content-Type:'" "gzip"; do
        check_contains "the warning lists $start" "$WARNINGS" "$start"
done
check_contains "the warning suggests '#!/bin/sh'" "$WARNINGS" "'#!/bin/sh'"

case_begin "a script glued after cloud-config"
seed_run iid-b10b <<'EOF'
#cloud-config
users:
  - name: alice
#!/bin/bash
echo hi > /run/b10-b
EOF
check_run_result 1 error 1
check_absent "the glued script did not run" "$ROOT/run/b10-b"
check "no user alice" bash -c "! grep -q '^alice:' '$ROOT/etc/passwd'"
check_contains "the error is at line 5" "$(diagnostics errors)" "line 5"
check_contains "the error suggests MIME multipart" "$(diagnostics errors)" "MIME multipart"

B31_USER_DATA='Content-Type: multipart/mixed; boundary="B31"
MIME-Version: 1.0

--B31
Content-Type: text/cloud-config

#cloud-config
bootcmd:
  - echo boot >> /var/tmp/b31-bootcmd
runcmd:
  - echo run >> /var/tmp/b31-runcmd
--B31
Content-Type: text/x-shellscript

#!/bin/sh
echo script >> /var/tmp/b31-script
--B31
Content-Type: text/x-shellscript-per-boot

#!/bin/sh
echo perboot >> /var/tmp/b31-perboot
--B31--
'

case_begin "per-boot and per-instance over three boots"
seed_run iid-b31 <<<"$B31_USER_DATA"
check_eq "first boot exits 0" 0 "$KILN_RC"
reboot_with iid-b31
check_eq "second boot exits 0" 0 "$KILN_RC"
reboot_with iid-b31
check_run_result 0 done 0
check_eq "bootcmd ran at each boot" 3 "$(lines "$ROOT/var/tmp/b31-bootcmd")"
check_eq "runcmd ran once" 1 "$(lines "$ROOT/var/tmp/b31-runcmd")"
check_eq "the user script ran once" 1 "$(lines "$ROOT/var/tmp/b31-script")"
check_eq "the per-boot part ran at each boot" 3 "$(lines "$ROOT/var/tmp/b31-perboot")"
reboot_with iid-b31-new
check_run_result 0 done 0
check_eq "a new instance runs runcmd again" 2 "$(lines "$ROOT/var/tmp/b31-runcmd")"
check_eq "a new instance runs the user script again" 2 "$(lines "$ROOT/var/tmp/b31-script")"
check_eq "bootcmd ran at the fourth boot" 4 "$(lines "$ROOT/var/tmp/b31-bootcmd")"
check_eq "the per-boot part ran at the fourth boot" 4 "$(lines "$ROOT/var/tmp/b31-perboot")"

case_begin "per-instance and per-once parts and script directories"
ROOT=$(new_root)
for dir in per-boot per-instance per-once; do
        mkdir -p "$ROOT/var/lib/kiln/scripts/$dir"
        printf '#!/bin/sh\necho "%s $INSTANCE_ID" >> /var/tmp/dir-%s\n' "$dir" "$dir" > "$ROOT/var/lib/kiln/scripts/$dir/10-log"
        chmod 755 "$ROOT/var/lib/kiln/scripts/$dir/10-log"
done
printf '#!/bin/sh\necho second >> /var/tmp/dir-order\n' > "$ROOT/var/lib/kiln/scripts/per-boot/20-second"
printf '#!/bin/sh\necho first >> /var/tmp/dir-order\n' > "$ROOT/var/lib/kiln/scripts/per-boot/05-first"
chmod 755 "$ROOT/var/lib/kiln/scripts/per-boot/20-second" "$ROOT/var/lib/kiln/scripts/per-boot/05-first"
nocloud_seed "$ROOT" iid-dirs <<'EOF'
Content-Type: multipart/mixed; boundary=frequencies
MIME-Version: 1.0

--frequencies
Content-Type: text/x-shellscript-per-instance

#!/bin/sh
echo instance >> /var/tmp/part-per-instance
--frequencies
Content-Type: text/x-shellscript-per-once

#!/bin/sh
echo once >> /var/tmp/part-per-once
--frequencies--
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_file "the per-boot directory script ran with INSTANCE_ID" "$ROOT/var/tmp/dir-per-boot" 'per-boot iid-dirs\n'
check_file "scripts of a directory run in name order" "$ROOT/var/tmp/dir-order" 'first\nsecond\n'
reboot_with iid-dirs
reboot_with iid-dirs-2
check_run_result 0 done 0
check_eq "the per-boot directory script ran at each boot" 3 "$(lines "$ROOT/var/tmp/dir-per-boot")"
check_file "the per-instance directory script ran once per instance" "$ROOT/var/tmp/dir-per-instance" \
        'per-instance iid-dirs\nper-instance iid-dirs-2\n'
check_eq "the per-once directory script ran once" 1 "$(lines "$ROOT/var/tmp/dir-per-once")"
check_eq "the per-instance part ran once per instance" 2 "$(lines "$ROOT/var/tmp/part-per-instance")"
check_eq "the per-once part ran once" 1 "$(lines "$ROOT/var/tmp/part-per-once")"

case_begin "a script directory with a failing and a non-executable script"
ROOT=$(new_root)
mkdir -p "$ROOT/var/lib/kiln/scripts/per-boot"
printf '#!/bin/sh\nexit 3\n' > "$ROOT/var/lib/kiln/scripts/per-boot/10-fails"
printf '#!/bin/sh\ntouch /run/not-run\n' > "$ROOT/var/lib/kiln/scripts/per-boot/20-not-executable"
printf '#!/bin/sh\ntouch /run/after\n' > "$ROOT/var/lib/kiln/scripts/per-boot/30-after"
chmod 755 "$ROOT/var/lib/kiln/scripts/per-boot/10-fails" "$ROOT/var/lib/kiln/scripts/per-boot/30-after"
chmod 644 "$ROOT/var/lib/kiln/scripts/per-boot/20-not-executable"
nocloud_seed "$ROOT" iid-dir-fail </dev/null
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error names the script and its exit code" "$(diagnostics errors)" \
        "scripts_per_boot[0]: script '/var/lib/kiln/scripts/per-boot/10-fails' exited with 3"
check_contains "the warning names the non-executable script" "$(diagnostics warnings)" "20-not-executable"
check_absent "the non-executable script did not run" "$ROOT/run/not-run"
check_exists "the script after the failure ran" "$ROOT/run/after"

case_begin "declared type against the first line"
seed_run iid-sniff <<'EOF'
Content-Type: multipart/mixed; boundary="sniff"
MIME-Version: 1.0

--sniff
Content-Type: text/plain

#cloud-config
write_files:
  - path: /run/from-text-plain
    content: plain
--sniff
Content-Type: text/x-shellscript

#cloud-config
runcmd:
  - touch /run/from-declared-shellscript
--sniff
Content-Type: text/cloud-config

#!/bin/sh
# cloud-config that looks like a script: the declared type wins, and YAML reads a comment
--sniff
Content-Type: text/x-not-multipart

#!/bin/sh
touch /run/from-not-multipart
--sniff--
EOF
check_run_result 0 done 0
check_file "text/plain typed by its first line" "$ROOT/run/from-text-plain" 'plain'
check_exists "text/x-shellscript typed by its first line" "$ROOT/run/from-declared-shellscript"
check_exists "text/x-not-multipart typed by its first line" "$ROOT/run/from-not-multipart"
check_absent "text/cloud-config is not run as a script" "$ROOT/var/lib/kiln/instances/iid-sniff/scripts/part-003"

case_begin "text/plain part without a known first line"
seed_run iid-plain <<'EOF'
Content-Type: multipart/mixed; boundary="plain"
MIME-Version: 1.0

--plain
Content-Type: text/plain

yum install -y tmux
--plain--
EOF
check_run_result 0 degraded 2
check_contains "the warning names the MIME part" "$(diagnostics warnings)" "part 1 (text/plain) of the MIME message"
check_contains "the warning suggests a Content-Type" "$(diagnostics warnings)" "text/x-shellscript"

GZIP_BASE64=$(printf '#!/bin/sh\necho gzip-part > /run/gzip-part\n' | gzip -n | base64 -w 60)
case_begin "transfer encodings, gzip and nested multiparts"
seed_run iid-encodings <<EOF
MIME-Version: 1.0
Content-Type: multipart/mixed;
 boundary=outer

preamble text is ignored
--outer
Content-Type: text/x-shellscript
Content-Transfer-Encoding: base64

$(printf '#!/bin/sh\necho base64-part > /run/base64-part\n' | base64 -w 20)
--outer
Content-Type: text/cloud-config
Content-Transfer-Encoding: quoted-printable

#cloud-config
write_files:
  - path: /run/qp-part
    content: "Gr=C3=BC=C3=9Fe, a long line that is broken by a soft line br=
eak"
--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: application/x-gzip
Content-Transfer-Encoding: base64

$GZIP_BASE64
--inner--
--outer--
epilogue text is ignored
EOF
check_run_result 0 done 0
check_file "the base64 part ran" "$ROOT/run/base64-part" 'base64-part\n'
check_file "the quoted-printable part was decoded" "$ROOT/run/qp-part" \
        'Gr\xc3\xbc\xc3\x9fe, a long line that is broken by a soft line break'
check_file "the gzip part in the nested multipart ran" "$ROOT/run/gzip-part" 'gzip-part\n'

case_begin "boothook by its header line"
seed_run iid-boothook < <(printf '#cloud-boothook\n#!/bin/sh\necho "$INSTANCE_ID" >> /run/boothook-id\n')
check_run_result 0 done 0
check_file "the boothook ran with INSTANCE_ID" "$ROOT/run/boothook-id" 'iid-boothook\n'
check_file "the stored boothook starts at '#!'" "$ROOT/var/lib/kiln/instances/iid-boothook/boothooks/part-001" \
        '#!/bin/sh\necho "$INSTANCE_ID" >> /run/boothook-id\n'
reboot_with iid-boothook
check_eq "the boothook runs at every boot" 2 "$(lines "$ROOT/run/boothook-id")"

case_begin "cloud-config-archive"
seed_run iid-archive <<'EOF'
#cloud-config-archive
- type: text/cloud-config
  content: |
    #cloud-config
    write_files:
      - path: /run/archive-config
        content: archived
- content: |
    #!/bin/sh
    touch /run/archive-script
- "runcmd:\n  - touch /run/archive-untyped\n"
EOF
check_run_result 0 done 0
check_file "the cloud-config entry was applied" "$ROOT/run/archive-config" 'archived'
check_exists "the script entry ran" "$ROOT/run/archive-script"
check_exists "an entry without header is cloud-config" "$ROOT/run/archive-untyped"

case_begin "multipart without its boundary"
seed_run iid-no-boundary <<'EOF'
Content-Type: multipart/mixed
MIME-Version: 1.0

--x
Content-Type: text/x-shellscript

#!/bin/sh
touch /run/no-boundary
--x--
EOF
check_run_result 1 error 1
check_absent "nothing ran" "$ROOT/run/no-boundary"
check_contains "the error says the boundary is missing" "$(diagnostics errors)" "no boundary parameter"
