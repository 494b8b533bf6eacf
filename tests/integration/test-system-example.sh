#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The shipped example examples/system (user data that uses every built-in system module, and the
# image's kiln.yaml) on an EC2 instance whose root is Debian 12, with the example plugin from
# packaging/ installed. The first boot ends done and every module's work is in place, made by the
# image's own useradd, visudo, ssh-keygen, update-ca-certificates, locale-gen and chronyd. A second
# boot of the same instance ends done as well and changes no file outside /run and kiln's state
# and logs.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EXAMPLE=$TOP/examples/system
PLUGIN=$TOP/packaging/kiln-plugin-example
META_KEY="ssh-ed25519 AAAA...meta test-key"
INSTANCE_ID=i-0123456789abcdef0
PHONE_HOME_PORT=8089
PHONE_HOME_PID=

net_setup

in_root() {
        chroot "$ROOT" "$@"
}

# The inventory service that phone_home posts to: one line per request, "PATH CONTENT-TYPE BODY", in $1.
start_phone_home_server() {
        local ready=$WORK/phone-home.ready
        /usr/bin/python3 - "$1" "$PHONE_HOME_PORT" "$ready" <<'PYTHON' &
import http.server, sys
log, port, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (self.path, self.headers.get("Content-Type"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
open(ready, "w").close()
server.serve_forever()
PYTHON
        PHONE_HOME_PID=$!
        for _ in $(seq 100); do
                [ -e "$ready" ] && return 0
                sleep 0.05
        done
        return 1
}

stop_phone_home_server() {
        if [ -n "$PHONE_HOME_PID" ]; then
                kill "$PHONE_HOME_PID" 2>/dev/null || true
                wait "$PHONE_HOME_PID" 2>/dev/null || true
                PHONE_HOME_PID=
        fi
}

# Every file and link in the overlay, with its mode, owner, size, time and digest, leaving
# out /run (empty at every boot), /tmp and kiln's own state and logs.
system_digest() {
        (cd "$ROOT/../upper" && find . \( -path ./run -o -path ./tmp -o -path ./var/lib/kiln -o \
                -path ./var/log/kiln-output.log \) -prune -o -printf '%p %y %m %u %g %s %T@ %l\n' |
                sort)
        (cd "$ROOT/../upper" && find . \( -path ./run -o -path ./tmp -o -path ./var/lib/kiln -o \
                -path ./var/log/kiln-output.log \) -prune -o -type f -exec sha256sum {} + | sort)
}

# The image: the example's kiln.yaml, the example plugin, and a shutdown command that only
# records how it was called (the root has no init system, and this test must never power
# anything off).
prepare_image() {
        mkdir -p "$ROOT/etc/kiln" "$ROOT/usr/lib/kiln/modules.d" "$ROOT/var/lib/kiln/scripts/per-boot" \
                "$ROOT/var/lib/kiln/scripts/per-instance"
        cp "$EXAMPLE/kiln.yaml" "$ROOT/etc/kiln/kiln.yaml"
        cp "$WORK/example-ca.pem" "$ROOT/tmp/example-ca.pem"
        install -m 0755 "$PLUGIN" "$ROOT/usr/lib/kiln/modules.d/example-motd"
        printf '#!/bin/sh\necho "$*" >> /var/lib/example-shutdown\n' > "$ROOT/usr/sbin/shutdown"
        chmod 0755 "$ROOT/usr/sbin/shutdown"
        printf '#!/bin/sh\necho "per-boot directory script ran for $INSTANCE_ID" > /run/example-dir-per-boot\n' \
                > "$ROOT/var/lib/kiln/scripts/per-boot/10-note"
        printf '#!/bin/sh\necho "$INSTANCE_ID" >> /var/lib/example-dir-per-instance\n' \
                > "$ROOT/var/lib/kiln/scripts/per-instance/10-note"
        chmod 0755 "$ROOT/var/lib/kiln/scripts/per-boot/10-note" "$ROOT/var/lib/kiln/scripts/per-instance/10-note"
        mkdir -p "$ROOT/sys/class/dmi/id" "$ROOT/run"
        : > "$ROOT/proc/cmdline"
        make_ec2 "$ROOT"
}

first_boot() {
        case_begin "the example that uses every module, first boot"
        debian_root || return 1
        check "the Debian root has no shutdown command of its own" test ! -e "$ROOT/usr/sbin/shutdown"
        prepare_image
        # A package asked for a reboot, so power_state's condition holds.
        : > "$ROOT/run/reboot-required"
        start_mock "$(scenario <<EOF
{
  "description": "The example user data with one metadata SSH key.",
  "public_keys": {"test-key": "$META_KEY"},
  "user_data_file": "$EXAMPLE/user-data"
}
EOF
)"
        start_phone_home_server "$WORK/phone-home.log" || { fail "the phone_home server did not start"; return 1; }
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "no warnings" "" "$(diagnostics warnings)"
        check_eq "no errors" "" "$(diagnostics errors)"

        check_file "bootcmd ran" "$ROOT/run/example-bootcmd" "bootcmd ran for $INSTANCE_ID\n"
        check_file "the hostname file names app-1" "$ROOT/etc/hostname" "app-1\n"
        check_grep "/etc/hosts maps the fqdn and the name to 127.0.1.1" \
                '^127\.0\.1\.1[[:space:]]+app-1\.example\.com[[:space:]]+app-1$' "$ROOT/etc/hosts"
        check_grep "/etc/hosts keeps localhost" '^127\.0\.0\.1[[:space:]]+localhost' "$ROOT/etc/hosts"

        check "the example CA is in the system bundle" \
                grep -q "$(sed -n 2p "$WORK/example-ca.pem")" "$ROOT/etc/ssl/certs/ca-certificates.crt"
        check "openssl in the root trusts a certificate the example CA signs" \
                sh -c "chroot '$ROOT' openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt /tmp/example-ca.pem >/dev/null"
        check_le "Debian's own CAs stay in the bundle" 100 "$(grep -c 'BEGIN CERTIFICATE' "$ROOT/etc/ssl/certs/ca-certificates.crt")"

        check_eq "the default user admin is in adm and sudo" "adm admin sudo" \
                "$(in_root id -nG admin | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
        check_file "the metadata key went to the default user" "$ROOT/home/admin/.ssh/authorized_keys" \
                "$META_KEY\n"
        check_eq "app is in admins, adm and deploy" "adm admins app deploy" \
                "$(in_root id -nG app | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
        check_eq "app's shell is bash" "/bin/bash" "$(in_root getent passwd app | cut -d: -f7)"
        check_grep "app's password is locked" '^app:!' "$ROOT/etc/shadow"
        check_file "app's key is in its authorized_keys" "$ROOT/home/app/.ssh/authorized_keys" \
                "ssh-ed25519 AAAA...deploy deploy@example.com\n"
        check "metrics is a system user" test "$(in_root id -u metrics)" -lt 1000
        check_absent "metrics has no home" "$ROOT/home/metrics"
        check_eq "the sudo rules have mode 440" "440 0:0" "$(stat -c '%a %u:%g' "$ROOT/etc/sudoers.d/90-kiln-users" 2>&1)"
        check "visudo accepts the sudo rules" in_root visudo -c -q

        mkdir -p "$ROOT/run/sshd"
        check_eq "the image's sshd refuses passwords" "passwordauthentication no" \
                "$(in_root /usr/sbin/sshd -T 2>&1 | grep -i '^passwordauthentication')"
        check_exists "an ed25519 host key was made" "$ROOT/etc/ssh/ssh_host_ed25519_key.pub"
        check_exists "an ecdsa host key was made" "$ROOT/etc/ssh/ssh_host_ecdsa_key.pub"
        check_absent "no rsa host key was made" "$ROOT/etc/ssh/ssh_host_rsa_key"
        check_grep "root's keys tell the user to log in as admin" 'Please login as the user \\?"admin\\?"' \
                "$ROOT/root/.ssh/authorized_keys"
        check "the host keys' fingerprints are in kiln's output" grep -q "SHA256:" "$ROOT.out"

        check_grep "the locale is en_US.UTF-8" '^LANG="?en_US\.UTF-8"?$' "$ROOT/etc/default/locale"
        check "locale-gen generated en_US.UTF-8" sh -c "chroot '$ROOT' locale -a | grep -qx en_US.utf8"
        check_eq "the time zone is Europe/Berlin" "/usr/share/zoneinfo/Europe/Berlin" \
                "$(readlink "$ROOT/etc/localtime")"
        check_file "/etc/timezone names it" "$ROOT/etc/timezone" "Europe/Berlin\n"
        check_grep "chrony uses the example server" '^server 192\.0\.2\.123 iburst' "$ROOT/etc/chrony/chrony.conf"
        check_grep "chrony uses the example pool" '^pool 0\.pool\.example\.com iburst' "$ROOT/etc/chrony/chrony.conf"
        check "chronyd accepts its configuration" sh -c "chroot '$ROOT' chronyd -p -f /etc/chrony/chrony.conf >/dev/null"

        check_file "write_files wrote the environment file" "$ROOT/etc/app/app.env" \
                "APP_ENV=production\nAPP_LISTEN=0.0.0.0:8080\n"
        check_eq "the deferred file belongs to app" "600 $(in_root id -u app):$(in_root id -g app)" \
                "$(stat -c '%a %u:%g' "$ROOT/home/app/.config/app/secret.conf" 2>&1)"
        check_file "runcmd ran" "$ROOT/var/lib/example-runcmd" "runcmd ran for $INSTANCE_ID\n"
        check_grep "runcmd's output is in kiln-output.log" "^app-1 configured for $INSTANCE_ID$" \
                "$ROOT/var/log/kiln-output.log"
        check_file "the user script ran" "$ROOT/var/lib/example-user-script" "user script ran for $INSTANCE_ID\n"
        check_file "the per-boot part ran" "$ROOT/run/example-per-boot" "per-boot script ran for $INSTANCE_ID\n"
        check_file "the per-boot directory script ran" "$ROOT/run/example-dir-per-boot" \
                "per-boot directory script ran for $INSTANCE_ID\n"
        check_file "the per-instance directory script ran" "$ROOT/var/lib/example-dir-per-instance" \
                "$INSTANCE_ID\n"

        check_file "the example plugin wrote /etc/motd" "$ROOT/etc/motd" "Welcome to app-1, configured by kiln.\n"

        check_eq "phone_home posted once" 1 "$(wc -l < "$WORK/phone-home.log" 2>/dev/null || echo 0)"
        check_grep "phone_home put the instance id in the URL" "^/phone-home/$INSTANCE_ID " "$WORK/phone-home.log"
        check_grep "phone_home posted a form" ' application/x-www-form-urlencoded ' "$WORK/phone-home.log"
        check_grep "phone_home posted the instance id" "instance_id=$INSTANCE_ID(&|$)" "$WORK/phone-home.log"
        check_grep "phone_home posted the fqdn" 'fqdn=app-1\.example\.com(&|$)' "$WORK/phone-home.log"
        check_grep "phone_home posted the new ed25519 host key" 'pub_key_ed25519=ssh-ed25519(\+|%20)AAAA' \
                "$WORK/phone-home.log"

        check_grep "the final message was logged" 'app-1 is ready: kiln [0-9][^ ]* finished at .* from ec2 after [0-9.]+ seconds' \
                "$ROOT.out"
        check_exists "boot-finished was written" "$ROOT/var/lib/kiln/instance/boot-finished"
        check_file "the reboot was asked for after the report" "$ROOT/var/lib/example-shutdown" \
                "-r +1 Rebooting to finish the first boot\n"
}

second_boot() {
        case_begin "the example that uses every module, second boot of the same instance"
        local before
        rm -f "$ROOT/run/reboot-required" "$ROOT"/run/example-*
        before=$(system_digest)
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "no errors" "" "$(diagnostics errors)"
        check_file "bootcmd ran again" "$ROOT/run/example-bootcmd" "bootcmd ran for $INSTANCE_ID\n"
        check_file "the per-boot part ran again" "$ROOT/run/example-per-boot" "per-boot script ran for $INSTANCE_ID\n"
        check_eq "phone_home did not post again" 1 "$(wc -l < "$WORK/phone-home.log" 2>/dev/null || echo 0)"
        check_eq "no file outside /run and kiln's state changed" "$before" "$(system_digest)"
        if [ "$before" != "$(system_digest)" ]; then
                diff <(echo "$before") <(system_digest) | head -n 20 | sed 's/^/    # /'
        fi
}

# The example CA from the user data, which the root's openssl verifies against the new bundle.
sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' "$EXAMPLE/user-data" | sed 's/^ *//' > "$WORK/example-ca.pem"
if first_boot; then
        second_boot
fi
stop_phone_home_server
