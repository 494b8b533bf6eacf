#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The tls module in a Debian root, checked with the root's own openssl. A given certificate and
# key land in /etc/ssl/kiln/NAME with their modes, cover the names and match, and a second run
# changes nothing. A key that does not match its certificate, or an expired certificate, is
# rejected and the old pair stays byte for byte. A self-signed certificate covers punycode names.
# acme hands issuance to the image's certbot (a stand-in that records its argv, because there is
# no ACME server here), and a missing certbot is an error naming the certificate.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# make_ca NAME: a CA made now, so no test depends on a fixed date.
make_ca() {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/$1.key" \
                -out "$WORK/$1.pem" -days 30 -subj "/CN=kiln test $1" 2>/dev/null
}

# make_leaf NAME CA DAYS SAN...: a leaf certificate signed by CA, with its chain in NAME.chain.
# A negative DAYS makes a certificate that was valid only in early 2020.
make_leaf() {
        local name=$1 ca=$2 days=$3 san
        shift 3
        san=$(printf 'DNS:%s,' "$@")
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/$name.key" \
                -out "$WORK/$name.csr" -subj "/CN=$1" 2>/dev/null
        if [ "$days" -lt 0 ]; then
                sign_expired "$name" "$ca" "${san%,}"
        else
                openssl x509 -req -in "$WORK/$name.csr" -CA "$WORK/$ca.pem" -CAkey "$WORK/$ca.key" \
                        -CAcreateserial -days "$days" -extfile <(printf 'subjectAltName=%s\n' "${san%,}") \
                        -out "$WORK/$name.pem" 2>/dev/null
        fi
        cat "$WORK/$name.pem" "$WORK/$ca.pem" > "$WORK/$name.chain"
}

# sign_expired NAME CA SAN: sign NAME.csr with dates in 2020. OpenSSL 3.0's x509 command cannot
# set a start date, its ca command can.
sign_expired() {
        local name=$1 ca=$2 san=$3 dir=$WORK/ca-$1
        mkdir -p "$dir/new"
        : > "$dir/index.txt"
        cat > "$dir/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
dir = $dir
database = $dir/index.txt
new_certs_dir = $dir/new
serial = $dir/serial
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = ext
[any]
commonName = supplied
[ext]
subjectAltName = $san
EOF
        echo 01 > "$dir/serial"
        openssl ca -batch -config "$dir/ca.cnf" -cert "$WORK/$ca.pem" -keyfile "$WORK/$ca.key" \
                -startdate 20200101000000Z -enddate 20200301000000Z -in "$WORK/$name.csr" \
                -out "$WORK/$name.pem" >/dev/null 2>&1
}

# indent FILE: the file's lines indented for a YAML block scalar in a list item's key.
indent() {
        sed 's/^/        /' "$1"
}

# user_data CHAIN KEY: user data that gives certificate 'shop' this chain and key.
user_data() {
        cat <<EOF
#cloud-config
domains: [shop.example.com, www.example.com]
tls:
  certificates:
    - name: shop
      cert: |
$(indent "$1")
      key: |
$(indent "$2")
EOF
}

# in_root COMMAND...: run a command of the Debian root inside it.
in_root() {
        chroot "$ROOT" "$@"
}

# fingerprint: the SHA-256 of the installed pair and the link's target, to see that nothing moved.
fingerprint() {
        sha256sum "$ROOT/etc/ssl/kiln/shop/fullchain.pem" "$ROOT/etc/ssl/kiln/shop/privkey.pem" 2>&1 | cut -d' ' -f1
        readlink "$ROOT/etc/ssl/kiln/shop"
        stat -c '%Y.%y' "$ROOT/etc/ssl/kiln/shop/fullchain.pem" "$ROOT/etc/ssl/kiln/shop/privkey.pem" 2>&1
}

LIVE=etc/ssl/kiln/shop

make_ca ca
make_leaf shop ca 90 shop.example.com www.example.com
make_leaf shop-new ca 60 shop.example.com www.example.com
make_leaf narrow ca 90 shop.example.com
make_leaf expired ca -1 shop.example.com www.example.com
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/other.key" 2>/dev/null

