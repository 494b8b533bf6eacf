#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The ssh module in a Debian root, with the image's own ssh-keygen and sshd. Host keys are made for
# a new instance, kept at a reboot and through a metadata outage, and replaced for a new instance
# id, and their fingerprints reach the console. `sshd -T` reads the PasswordAuthentication that
# ssh_pwauth sets. An sshd started inside the root accepts the authorized keys, and a root login
# gets the disable_root message.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# ssh-keygen writes the hostname into the comment of each host key, so this private UTS namespace
# gets a name of its own.
if [ "$(readlink /proc/self/ns/uts)" != "$(readlink /proc/1/ns/uts)" ]; then
        hostname kiln-ssh-test
fi

HOST_KEY_TYPES=(rsa ecdsa ed25519)
# The sshd that login checks start inside the root listens here, on this namespace's loopback.
SSH_PORT=2222
SSHD_PID=
# Seconds that sshd may take to listen, and that one login may take. A refused root login sleeps
# 10 s before it exits.
SSHD_START_TIMEOUT=10
SSH_LOGIN_TIMEOUT=30
# Outage cases wait for the deadline; this max_wait keeps them short.
SHORT_MAX_WAIT=3

# cloud-init's disable_root_opts with $USER filled in, as root's authorized_keys must hold them.
disable_root_options() {
        printf '%s' "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command=\"echo 'Please login as the user \\\"$1\\\" rather than the user \\\"root\\\".';echo;sleep 10;exit 142\""
}

stop_sshd() {
        if [ -n "$SSHD_PID" ]; then
                kill "$SSHD_PID" 2>/dev/null || true
                wait "$SSHD_PID" 2>/dev/null || true
                SSHD_PID=
        fi
}

# new_debian_root: a fresh Debian root in $ROOT with a client key pair in /tmp/client-key that the
# tests log in with. The rest of the file is skipped when there is no Debian root.
new_debian_root() {
        debian_root || exit 0
        # debian_root's exit trap unmounts the roots, which a running sshd would keep busy.
        trap 'stop_sshd; debian_root_unmount_all; cleanup_all' EXIT
        chroot "$ROOT" ssh-keygen -q -t ed25519 -N '' -C client@example.com -f /tmp/client-key </dev/null
        CLIENT_KEY=$(cat "$ROOT/tmp/client-key.pub")
}

# host_key_sums: sha256 of every host key file in the root.
host_key_sums() {
        (cd "$ROOT" && sha256sum etc/ssh/ssh_host_*)
}

# sshd_setting KEYWORD: the value that `sshd -T` reads for KEYWORD (lower case) inside the root.
sshd_setting() {
        mkdir -p "$ROOT/run/sshd"
        chroot "$ROOT" /usr/sbin/sshd -T 2>&1 | awk -v k="$1" '$1 == k { print $2 }'
}

# console_block NAME: the lines between kiln's "-----BEGIN SSH HOST KEY NAME-----" and its END line
# in the output of the last run.
console_block() {
        sed -n "/^-----BEGIN SSH HOST KEY $1-----\$/,/^-----END SSH HOST KEY $1-----\$/p" "$ROOT.out" | sed '1d;$d'
}

# start_sshd: start the root's sshd on loopback, trusting only the host keys that the console block
# of the last run printed, so a login proves that they are the keys sshd presents.
start_sshd() {
        local i
        mkdir -p "$ROOT/run/sshd"
        console_block KEYS | sed "s/^/[127.0.0.1]:$SSH_PORT /" > "$ROOT/tmp/known_hosts"
        chroot "$ROOT" /usr/sbin/sshd -D -e -p "$SSH_PORT" -o ListenAddress=127.0.0.1 >"$ROOT.sshd.log" 2>&1 &
        SSHD_PID=$!
        for i in $(seq $((SSHD_START_TIMEOUT * 10))); do
                grep -q "Server listening" "$ROOT.sshd.log" && return 0
                kill -0 "$SSHD_PID" 2>/dev/null || break
                sleep 0.1
        done
        fail "sshd did not start: $(tail -n 3 "$ROOT.sshd.log" | tr '\n' ' ')"
        return 1
}

