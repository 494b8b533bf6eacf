#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The webserver module in a Debian root with the image's real nginx and apache2. kiln's tls module
# installs the certificates, self-signed or given as PEM files that the test makes, and kiln writes
# the sites. The test then starts the server inside the root on ports 80 and 443 of this private
# network namespace and requests every domain over HTTPS, with the installed certificate as the
# CA. A broken site and a key that does not match its certificate leave the previous sites
# serving, and a second run with the same input changes no file and does not reload.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup
ip -6 addr add ::1/128 dev lo 2>/dev/null || true

SERVER_PIDS=()
BACKEND_PID=

# wait_gone PID: wait up to 10 s for a server that the test started to exit, so that its root can
# be unmounted.
wait_gone() {
        local i
        for i in $(seq 100); do
                kill -0 "$1" 2>/dev/null || return 0
                sleep 0.1
        done
}

stop_servers() {
        local pid
        for pid in "${SERVER_PIDS[@]}" $BACKEND_PID; do
                kill "$pid" 2>/dev/null || true
        done
        for pid in "${SERVER_PIDS[@]}"; do
                wait_gone "$pid"
        done
        SERVER_PIDS=()
        if [ -n "$BACKEND_PID" ]; then
                wait "$BACKEND_PID" 2>/dev/null || true
                BACKEND_PID=
        fi
}
trap 'stop_servers; debian_root_unmount_all; cleanup_all' EXIT

# make_cert NAME CN SAN: a self-signed certificate and its key in $WORK/NAME.{pem,key}.
make_cert() {
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/$1.key" -out "$WORK/$1.pem" -days 30 \
                -subj "/CN=$2" -addext "subjectAltName=$3" 2>/dev/null
}

# given_pem NAME...: copy $WORK/NAME.{pem,key} into the root's /etc/kiln-pem, where the tls
# key's cert_file and key_file read them.
given_pem() {
        local name
        mkdir -p "$ROOT/etc/kiln-pem"
        for name in "$@"; do
                cp "$WORK/$name.pem" "$ROOT/etc/kiln-pem/$name.pem"
                install -m 0600 "$WORK/$name.key" "$ROOT/etc/kiln-pem/$name.key"
        done
}

