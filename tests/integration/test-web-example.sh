#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The web example (examples/web/user-data) exactly as shipped, in a Debian root with the image's
# real nginx: kiln gives the instance its names, a self-signed certificate and an HTTPS site. The
# test then starts nginx inside the root on ports 80 and 443 of this private network namespace and
# requests both names over HTTPS with the installed certificate as the CA. A second run must
# change nothing and must not reload nginx.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup
ip -6 addr add ::1/128 dev lo 2>/dev/null || true

EXAMPLE=$TOP/examples/web/user-data
NGINX_PID=
LIVE=/etc/ssl/kiln/shop

stop_nginx() {
        local i
        [ -n "$NGINX_PID" ] || return 0
        kill "$NGINX_PID" 2>/dev/null || true
        for i in $(seq 100); do
                kill -0 "$NGINX_PID" 2>/dev/null || break
                sleep 0.1
        done
        NGINX_PID=
}
trap 'stop_nginx; debian_root_unmount_all; cleanup_all' EXIT

# https HOST: "STATUS BODY" of a request for https://HOST/ that trusts only the installed chain.
https() {
        local status
        status=$(curl -s --max-time 5 --resolve "$1:443:127.0.0.1" --cacert "$ROOT$LIVE/fullchain.pem" \
                -o "$WORK/body" -w '%{http_code}' "https://$1/")
        echo "$status $(tr -d '\n' < "$WORK/body")"
}

# served HOST: the subject and SANs of the certificate that nginx presents for HOST.
served() {
        openssl s_client -connect 127.0.0.1:443 -servername "$1" </dev/null 2>/dev/null |
                openssl x509 -noout -subject -ext subjectAltName 2>/dev/null | tr -s ' \n' ' '
}

workers() {
        ps -o pid= --ppid "$NGINX_PID" | sort | tr -d ' \n'
}

BODY='<!doctype html><title>shop.example.com</title><p>Welcome to the shop.</p>'

case_begin "the web example serves HTTPS"
if debian_root; then
        nocloud_seed "$ROOT" iid-web-example < "$EXAMPLE"
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "the hostname is the primary name's first label" shop "$(cat "$ROOT/etc/hostname")"
        check_mode "the page belongs to www-data" "$ROOT/srv/shop/index.html" "644 www-data:www-data"
        check "the certificate covers shop.example.com" \
                openssl x509 -noout -checkhost shop.example.com -in "$ROOT$LIVE/fullchain.pem"
        check_mode "the key is private" "$ROOT$LIVE/privkey.pem" "600 root:root"
        check_eq "the site is enabled" /etc/nginx/sites-available/kiln-shop.conf \
                "$(readlink "$ROOT/etc/nginx/sites-enabled/kiln-shop.conf")"

        chroot "$ROOT" /usr/sbin/nginx
        NGINX_PID=$(cat "$ROOT/run/nginx.pid")
        check_eq "shop.example.com serves the page" "200 $BODY" "$(https shop.example.com)"
        check_eq "www.shop.example.com serves the page" "200 $BODY" "$(https www.shop.example.com)"
        check_contains "the certificate subject is the primary name" "$(served www.shop.example.com)" \
                "subject=CN = shop.example.com"
        check_contains "the certificate SANs are both names" "$(served www.shop.example.com)" \
                "DNS:shop.example.com, DNS:www.shop.example.com"
        check_eq "plain HTTP redirects to HTTPS" "301 https://www.shop.example.com/cart?id=1" \
                "$(curl -s -o /dev/null --max-time 5 --resolve www.shop.example.com:80:127.0.0.1 \
                        -w '%{http_code} %{redirect_url}' 'http://www.shop.example.com/cart?id=1')"

        case_begin "a second run of the web example"
        SUMS=$(find "$ROOT/etc/nginx" "$ROOT/etc/ssl/kiln" "$ROOT/srv/shop" -type f -print0 | sort -z |
                xargs -0 sha256sum)
        WORKERS=$(workers)
        # A new boot of the same instance whose per-instance semaphores were cleared, so that every
        # module runs again.
        rm -f "$ROOT"/var/lib/kiln/instances/*/sem/* 2>/dev/null
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "no file changes" "$SUMS" "$(find "$ROOT/etc/nginx" "$ROOT/etc/ssl/kiln" "$ROOT/srv/shop" \
                -type f -print0 | sort -z | xargs -0 sha256sum)"
        check_eq "nginx is not reloaded" "$WORKERS" "$(workers)"
        check_eq "the page still serves" "200 $BODY" "$(https shop.example.com)"

        chroot "$ROOT" /usr/sbin/nginx -s quit 2>/dev/null
        stop_nginx
fi