# ssh_login USER COMMAND: log in as USER with the client key and strict host key checking; sets
# SSH_RC and SSH_OUT.
ssh_login() {
        SSH_OUT=$(chroot "$ROOT" timeout "$SSH_LOGIN_TIMEOUT" ssh -F /dev/null -i /tmp/client-key -p "$SSH_PORT" \
                -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/tmp/known_hosts \
                "$1@127.0.0.1" "$2" 2>&1)
        SSH_RC=$?
}

# check_mode_in_root DESCRIPTION PATH EXPECTED: mode and owner of PATH inside the root, with names from the
# root's own passwd and group files.
check_mode_in_root() {
        check_eq "$1" "$3" "$(chroot "$ROOT" stat -c '%a %U:%G' "$2" 2>&1)"
}

# module_state NAME: the state that status.json records for module NAME.
module_state() {
        json_get "$ROOT/run/kiln/status.json" '[m["state"] for m in d["modules"] if m["name"] == "'"$1"'"][0]' 2>&1
}

case_begin "host keys on a new instance"
new_debian_root
# Keys baked into an image must not survive on its instances.
printf 'image key\n' > "$ROOT/etc/ssh/ssh_host_ecdsa_key"
printf 'image key\n' > "$ROOT/etc/ssh/ssh_host_dsa_key.pub"
nocloud_seed "$ROOT" iid-ssh-one <<EOF
#cloud-config
ssh_authorized_keys:
  - $CLIENT_KEY
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
for type in "${HOST_KEY_TYPES[@]}"; do
        check_mode "the $type private key is 0600" "$ROOT/etc/ssh/ssh_host_${type}_key" "600 root:root"
        check_mode "the $type public key is 0644" "$ROOT/etc/ssh/ssh_host_${type}_key.pub" "644 root:root"
        fingerprint=$(chroot "$ROOT" ssh-keygen -l -f "/etc/ssh/ssh_host_${type}_key.pub")
        check_contains "the console block has the $type fingerprint" "$(console_block FINGERPRINTS)" "$fingerprint"
        check_contains "the $type fingerprint is logged" "$(cat "$ROOT.out")" \
                "kiln: ssh: SSH host key fingerprint: $fingerprint"
        check_contains "the console block has the $type public key" "$(console_block KEYS)" \
                "$(cat "$ROOT/etc/ssh/ssh_host_${type}_key.pub")"
        private_line=$(sed -n 2p "$ROOT/etc/ssh/ssh_host_${type}_key")
        check "the $type private key is not in the output" bash -c '! grep -qF -- "$1" "$2"' _ "$private_line" "$ROOT.out"
done
check "the image's ecdsa key was replaced" bash -c '! grep -q "image key" "$1"' _ "$ROOT/etc/ssh/ssh_host_ecdsa_key"
check_absent "the image's dsa key was deleted" "$ROOT/etc/ssh/ssh_host_dsa_key.pub"
check_eq "three fingerprints are printed" 3 "$(console_block FINGERPRINTS | wc -l)"
check_file "root's authorized_keys refuse the login" "$ROOT/root/.ssh/authorized_keys" \
        "$(disable_root_options NONE) $CLIENT_KEY\n"
check_mode "root's authorized_keys are 0600" "$ROOT/root/.ssh/authorized_keys" "600 root:root"
check_mode "root's .ssh is 0700" "$ROOT/root/.ssh" "700 root:root"
if start_sshd; then
        ssh_login root true
        stop_sshd
        check_eq "a root login exits 142" 142 "$SSH_RC"
        check_contains "a root login prints the message" "$SSH_OUT" \
                'Please login as the user "NONE" rather than the user "root".'
fi
SUMS_FIRST=$(host_key_sums)

case_begin "reboot of the same instance"
rm -rf "${ROOT:?}/run/kiln"
run_kiln "$ROOT"
check_run_result 0 done 0
check_eq "the host keys are unchanged" "$SUMS_FIRST" "$(host_key_sums)"
check_eq "the ssh module is skipped" skipped "$(module_state ssh)"
check_eq "no fingerprints are printed again" 0 "$(console_block FINGERPRINTS | wc -l)"

case_begin "new instance id"
nocloud_seed "$ROOT" iid-ssh-two <<EOF
#cloud-config
ssh_authorized_keys:
  - $CLIENT_KEY
