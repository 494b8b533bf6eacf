#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The domains key. The names are checked and converted to punycode. Invalid entries are errors
# naming domains[N], while the valid ones still feed the hostname, /etc/hosts (resolved through the
# Debian root's own getent) and the certificates, and `kiln validate` reaches the same verdict.
# Without domains, fqdn is the one name, and an explicit hostname wins over the domains.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

mtime() {
        stat -c %Y.%i "$1"
}

case_begin "domains feed the hostname, /etc/hosts and the certificate"
if debian_root; then
        nocloud_seed "$ROOT" iid-domains-1 <<'EOF'
#cloud-config
domains: [Bücher.Example., shop.example.com, bad_name.example, xn--bcher-kva.example, "*.example.com"]
manage_etc_hosts: true
tls:
  certificates:
    - name: site
      self_signed: true
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_eq "the invalid entry is the one error" \
                "domains[2]: domains[2]: invalid name 'bad_name.example': it contains the character '_'." \
                "$(diagnostics errors)"
        check_eq "the repeated name is a warning" \
                "domains[3]: domains[3]: 'xn--bcher-kva.example' repeats an earlier name, ignoring." \
                "$(diagnostics warnings)"
        check_file "the hostname is the primary name's first label" "$ROOT/etc/hostname" 'xn--bcher-kva\n'
        check_eq "getent resolves the primary name in the root" "127.0.1.1       xn--bcher-kva.example xn--bcher-kva" \
                "$(chroot "$ROOT" getent hosts xn--bcher-kva.example)"
        SANS=$(chroot "$ROOT" openssl x509 -in /etc/ssl/kiln/site/fullchain.pem -noout -ext subjectAltName)
        check_contains "the certificate covers the valid names in order" "$SANS" \
                "DNS:xn--bcher-kva.example, DNS:shop.example.com, DNS:*.example.com"
        check_contains "openssl: a name under the wildcard matches" \
                "$(chroot "$ROOT" openssl x509 -in /etc/ssl/kiln/site/fullchain.pem -noout -checkhost www.example.com)" \
                "does match"

        BEFORE="$(mtime "$ROOT/etc/hostname") $(mtime "$ROOT/etc/hosts") $(mtime "$ROOT/etc/ssl/kiln/site/fullchain.pem")"
        sleep 1
        run_kiln "$ROOT"
        check_eq "a second run changes nothing" \
                "$BEFORE" \
                "$(mtime "$ROOT/etc/hostname") $(mtime "$ROOT/etc/hosts") $(mtime "$ROOT/etc/ssl/kiln/site/fullchain.pem")"

        "$KILN" validate "$ROOT/var/lib/kiln/seed/nocloud/user-data" > "$WORK/validate.out" 2>&1
        check_eq "kiln validate fails too" 1 "$?"
        check_grep "kiln validate names the entry" "domains\.2.*bad_name\.example.*character '_'" "$WORK/validate.out"
fi

case_begin "without domains, fqdn is the one name"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-domains-2 <<'EOF'
#cloud-config
fqdn: Web-1.Example.org
tls:
  certificates:
    - name: site
      self_signed: true
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_file "the hostname comes from fqdn" "$ROOT/etc/hostname" 'Web-1\n'
check_contains "the certificate names the fqdn, folded to lowercase" \
        "$(openssl x509 -in "$ROOT/etc/ssl/kiln/site/fullchain.pem" -noout -ext subjectAltName)" "DNS:web-1.example.org"

case_begin "an explicit hostname wins over the domains"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-domains-3 <<'EOF'
#cloud-config
hostname: web-7
domains: [shop.example.com]
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_file "the hostname is the explicit one" "$ROOT/etc/hostname" 'web-7\n'

case_begin "domains that is not a list"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-domains-4 <<'EOF'
#cloud-config
domains: shop.example.com
EOF
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error says how to write it" "$(diagnostics errors)" \
        "domains: expected a list of names, got a string; write it as a list of one."
