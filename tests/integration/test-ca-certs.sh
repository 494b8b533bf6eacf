#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The ca_certs module in a Debian root with the image's own update-ca-certificates: a trusted
# certificate reaches the bundle, remove_defaults leaves only the trusted ones in it, and an item
# that is not a certificate is an error naming it while the other items are still installed. The
# RHEL layout runs on a busybox root with a stand-in update-ca-trust, because no RHEL root is
# available here.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

BUNDLE=etc/ssl/certs/ca-certificates.crt

# make_ca NAME: a self-signed CA certificate made now, so no test depends on a fixed expiry date.
make_ca() {
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/$1.key" -out "$WORK/$1.pem" -days 2 \
                -subj "/CN=kiln test $1" 2>/dev/null
}

# indent FILE: the file's lines indented for a YAML block scalar inside a list item.
indent() {
        sed 's/^/      /' "$1"
}

# bundle_subjects: the subjects of the certificates in the root's bundle, one per line.
bundle_subjects() {
        awk '/-----BEGIN CERTIFICATE-----/ { n++ } { print > ("'"$WORK"'/bundle-cert-" n ".pem") }' "$ROOT/$BUNDLE"
        for f in "$WORK"/bundle-cert-*.pem; do
                openssl x509 -noout -subject -in "$f" 2>/dev/null
        done
        rm -f "$WORK"/bundle-cert-*.pem
}

bundle_count() {
        grep -c -- '-----BEGIN CERTIFICATE-----' "$ROOT/$BUNDLE"
}

make_ca one
make_ca two

case_begin "trusted certificate in the Debian bundle"
if debian_root; then
        DEFAULTS=$(bundle_count)
        nocloud_seed "$ROOT" iid-ca-1 <<EOF
#cloud-config
ca_certs:
  trusted:
    - |
$(indent "$WORK/one.pem")
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_file "the certificate file holds the item" "$ROOT/usr/local/share/ca-certificates/cloud-init-ca-cert-1.crt" \
                "$(cat "$WORK/one.pem")\n"
        check_mode "the certificate file has mode 0644" "$ROOT/usr/local/share/ca-certificates/cloud-init-ca-cert-1.crt" \
                "644 root:root"
        check_contains "the bundle holds the trusted certificate" "$(bundle_subjects)" "CN = kiln test one"
        check_eq "the bundle keeps the defaults" "$((DEFAULTS + 1))" "$(bundle_count)"
        check "openssl verifies against the bundle" \
                openssl verify -CAfile "$ROOT/$BUNDLE" "$WORK/one.pem"

        BEFORE=$(sha256sum "$ROOT/$BUNDLE")
        rm -f "$ROOT/var/lib/kiln/instance/sem/"* 2>/dev/null
        run_kiln "$ROOT"
        check_eq "a second run exits 0" 0 "$KILN_RC"
        check_eq "a second run leaves the bundle alone" "$BEFORE" "$(sha256sum "$ROOT/$BUNDLE")"
fi

case_begin "remove_defaults leaves only the trusted certificates"
if debian_root; then
        nocloud_seed "$ROOT" iid-ca-2 <<EOF
#cloud-config
ca_certs:
  remove_defaults: true
  trusted:
    - |
$(indent "$WORK/one.pem")
    - |
$(indent "$WORK/two.pem")
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "the bundle holds two certificates" 2 "$(bundle_count)"
        check_eq "the bundle holds exactly the trusted ones" \
                "$(printf 'subject=CN = kiln test one\nsubject=CN = kiln test two')" "$(bundle_subjects | sort)"
        check_eq "every entry of ca-certificates.conf is deselected" 0 \
                "$(grep -cvE '^(#|!|$)' "$ROOT/etc/ca-certificates.conf")"
        check_grep "ca-certificates.conf has the kiln header" '^# Modified by kiln' "$ROOT/etc/ca-certificates.conf"
        check_eq "debconf selects no for new certificates" \
                "ca-certificates/trust_new_crts select no" \
                "$(chroot "$ROOT" debconf-show ca-certificates 2>/dev/null | sed -n 's/^[* ]*\(ca-certificates\/trust_new_crts\): \(.*\)/\1 select \2/p')"
fi

case_begin "a bad item is an error and the good one still lands"
if debian_root; then
        nocloud_seed "$ROOT" iid-ca-3 <<EOF