EOF
rm -rf "${ROOT:?}/run/kiln"
run_kiln "$ROOT"
check_run_result 0 done 0
for type in "${HOST_KEY_TYPES[@]}"; do
        check "the $type key is new" bash -c '! grep -qF -- "$1" <<<"$2"' _ \
                "$(cd "$ROOT" && sha256sum "etc/ssh/ssh_host_${type}_key")" "$SUMS_FIRST"
done
check_eq "three fingerprints are printed" 3 "$(console_block FINGERPRINTS | wc -l)"
check_file "root's authorized_keys hold the key once" "$ROOT/root/.ssh/authorized_keys" \
        "$(disable_root_options NONE) $CLIENT_KEY\n"

case_begin "ssh_deletekeys false"
new_debian_root
for type in ed25519 ecdsa; do
        chroot "$ROOT" ssh-keygen -q -t "$type" -N '' -f "/etc/ssh/ssh_host_${type}_key" </dev/null
done
SUMS_IMAGE=$(host_key_sums)
nocloud_seed "$ROOT" iid-ssh-keep <<'EOF'
#cloud-config
ssh_deletekeys: false
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_contains "the image's keys are kept" "$(host_key_sums)" "$SUMS_IMAGE"
check_mode "the missing rsa key is generated" "$ROOT/etc/ssh/ssh_host_rsa_key" "600 root:root"

case_begin "ssh_keys"
new_debian_root
chroot "$ROOT" ssh-keygen -q -t ed25519 -N '' -C given@example.com -f /tmp/given-key </dev/null
{
        echo '#cloud-config'
        echo 'ssh_keys:'
        echo '  ed25519_private: |'
        sed 's/^/    /' "$ROOT/tmp/given-key"
} | nocloud_seed "$ROOT" iid-ssh-given
run_kiln "$ROOT"
check_run_result 0 done 0
check "the private key is installed" cmp -s "$ROOT/tmp/given-key" "$ROOT/etc/ssh/ssh_host_ed25519_key"
check_mode "the private key is 0600" "$ROOT/etc/ssh/ssh_host_ed25519_key" "600 root:root"
check_eq "the public key is derived from it" "$(cut -d' ' -f1,2 "$ROOT/tmp/given-key.pub")" \
        "$(cut -d' ' -f1,2 "$ROOT/etc/ssh/ssh_host_ed25519_key.pub")"
check_mode "the public key is 0644" "$ROOT/etc/ssh/ssh_host_ed25519_key.pub" "644 root:root"
check_absent "no rsa key is generated" "$ROOT/etc/ssh/ssh_host_rsa_key"
check_contains "its fingerprint is printed" "$(console_block FINGERPRINTS)" \
        "$(chroot "$ROOT" ssh-keygen -l -f /tmp/given-key.pub | cut -d' ' -f1,2)"
private_line=$(sed -n 2p "$ROOT/tmp/given-key")
check "the private key is not in the output" bash -c '! grep -qF -- "$1" "$2"' _ "$private_line" "$ROOT.out"

case_begin "default user"
new_debian_root
chroot "$ROOT" useradd -m -s /bin/bash admin </dev/null
kiln_config "$ROOT" <<'EOF'
system_info:
  default_user:
    name: admin
EOF
nocloud_seed "$ROOT" iid-ssh-admin <<EOF
#cloud-config
ssh_authorized_keys:
  - $CLIENT_KEY
EOF
run_kiln "$ROOT"
check_run_result 0 done 0
check_file "the default user's authorized_keys hold the key" "$ROOT/home/admin/.ssh/authorized_keys" "$CLIENT_KEY\n"
check_mode_in_root "the default user's authorized_keys are 0600" /home/admin/.ssh/authorized_keys "600 admin:admin"
check_mode_in_root "the default user's .ssh is 0700" /home/admin/.ssh "700 admin:admin"
check_file "root's authorized_keys name the default user" "$ROOT/root/.ssh/authorized_keys" \
        "$(disable_root_options admin) $CLIENT_KEY\n"
if start_sshd; then
        ssh_login admin 'echo logged-in as $(id -un)'
        check_eq "the default user logs in" 0 "$SSH_RC"
        check_eq "the login runs the command" "logged-in as admin" "$SSH_OUT"
        ssh_login root true
        stop_sshd
        check_eq "a root login exits 142" 142 "$SSH_RC"
        check_contains "a root login names the default user" "$SSH_OUT" \
                'Please login as the user "admin" rather than the user "root".'
fi