case_begin "a given certificate is installed and checked by the root's openssl"
if debian_root; then
        user_data "$WORK/shop.chain" "$WORK/shop.key" | nocloud_seed "$ROOT" iid-tls-1
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check "fullchain.pem holds the leaf then the chain" cmp -s "$ROOT/$LIVE/fullchain.pem" "$WORK/shop.chain"
        check "privkey.pem holds the key" cmp -s "$ROOT/$LIVE/privkey.pem" "$WORK/shop.key"
        check_mode "fullchain.pem is 0644 root:root" "$ROOT/$LIVE/fullchain.pem" "644 root:root"
        check_mode "privkey.pem is 0600 root:root" "$ROOT/$LIVE/privkey.pem" "600 root:root"
        check_mode "the pair's directory is 0755" "$ROOT/$LIVE/" "755 root:root"
        check_contains "openssl: shop.example.com matches" \
                "$(in_root openssl x509 -in /$LIVE/fullchain.pem -noout -checkhost shop.example.com)" "does match"
        check_contains "openssl: www.example.com matches" \
                "$(in_root openssl x509 -in /$LIVE/fullchain.pem -noout -checkhost www.example.com)" "does match"
        check_eq "openssl: the key's public key is the certificate's" \
                "$(in_root openssl x509 -in /$LIVE/fullchain.pem -noout -pubkey)" \
                "$(in_root openssl pkey -in /$LIVE/privkey.pem -pubout)"
        check "openssl: the chain verifies against the CA" \
                bash -c "chroot '$ROOT' openssl verify -CAfile /$LIVE/fullchain.pem /$LIVE/fullchain.pem >/dev/null"
        check "no log line holds the key" bash -c "! grep -q 'PRIVATE KEY' '$ROOT.out' '$ROOT/var/log/kiln-output.log' 2>/dev/null"

        BEFORE=$(fingerprint)
        sleep 1
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "a second run changes nothing (content, link, mtime)" "$BEFORE" "$(fingerprint)"

        case_begin "a key that does not match is rejected and the old pair stays"
        user_data "$WORK/shop-new.chain" "$WORK/other.key" | nocloud_seed "$ROOT" iid-tls-1
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error names the certificate and the reason" "$(diagnostics errors)" \
                "tls[0]: tls.certificates[0] 'shop' is not installed: the key does not match the certificate. The previous certificate stays in place."
        check_eq "the old pair stays byte for byte" "$BEFORE" "$(fingerprint)"

        case_begin "an expired certificate is rejected and the old pair stays"
        user_data "$WORK/expired.chain" "$WORK/expired.key" | nocloud_seed "$ROOT" iid-tls-1
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error says it expired" "$(diagnostics errors)" "the certificate has expired"
        check_eq "the old pair stays byte for byte" "$BEFORE" "$(fingerprint)"

        case_begin "a certificate that misses a domain is rejected"
        user_data "$WORK/narrow.chain" "$WORK/narrow.key" | nocloud_seed "$ROOT" iid-tls-1
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error names the domain" "$(diagnostics errors)" \
                "the certificate does not cover the name 'www.example.com'"
        check_eq "the old pair stays byte for byte" "$BEFORE" "$(fingerprint)"

        case_begin "a new valid pair replaces the old one through the link"
        OLD_TARGET=$(readlink "$ROOT/$LIVE")
        user_data "$WORK/shop-new.chain" "$WORK/shop-new.key" | nocloud_seed "$ROOT" iid-tls-1
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check "fullchain.pem holds the new chain" cmp -s "$ROOT/$LIVE/fullchain.pem" "$WORK/shop-new.chain"
        check "privkey.pem holds the new key" cmp -s "$ROOT/$LIVE/privkey.pem" "$WORK/shop-new.key"
        check_absent "the old pair's directory is removed" "$ROOT/etc/ssl/kiln/$OLD_TARGET"
fi

case_begin "a self-signed certificate for the domains, punycode included"
if debian_root; then
        nocloud_seed "$ROOT" iid-tls-2 <<'EOF'
#cloud-config
domains: [Shop.Example.com, bücher.example]
tls:
  certificates:
    - name: shop
      self_signed: true
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_contains "openssl: shop.example.com matches" \
                "$(in_root openssl x509 -in /$LIVE/fullchain.pem -noout -checkhost shop.example.com)" "does match"
        check_contains "openssl: the punycode name matches" \
                "$(in_root openssl x509 -in /$LIVE/fullchain.pem -noout -checkhost xn--bcher-kva.example)" "does match"
        check_contains "the key is EC P-256" "$(in_root openssl pkey -in /$LIVE/privkey.pem -noout -text)" "prime256v1"
        check_eq "openssl: the key's public key is the certificate's" \
                "$(in_root openssl x509 -in /$LIVE/fullchain.pem -noout -pubkey)" \
                "$(in_root openssl pkey -in /$LIVE/privkey.pem -pubout)"
        check_contains "the subject is the first name" \
                "$(in_root openssl x509 -in /$LIVE/fullchain.pem -noout -subject)" "CN = shop.example.com"
        check_mode "privkey.pem is 0600 root:root" "$ROOT/$LIVE/privkey.pem" "600 root:root"
        check_file "the hostname is the primary name's first label" "$ROOT/etc/hostname" 'shop\n'

        BEFORE=$(fingerprint)
        sleep 1
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "a second run keeps the self-signed pair" "$BEFORE" "$(fingerprint)"
fi