#cloud-config
ca_certs:
  trusted:
    - "not a certificate"
    - |
$(indent "$WORK/two.pem")
    - |
$(indent "$WORK/one.key")
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        ERRORS=$(diagnostics errors)
        check_contains "the error names item 0" "$ERRORS" "ca_certs[0]: ca_certs.trusted[0] contains no PEM certificate"
        check_contains "the error names item 2" "$ERRORS" "ca_certs[2]: ca_certs.trusted[2] contains a PEM block of type 'PRIVATE KEY'"
        check_absent "no file for item 0" "$ROOT/usr/local/share/ca-certificates/cloud-init-ca-cert-1.crt"
        check_absent "no file for the private key" "$ROOT/usr/local/share/ca-certificates/cloud-init-ca-cert-3.crt"
        check_contains "the good item reaches the bundle" "$(bundle_subjects)" "CN = kiln test two"
        KEY_LINE=$(sed -n 2p "$WORK/one.key")
        if grep -qF -- "$KEY_LINE" "$ROOT.out" "$ROOT/var/log/kiln-output.log" "$ROOT.status.json" 2>/dev/null; then
                fail "the private key never shows in the output"
        else
                pass "the private key never shows in the output"
        fi
fi

case_begin "deprecated ca-certs spelling"
if debian_root; then
        nocloud_seed "$ROOT" iid-ca-4 <<EOF
#cloud-config
ca-certs:
  remove-defaults: false
  trusted:
    - |
$(indent "$WORK/one.pem")
EOF
        run_kiln "$ROOT"
        check_run_result 0 degraded 2
        check_contains "the warning names ca_certs" "$(diagnostics warnings)" "ca_certs"
        check_contains "the certificate still lands" "$(bundle_subjects)" "CN = kiln test one"
fi

# No RHEL root is available here, so this case uses a busybox root with the RHEL trust store
# directories and an update-ca-trust stand-in that records its call and the anchors it finds.
case_begin "RHEL layout with a stand-in update-ca-trust"
ROOT=$(new_root)
mkdir -p "$ROOT/usr/share/pki/ca-trust-source/anchors" "$ROOT/etc/pki/ca-trust/source/anchors" \
        "$ROOT/etc/pki/ca-trust/extracted/pem"
echo "distribution bundle" > "$ROOT/usr/share/pki/ca-trust-source/ca-bundle.trust.p11-kit"
echo "admin anchor" > "$ROOT/etc/pki/ca-trust/source/anchors/admin.pem"
cat > "$ROOT/usr/bin/update-ca-trust" <<'EOF'
#!/bin/sh
echo "update-ca-trust $*" >> /run/update-ca-trust.calls
ls /usr/share/pki/ca-trust-source/anchors /usr/share/pki/ca-trust-source /etc/pki/ca-trust/source/anchors \
        > /run/update-ca-trust.sources
EOF
chmod 755 "$ROOT/usr/bin/update-ca-trust"
nocloud_seed "$ROOT" iid-ca-rhel <<EOF
#cloud-config
ca_certs:
  remove_defaults: true
  trusted:
    - |
$(indent "$WORK/one.pem")
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_file "update-ca-trust ran once" "$ROOT/run/update-ca-trust.calls" 'update-ca-trust \n'
check_file "the anchor has cloud-init's file name" \
        "$ROOT/usr/share/pki/ca-trust-source/anchors/cloud-init-ca-cert-1.crt" "$(cat "$WORK/one.pem")\n"
check_absent "the distribution bundle is removed" "$ROOT/usr/share/pki/ca-trust-source/ca-bundle.trust.p11-kit"
check_absent "the administrator's anchor is removed" "$ROOT/etc/pki/ca-trust/source/anchors/admin.pem"
check_exists "the extracted directory stays for update-ca-trust" "$ROOT/etc/pki/ca-trust/extracted/pem"
check_grep "update-ca-trust saw the new anchor" '^cloud-init-ca-cert-1.crt$' "$ROOT/run/update-ca-trust.sources"

case_begin "no trust store in the image"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-ca-none <<EOF
#cloud-config
ca_certs:
  trusted:
    - |
$(indent "$WORK/one.pem")
EOF
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error says what is missing" "$(diagnostics errors)" "neither update-ca-certificates nor update-ca-trust"