# Password authentication as sshd reads it. The image turns it off in a drop-in that sorts after
# kiln's, as Ubuntu's cloud images do, and in one that sorts before it.
pwauth_root() {
        new_debian_root
        printf 'PasswordAuthentication no\n' > "$ROOT/etc/ssh/sshd_config.d/60-cloudimg-settings.conf"
        printf 'PasswordAuthentication no\n' > "$ROOT/etc/ssh/sshd_config.d/10-hardening.conf"
        nocloud_seed "$ROOT" iid-ssh-pwauth
}

for value in True yes on TRUE; do
        case_begin "ssh_pwauth: $value"
        pwauth_root <<<"$(printf '#cloud-config\nssh_pwauth: %s\n' "$value")"
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "sshd reads passwordauthentication yes" yes "$(sshd_setting passwordauthentication)"
        check_file "kiln's drop-in sets it" "$ROOT/etc/ssh/sshd_config.d/50-kiln.conf" 'PasswordAuthentication yes\n'
        check_file "the earlier drop-in is changed" "$ROOT/etc/ssh/sshd_config.d/10-hardening.conf" \
                'PasswordAuthentication yes\n'
        check_file "the later drop-in is left alone" "$ROOT/etc/ssh/sshd_config.d/60-cloudimg-settings.conf" \
                'PasswordAuthentication no\n'
done

# sshd's default, which Debian's sshd_config keeps, is yes.
case_begin "ssh_pwauth: \"no\""
new_debian_root
nocloud_seed "$ROOT" iid-ssh-pwauth <<'EOF'
#cloud-config
ssh_pwauth: "no"
EOF
run_kiln "$ROOT"
check_run_result 0 degraded 2
check_eq "sshd reads passwordauthentication no" no "$(sshd_setting passwordauthentication)"
check_contains "the warning says a string was given" "$(diagnostics warnings)" \
        "ssh: ssh_pwauth: expected boolean, got the string 'no' at line 2"

case_begin "ssh_pwauth: \"maybe\""
new_debian_root
nocloud_seed "$ROOT" iid-ssh-pwauth <<'EOF'
#cloud-config
ssh_pwauth: "maybe"
EOF
SSHD_FILES_BEFORE=$(cd "$ROOT" && find etc/ssh -name 'sshd_config*' -exec sha256sum {} + 2>/dev/null | sort)
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "the error names the key and the value" "$(diagnostics errors)" \
        "ssh: ssh_pwauth: expected boolean, got 'maybe' at line 2"
check_eq "sshd's configuration is untouched" "$SSHD_FILES_BEFORE" \
        "$(cd "$ROOT" && find etc/ssh -name 'sshd_config*' -exec sha256sum {} + 2>/dev/null | sort)"
check_mode "host keys are still generated" "$ROOT/etc/ssh/ssh_host_ed25519_key" "600 root:root"

case_begin "metadata outage at reboot"
new_debian_root
mkdir -p "$ROOT/sys/class/dmi/id"
make_ec2 "$ROOT"
kiln_config "$ROOT" <<EOF
datasource:
  ec2:
    max_wait: $SHORT_MAX_WAIT
EOF
start_mock "$TOP/tests/imds/scenarios/default.json"
run_kiln "$ROOT"
stop_mock
check_eq "the first boot exits 0" 0 "$KILN_RC"
check_file "root's authorized_keys hold the metadata's key, refused" "$ROOT/root/.ssh/authorized_keys" \
        "$(disable_root_options NONE) ssh-ed25519 AAAA...test test-key\n"
SUMS_FIRST=$(host_key_sums)
KEYS_FIRST=$(sha256sum < "$ROOT/root/.ssh/authorized_keys")
rm -rf "${ROOT:?}/run/kiln"
start_mock "$(scenario <<'EOF'
{"description": "Every request gets HTTP 503.", "faults": [{"type": "status_all", "status": 503}]}
EOF
)"
run_kiln "$ROOT"
stop_mock
check_run_result 0 degraded 2
check_eq "the host keys are unchanged" "$SUMS_FIRST" "$(host_key_sums)"
check_eq "root's authorized_keys are unchanged" "$KEYS_FIRST" "$(sha256sum < "$ROOT/root/.ssh/authorized_keys")"
check_eq "the ssh module is skipped" skipped "$(module_state ssh)"