case_begin "acme hands issuance to certbot"
if debian_root; then
        mkdir -p "$ROOT/srv/acme-pair"
        cp "$WORK/shop.chain" "$ROOT/srv/acme-pair/fullchain.pem"
        cp "$WORK/shop.key" "$ROOT/srv/acme-pair/privkey.pem"
        # A stand-in for certbot: it records its argv and puts the pair where certbot would.
        cat > "$ROOT/usr/bin/certbot" <<'EOF'
#!/bin/sh
printf '%s\n' "$*" >> /run/certbot.argv
mkdir -p /etc/letsencrypt/live/shop
cp /srv/acme-pair/fullchain.pem /srv/acme-pair/privkey.pem /etc/letsencrypt/live/shop/
EOF
        chmod 0755 "$ROOT/usr/bin/certbot"
        nocloud_seed "$ROOT" iid-tls-3 <<'EOF'
#cloud-config
domains: [shop.example.com, www.example.com]
tls:
  acme:
    email: admin@example.com
    server: https://acme.example.test/directory
  certificates:
    - name: shop
    - name: other
      domains: [api.example.com]
      acme: {email: ops@example.com, challenge: nginx}
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_file "certbot got the argv for each certificate" "$ROOT/run/certbot.argv" \
                "certonly --non-interactive --agree-tos --email admin@example.com --server https://acme.example.test/directory --cert-name shop -d shop.example.com -d www.example.com --webroot -w /var/www/html\ncertonly --non-interactive --agree-tos --email ops@example.com --cert-name other -d api.example.com --nginx\n"
        check "the certbot pair is installed" cmp -s "$ROOT/$LIVE/fullchain.pem" "$WORK/shop.chain"
        check_mode "privkey.pem is 0600 root:root" "$ROOT/$LIVE/privkey.pem" "600 root:root"
        check_contains "a certificate certbot did not write is an error" "$(diagnostics errors)" \
                "certbot succeeded for tls.certificates[1] 'other', but /etc/letsencrypt/live/other has no fullchain.pem and privkey.pem."

        run_kiln "$ROOT"
        check_eq "a second run does not ask certbot again for a valid pair" 3 "$(wc -l < "$ROOT/run/certbot.argv")"
fi

case_begin "acme without certbot is an error naming the certificate"
if debian_root; then
        nocloud_seed "$ROOT" iid-tls-4 <<'EOF'
#cloud-config
domains: [shop.example.com]
tls:
  certificates:
    - name: shop
      acme: {email: admin@example.com}
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error says certbot is missing" "$(diagnostics errors)" \
                "tls.certificates[0] 'shop' asks for an ACME certificate, but certbot is missing: the image has no /usr/bin/certbot."
        check_absent "nothing is installed" "$ROOT/$LIVE"
fi

case_begin "source.uri fetches the chain over HTTP"
ROOT=$(new_root)
mkdir -p "$WORK/served" "$ROOT/etc/kiln-keys"
cp "$WORK/shop.chain" "$WORK/served/shop.pem"
install -m 0600 "$WORK/shop.key" "$ROOT/etc/kiln-keys/shop.key"
SERVER_LOG=$WORK/http.log
# The parent death signal stops the server with this shell; it is also killed by its PID below.
setpriv --pdeathsig TERM /usr/bin/python3 -u -m http.server --bind 127.0.0.1 --directory "$WORK/served" 0 \
        >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
PORT=
for _ in $(seq 100); do
        PORT=$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9]*\) .*/\1/p' "$SERVER_LOG")
        [ -n "$PORT" ] && break
        sleep 0.05
done
nocloud_seed "$ROOT" iid-tls-5 <<EOF
#cloud-config
domains: [shop.example.com, www.example.com]
tls:
  certificates:
    - name: shop
      source: {uri: "http://127.0.0.1:$PORT/shop.pem"}
      key_file: /etc/kiln-keys/shop.key
    - name: gone
      source: {uri: "http://127.0.0.1:$PORT/missing.pem"}
      key_file: /etc/kiln-keys/shop.key
EOF
run_kiln "$ROOT"
check_run_result 1 error 1
check "the fetched chain is installed" cmp -s "$ROOT/$LIVE/fullchain.pem" "$WORK/shop.chain"
check "the key comes from key_file" cmp -s "$ROOT/$LIVE/privkey.pem" "$WORK/shop.key"
check_eq "a missing URL is the one error" \
        "tls[1]: Failed to fetch source.uri 'http://127.0.0.1:$PORT/missing.pem' of tls.certificates[1] 'gone': the server answered 404." \
        "$(diagnostics errors)"
kill "$SERVER_PID" 2>/dev/null
# The server ends by SIGTERM, which must not become the exit status of the test.
wait "$SERVER_PID" 2>/dev/null || true