# again: run kiln once more with the seed's user data, as a new boot of the same
# instance whose per-instance semaphores were cleared.
again() {
        rm -f "$ROOT"/var/lib/kiln/instances/*/sem/* 2>/dev/null
        run_kiln "$ROOT"
}

# served HOST PORT: the subject, SANs and serial of the certificate that the server presents.
served() {
        openssl s_client -connect "127.0.0.1:$2" -servername "$1" </dev/null 2>/dev/null |
                openssl x509 -noout -subject -ext subjectAltName -serial 2>/dev/null | tr -s ' \n' ' '
}

# https HOST PATH: "STATUS BODY" of an HTTPS request on port 443 that trusts the installed shop
# certificate.
https() {
        local status
        status=$(curl -s --max-time 5 --resolve "$1:443:127.0.0.1" --cacert "$ROOT/etc/ssl/kiln/shop/fullchain.pem" \
                -o "$WORK/body" -w '%{http_code}' "https://$1$2")
        echo "$status $(cat "$WORK/body")"
}

make_cert shop shop.example.com "DNS:shop.example.com,DNS:www.shop.example.com"
make_cert shop-new shop.example.com "DNS:shop.example.com,DNS:www.shop.example.com"
make_cert other other.example.com "DNS:other.example.com"
openssl req -x509 -newkey rsa:1024 -nodes -keyout "$WORK/weak.key" -out "$WORK/weak.pem" -days 30 \
        -subj /CN=shop.example.com -addext "subjectAltName=DNS:shop.example.com,DNS:www.shop.example.com" 2>/dev/null

mkdir -p "$WORK/backend"
echo "from the backend" > "$WORK/backend/hello.txt"
/usr/bin/python3 -m http.server 8080 --bind 127.0.0.1 --directory "$WORK/backend" >"$WORK/backend.log" 2>&1 &
BACKEND_PID=$!

# The shop site takes the top-level domains. TLS is replaced by the tls key that a case needs.
NGINX_CONFIG='#cloud-config
domains: [shop.example.com, WWW.shop.example.com]
TLS
webserver:
  server: nginx
  sites:
    - name: shop
      root: /srv/shop
      tls: shop
      default: true
    - name: api
      domains: api.example.com
      proxy: PROXY'
SELF_SIGNED='tls: {certificates: [{name: shop, self_signed: true}]}'
# nginx_config PROXY TLS: the nginx user data with the backend URL and the tls key.
nginx_config() {
        local config=${NGINX_CONFIG/PROXY/$1}
        echo "${config/TLS/$2}"
}

case_begin "nginx serves a static TLS site and a proxy"
if debian_root; then
        mkdir -p "$ROOT/srv/shop"
        echo 'shop page with $host and {{ name }}' > "$ROOT/srv/shop/index.html"
        nocloud_seed "$ROOT" iid-web-1 <<<"$(nginx_config http://127.0.0.1:8080 "$SELF_SIGNED")"
        run_kiln "$ROOT"
        check_run_result 0 degraded 2
        check_contains "the domains string is read as a list" "$(diagnostics warnings)" \
                "webserver[1]: webserver.sites.1.domains is a string"
        SITE=$ROOT/etc/nginx/sites-available/kiln-shop.conf
        check_exists "the shop site file is written" "$SITE"
        check_eq "the shop site is enabled" /etc/nginx/sites-available/kiln-shop.conf \
                "$(readlink "$ROOT/etc/nginx/sites-enabled/kiln-shop.conf")"
        check_eq "the api site is enabled" /etc/nginx/sites-available/kiln-api.conf \
                "$(readlink "$ROOT/etc/nginx/sites-enabled/kiln-api.conf")"
        check_absent "the default site of Debian is disabled" "$ROOT/etc/nginx/sites-enabled/default"
        check_grep "only TLS 1.2 and 1.3" '^ +ssl_protocols TLSv1.2 TLSv1.3;$' "$SITE"
        check_grep "the site takes the top-level domains in lower case" \
                '^ +server_name shop.example.com www.shop.example.com;$' "$SITE"
        check_grep "the site reads the tls module's certificate" \
                '^ +ssl_certificate /etc/ssl/kiln/shop/fullchain.pem;$' "$SITE"

        chroot "$ROOT" /usr/sbin/nginx
        MASTER=$(cat "$ROOT/run/nginx.pid")
        SERVER_PIDS+=("$MASTER")
        check_eq "shop.example.com serves the page" '200 shop page with $host and {{ name }}' \
                "$(https shop.example.com /)"
        check_eq "www.shop.example.com serves the page" '200 shop page with $host and {{ name }}' \
                "$(https www.shop.example.com /)"
        check_contains "the certificate subject is served" "$(served shop.example.com 443)" \
                "subject=CN = shop.example.com"
        check_contains "the certificate SANs are served" "$(served shop.example.com 443)" \
                "DNS:shop.example.com, DNS:www.shop.example.com"
        check_eq "plain HTTP redirects to HTTPS" "301 https://shop.example.com/a/b?c=1" \
                "$(curl -s -o /dev/null --max-time 5 --resolve shop.example.com:80:127.0.0.1 \
                        -w '%{http_code} %{redirect_url}' 'http://shop.example.com/a/b?c=1')"
        check_eq "the proxy site passes requests to the backend" "from the backend" \
                "$(curl -s --max-time 5 --resolve api.example.com:80:127.0.0.1 http://api.example.com/hello.txt)"

        SUMS=$(sha256sum "$ROOT"/etc/nginx/sites-available/* | sort)
        WORKERS=$(ps -o pid= --ppid "$MASTER" | sort | tr -d ' \n')
        again
        check_eq "a second run exits 0" 0 "$KILN_RC"
        check_eq "a second run changes no site file" "$SUMS" "$(sha256sum "$ROOT"/etc/nginx/sites-available/* | sort)"
        check_eq "a second run does not reload nginx" "$WORKERS" "$(ps -o pid= --ppid "$MASTER" | sort | tr -d ' \n')"

        case_begin "nginx rejects a broken site and keeps the previous one"
        API_BEFORE=$(sha256sum "$ROOT/etc/nginx/sites-available/kiln-api.conf")
        nocloud_seed "$ROOT" iid-web-1 <<<"$(nginx_config http://backend.invalid:8080 "$SELF_SIGNED")"
        again
        check_run_result 1 error 1
        check_contains "the error carries the message of nginx" "$(diagnostics errors)" \
                'webserver[1]: The nginx configuration test exited with 1, so the previous sites are restored: '
        check_contains "the message of nginx names the host and file" "$(diagnostics errors)" \
                'host not found in upstream "backend.invalid" in /etc/nginx/sites-enabled/kiln-api.conf'
        check_eq "the previous api site file is restored" "$API_BEFORE" \
                "$(sha256sum "$ROOT/etc/nginx/sites-available/kiln-api.conf")"
        check "nginx -t passes after the restore" chroot "$ROOT" /usr/sbin/nginx -t -q
        check_eq "the shop site still serves" '200 shop page with $host and {{ name }}' "$(https shop.example.com /)"
        check_eq "nginx was not reloaded" "$WORKERS" "$(ps -o pid= --ppid "$MASTER" | sort | tr -d ' \n')"

        case_begin "a key that does not match its certificate"
        SERIAL=$(served shop.example.com 443)
        SHOP_BEFORE=$(sha256sum "$SITE")
        given_pem shop-new other
        nocloud_seed "$ROOT" iid-web-1 <<<"$(nginx_config http://127.0.0.1:8080 \
                'tls: {certificates: [{name: shop, cert_file: /etc/kiln-pem/shop-new.pem, key_file: /etc/kiln-pem/other.key}]}')"
        again
        check_run_result 1 error 1
        check_contains "the tls module names the mismatch" "$(diagnostics errors)" "tls[0]: "
        check_contains "the error says the key does not match" "$(diagnostics errors)" "does not match"
        check_eq "the shop site file is unchanged" "$SHOP_BEFORE" "$(sha256sum "$SITE")"
        check_eq "the old certificate keeps serving" "$SERIAL" "$(served shop.example.com 443)"
        check_eq "nginx was not reloaded" "$WORKERS" "$(ps -o pid= --ppid "$MASTER" | sort | tr -d ' \n')"

        case_begin "a 1024-bit RSA key is rejected and the site keeps serving"
        FULLCHAIN_BEFORE=$(sha256sum "$ROOT/etc/ssl/kiln/shop/fullchain.pem")
        given_pem weak
        nocloud_seed "$ROOT" iid-web-1 <<<"$(nginx_config http://127.0.0.1:8080 \
                'tls: {certificates: [{name: shop, cert_file: /etc/kiln-pem/weak.pem, key_file: /etc/kiln-pem/weak.key}]}')"
        again
        check_run_result 1 error 1
        check_contains "the tls module names the weak key" "$(diagnostics errors)" \
                "the RSA key of certificate 1 has 80 bits of security"
        check_eq "the installed certificate is unchanged" "$FULLCHAIN_BEFORE" \
                "$(sha256sum "$ROOT/etc/ssl/kiln/shop/fullchain.pem")"
        check "nginx -t passes" chroot "$ROOT" /usr/sbin/nginx -t -q
        check_eq "the old certificate keeps serving" "$SERIAL" "$(served shop.example.com 443)"

        case_begin "a new certificate with its key reloads nginx"
        given_pem shop-new
        nocloud_seed "$ROOT" iid-web-1 <<<"$(nginx_config http://127.0.0.1:8080 \
                'tls: {certificates: [{name: shop, cert_file: /etc/kiln-pem/shop-new.pem, key_file: /etc/kiln-pem/shop-new.key}]}')"
        again
        check_eq "kiln run exits 0" 0 "$KILN_RC"
        check_grep "the site file names the new certificate" \
                "SHA-256 $(openssl x509 -noout -fingerprint -sha256 -in "$WORK/shop-new.pem" | sed 's/.*=//; s/://g' | tr A-F a-f)" "$SITE"
        sleep 1
        check_eq "the new certificate is served" \
                "$(openssl x509 -noout -serial -in "$WORK/shop-new.pem" | tr -s ' \n' ' ')" \
                "$(served shop.example.com 443 | grep -o 'serial=[0-9A-F]*' | tr -s ' \n' ' ')"

        case_begin "a site no longer listed is removed"
        nocloud_seed "$ROOT" iid-web-1 <<'EOF'
#cloud-config
domains: [shop.example.com, www.shop.example.com]
tls: {certificates: [{name: shop, cert_file: /etc/kiln-pem/shop-new.pem, key_file: /etc/kiln-pem/shop-new.key}]}
webserver:
  sites:
    - name: shop
      root: /srv/shop
      tls: shop
      default: true
EOF
        again
        check_run_result 0 done 0
        check_absent "the api site file is removed" "$ROOT/etc/nginx/sites-available/kiln-api.conf"
        check_absent "the api site link is removed" "$ROOT/etc/nginx/sites-enabled/kiln-api.conf"
        check_eq "the shop site still serves" '200 shop page with $host and {{ name }}' "$(https shop.example.com /)"

        case_begin "a renamed site that fails keeps the working site"
        nocloud_seed "$ROOT" iid-web-1 <<'EOF'
#cloud-config
domains: [shop.example.com, www.shop.example.com]
tls: {certificates: [{name: shop, cert_file: /etc/kiln-pem/shop-new.pem, key_file: /etc/kiln-pem/shop-new.key}]}
webserver:
  sites:
    - {name: shop2, root: /srv/shop, tls: nosuch, default: true}
EOF
        again
        check_run_result 1 error 1
        check_contains "the error names the undefined certificate" "$(diagnostics errors)" \
                "Site 'shop2' names the certificate 'nosuch', which tls.certificates does not define"
        check_exists "the shop site file stays" "$ROOT/etc/nginx/sites-available/kiln-shop.conf"
        check_eq "the shop site link stays" /etc/nginx/sites-available/kiln-shop.conf \
                "$(readlink "$ROOT/etc/nginx/sites-enabled/kiln-shop.conf")"
        check_eq "the shop site still serves" '200 shop page with $host and {{ name }}' "$(https shop.example.com /)"

        case_begin "an uppercase certificate name is rejected before any change"
        nocloud_seed "$ROOT" iid-web-1 <<'EOF'
#cloud-config
domains: [shop.example.com, www.shop.example.com]
tls: {certificates: [{name: shop, cert_file: /etc/kiln-pem/shop-new.pem, key_file: /etc/kiln-pem/shop-new.key}]}
webserver:
  sites:
    - {name: shop, root: /srv/shop, tls: Shop, default: true}
EOF
        "$KILN" validate "$ROOT/var/lib/kiln/seed/nocloud/user-data" > "$WORK/validate.out" 2>&1
        check_eq "kiln validate rejects it" 1 "$?"
        check_grep "kiln validate names the value" "'Shop' is not a valid name" "$WORK/validate.out"
        again
        check_run_result 1 error 1
        check_contains "the error names the value" "$(diagnostics errors)" "'Shop' is not a valid name"
        check_eq "the shop site link stays" /etc/nginx/sites-available/kiln-shop.conf \
                "$(readlink "$ROOT/etc/nginx/sites-enabled/kiln-shop.conf")"
        check_eq "the shop site still serves" '200 shop page with $host and {{ name }}' "$(https shop.example.com /)"

        case_begin "the default site of Debian returns when no kiln site is default"
        check_eq "kiln recorded the removed link" /etc/nginx/sites-available/default \
                "$(cat "$ROOT/var/lib/kiln/webserver-nginx-removed-default")"
        nocloud_seed "$ROOT" iid-web-1 <<'EOF'
#cloud-config
domains: [shop.example.com, www.shop.example.com]
tls: {certificates: [{name: shop, cert_file: /etc/kiln-pem/shop-new.pem, key_file: /etc/kiln-pem/shop-new.key}]}
webserver:
  sites:
    - {name: shop, root: /srv/shop, tls: shop}
EOF
        again
        check_eq "kiln run exits 0" 0 "$KILN_RC"
        check_eq "the default site link is back" /etc/nginx/sites-available/default \
                "$(readlink "$ROOT/etc/nginx/sites-enabled/default")"
        check_absent "the record is removed" "$ROOT/var/lib/kiln/webserver-nginx-removed-default"
        check_eq "the shop site still serves" '200 shop page with $host and {{ name }}' "$(https shop.example.com /)"
        LINKS=$(ls -l "$ROOT/etc/nginx/sites-enabled" | sha256sum)
        again
        check_eq "a second run exits 0" 0 "$KILN_RC"
        check_eq "a second run changes no link" "$LINKS" "$(ls -l "$ROOT/etc/nginx/sites-enabled" | sha256sum)"

        chroot "$ROOT" /usr/sbin/nginx -s quit 2>/dev/null
        wait_gone "$MASTER"
        SERVER_PIDS=()
fi

case_begin "apache serves a static TLS site"
if debian_root; then
        given_pem shop
        mkdir -p "$ROOT/srv/shop"
        echo 'apache page' > "$ROOT/srv/shop/index.html"
        nocloud_seed "$ROOT" iid-web-2 <<'EOF'
#cloud-config
tls:
  certificates:
    - name: shop
      cert_file: /etc/kiln-pem/shop.pem
      key_file: /etc/kiln-pem/shop.key
      domains: [shop.example.com, www.shop.example.com]
webserver:
  server: apache
  sites:
    - name: shop
      domains: [shop.example.com, www.shop.example.com]
      root: /srv/shop
      tls: shop
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "the site is enabled as a2ensite does" ../sites-available/kiln-shop.conf \
                "$(readlink "$ROOT/etc/apache2/sites-enabled/kiln-shop.conf")"
        check_eq "mod_ssl is enabled" ../mods-available/ssl.load "$(readlink "$ROOT/etc/apache2/mods-enabled/ssl.load")"
        check_eq "mod_rewrite is enabled" ../mods-available/rewrite.load \
                "$(readlink "$ROOT/etc/apache2/mods-enabled/rewrite.load")"
        check_grep "only TLS 1.2 and 1.3" '^ +SSLProtocol -all \+TLSv1.2 \+TLSv1.3$' \
                "$ROOT/etc/apache2/sites-available/kiln-shop.conf"

        chroot "$ROOT" /usr/sbin/apache2ctl start >"$WORK/apache-start.log" 2>&1
        # apache2 writes its pid file after it detaches, so apache2ctl may return before it exists.
        for _ in $(seq 50); do
                [ -s "$ROOT/run/apache2/apache2.pid" ] && break
                sleep 0.1
        done
        SERVER_PIDS+=("$(cat "$ROOT/run/apache2/apache2.pid" 2>/dev/null)")
        check_eq "shop.example.com serves the page" "200 apache page" "$(https shop.example.com /)"
        check_eq "www.shop.example.com serves the page" "200 apache page" "$(https www.shop.example.com /)"
        check_contains "the certificate SANs are served" "$(served www.shop.example.com 443)" \
                "DNS:shop.example.com, DNS:www.shop.example.com"
        check_eq "plain HTTP redirects to HTTPS" "301 https://www.shop.example.com/x" \
                "$(curl -s -o /dev/null --max-time 5 --resolve www.shop.example.com:80:127.0.0.1 \
                        -w '%{http_code} %{redirect_url}' http://www.shop.example.com/x)"

        SUMS=$(find "$ROOT/etc/apache2" -newer "$ROOT/etc/apache2/apache2.conf" | sort | xargs sha256sum 2>/dev/null)
        again
        check_eq "a second run exits 0" 0 "$KILN_RC"
        check_eq "a second run changes nothing" "$SUMS" \
                "$(find "$ROOT/etc/apache2" -newer "$ROOT/etc/apache2/apache2.conf" | sort | xargs sha256sum 2>/dev/null)"
        stop_servers
fi

case_begin "values that a server would read as syntax are rejected"
if debian_root; then
        nocloud_seed "$ROOT" iid-web-3 <<'EOF'
#cloud-config
webserver:
  sites:
    - name: shop
      domains: [shop.example.com]
      root: /srv/$host
    - name: api
      domains: [api.example.com]
      proxy: "http://127.0.0.1:8080/{{ path }}"
    - name: both
      domains: [both.example.com]
      root: /srv/both
      redirect_http: true
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        ERRORS=$(diagnostics errors)
        check_contains "the root with \$ is rejected" "$ERRORS" "webserver[0]: webserver.sites.0.root '/srv/\$host' contains"
        check_contains "the proxy with {{ is rejected" "$ERRORS" "webserver[1]: webserver.sites.1.proxy 'http://127.0.0.1:8080/{{ path }}' contains"
        check_contains "redirect_http without tls is rejected" "$ERRORS" "webserver[2]: webserver.sites.2 has redirect_http: true but no tls"
        check_eq "no site file is written" "" "$(ls "$ROOT/etc/nginx/sites-available" | grep kiln)"
fi

case_begin "a site without domains or a defined certificate"
if debian_root; then
        mkdir -p "$ROOT/srv/shop"
        nocloud_seed "$ROOT" iid-web-4 <<'EOF'
#cloud-config
webserver:
  sites:
    - name: shop
      domains: [shop.example.com]
      root: /srv/shop
      tls: nowhere
    - name: blog
      root: /srv/shop
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        ERRORS=$(diagnostics errors)
        check_contains "the undefined certificate is named with its site" "$ERRORS" \
                "webserver[0]: Site 'shop' names the certificate 'nowhere', which tls.certificates does not define and which is not installed"
        check_contains "the site without domains is named" "$ERRORS" \
                "webserver[1]: webserver.sites[1] 'blog' has no domains, and the top-level domains key lists none"
        check_eq "no site file is written" "" "$(ls "$ROOT/etc/nginx/sites-available" | grep kiln)"
fi
