#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# users and groups end to end in a Debian 12 root, with the image's own useradd, chpasswd, passwd
# and visudo. The cases: group lists as strings and lists, the default user, where the metadata
# service's SSH keys go, and files owned by a user that the same config creates. Then existing
# accounts, sudo rules that visudo rejects, passwords, and a second run of the same instance.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALICE_KEY="ssh-ed25519 AAAA...test alice@example.com"
USERDATA_KEY="ssh-ed25519 AAAA...userdata alice@example.com"
META_KEY="ssh-ed25519 AAAA...meta test-key"
DROPIN=/etc/sudoers.d/90-kiln-users

net_setup

# in_root COMMAND...: run a command of the Debian root inside it.
in_root() {
        chroot "$ROOT" "$@"
}

# check_owned DESCRIPTION PATH MODE USER: PATH has MODE and belongs to USER and USER's primary
# group, by the ids in the root's own passwd file.
check_owned() {
        local expected
        expected="$4 $(in_root id -u "$4" 2>/dev/null):$(in_root id -g "$4" 2>/dev/null)"
        check_eq "$1" "$3 $expected" "$(stat -c "%a $4 %u:%g" "$2" 2>/dev/null || echo missing)"
}

# groups_of USER: the user's groups, sorted, on one line.
groups_of() {
        in_root id -nG "$1" 2>/dev/null | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//'
}

# The image's default user, as a cloud image configures it.
default_user_config() {
        kiln_config "$ROOT" <<'EOF'
system_info:
  default_user:
    name: debian
    gecos: Debian
    groups: [adm]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
    lock_passwd: true
EOF
}

# An EC2 instance whose metadata service has one SSH key and serves the user data on stdin.
ec2_with_metadata_key() {
        local user_data=$WORK/user-data-$1
        cat > "$user_data"
        mkdir -p "$ROOT/sys/class/dmi/id"
        : > "$ROOT/proc/cmdline"
        make_ec2 "$ROOT"
        start_mock "$(scenario <<EOF
{
  "description": "One metadata SSH key, user data from a file.",
  "public_keys": {"test-key": "$META_KEY"},
  "user_data_file": "$user_data"
}
EOF
)"
}

# Digests of every account file, the drop-in and the users' homes, for comparing two runs.
accounts_digest() {
        (cd "$ROOT" && find etc/passwd etc/shadow etc/group etc/gshadow etc/sudoers etc/sudoers.d home \
                -printf '%p %m %u %g %s\n' -type f -exec sha256sum {} + 2>/dev/null) | sort
}

groups_as_strings_and_lists() {
        case_begin "groups as a comma string, a list and a single name"
        debian_root || return 0
        default_user_config
        nocloud_seed "$ROOT" iid-groups <<EOF
#cloud-config
groups:
  - devs
users:
  - default
  - name: alice
    groups: sudo, adm ,devs
    shell: /bin/bash
    ssh_authorized_keys:
      - $ALICE_KEY
  - name: bob
    groups: [adm, devs]
  - name: carol
    groups: devs
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "alice is in sudo, adm and devs" "adm alice devs sudo" "$(groups_of alice)"
        check_eq "bob is in adm and devs" "adm bob devs" "$(groups_of bob)"
        check_eq "carol is in devs only: one string is one group" "carol devs" "$(groups_of carol)"
        check_eq "no group ' adm' exists" "" "$(in_root getent group ' adm')"
        check_eq "alice's shell is bash" "/bin/bash" "$(in_root getent passwd alice | cut -d: -f7)"
        check_file "alice's key is in authorized_keys once" "$ROOT/home/alice/.ssh/authorized_keys" "$ALICE_KEY\n"
        check_owned "authorized_keys has mode 600, owned by alice" "$ROOT/home/alice/.ssh/authorized_keys" 600 alice
        check_owned "~/.ssh has mode 700, owned by alice" "$ROOT/home/alice/.ssh" 700 alice
        check_eq "the default user debian exists and is in adm" "adm debian" "$(groups_of debian)"
        check_grep "the default user's sudo rule is in the drop-in" '^debian ALL=\(ALL\) NOPASSWD:ALL$' "$ROOT$DROPIN"
        check_grep "the default user's password is locked" '^debian:!' "$ROOT/etc/shadow"
        check_owned "the drop-in has mode 440" "$ROOT$DROPIN" 440 root
        check "visudo accepts the sudoers files" in_root visudo -c -q

        case_begin "a second run of the same instance"
        before=$(accounts_digest)
        run_kiln "$ROOT"
        check_eq "kiln run exits 0" 0 "$KILN_RC"
        check_eq "no account file, drop-in or home changed" "$before" "$(accounts_digest)"
}

metadata_keys_without_default() {
        case_begin "metadata keys without a default user in the list"
        debian_root || return 0
        default_user_config
        ec2_with_metadata_key without-default <<EOF
#cloud-config
users:
  - name: alice
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    ssh_authorized_keys:
      - $USERDATA_KEY
EOF
        run_kiln "$ROOT"
        stop_mock
        check_run_result 0 done 0
        check_eq "no default user is created" "" "$(in_root getent passwd debian)"
        check_file "alice has both keys, once each" "$ROOT/home/alice/.ssh/authorized_keys" \
                "$USERDATA_KEY\n$META_KEY\n"
        check_owned "authorized_keys has mode 600, owned by alice" "$ROOT/home/alice/.ssh/authorized_keys" 600 alice
        check_owned "~/.ssh has mode 700, owned by alice" "$ROOT/home/alice/.ssh" 700 alice
        check_grep "an INFO line names alice as the recipient" "metadata service's SSH keys go to the first user listed, users\[0\] 'alice'" "$ROOT.out"
        check_grep "the drop-in has alice's rule" '^alice ALL=\(ALL\) NOPASSWD:ALL$' "$ROOT$DROPIN"
        check_owned "the drop-in has mode 440" "$ROOT$DROPIN" 440 root
        check "the drop-in passes visudo -cf" in_root visudo -c -f "$DROPIN"
}

metadata_keys_with_default() {
        case_begin "metadata keys with the default user listed first"
        debian_root || return 0
        default_user_config
        ec2_with_metadata_key with-default <<EOF
#cloud-config
users:
  - default
  - name: alice
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    ssh_authorized_keys:
      - $USERDATA_KEY
EOF
        run_kiln "$ROOT"
        stop_mock
        check_run_result 0 done 0
        check_file "the default user has the metadata key" "$ROOT/home/debian/.ssh/authorized_keys" "$META_KEY\n"
        check_owned "the default user owns its authorized_keys" "$ROOT/home/debian/.ssh/authorized_keys" 600 debian
        check_file "alice has only her own key" "$ROOT/home/alice/.ssh/authorized_keys" "$USERDATA_KEY\n"
        check_eq "the default user is created first" "debian alice" \
                "$(awk -F: '$3 >= 1000 && $3 < 60000 { printf "%s ", $1 }' "$ROOT/etc/passwd" | sed 's/ $//')"
        check_grep "an INFO line names the default user" "SSH keys go to the default user 'debian'" "$ROOT.out"
}

files_owned_by_new_user() {
        case_begin "write_files owned by a user of the same config"
        debian_root || return 0
        nocloud_seed "$ROOT" iid-owner <<'EOF'
#cloud-config
users:
  - name: appuser
    lock_passwd: true
write_files:
  - path: /home/appuser/.config/app/settings.ini
    owner: appuser:appuser
    permissions: '0600'
    content: "mode=test"
  - path: /var/log/app/empty.log
    owner: appuser:appuser
    permissions: '0664'
    defer: true
    content: ""
  - path: /etc/b12/ghost.conf
    owner: nosuchuser:nosuchuser
    content: "x\n"
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_file "settings.ini holds exactly mode=test" "$ROOT/home/appuser/.config/app/settings.ini" 'mode=test'
        check_owned "settings.ini is appuser's with mode 600" "$ROOT/home/appuser/.config/app/settings.ini" 600 appuser
        check_file "empty.log is empty" "$ROOT/var/log/app/empty.log" ''
        check_owned "empty.log is appuser's with mode 664" "$ROOT/var/log/app/empty.log" 664 appuser
        check_owned "the new ~/.config is appuser's" "$ROOT/home/appuser/.config" 755 appuser
        check_owned "the new ~/.config/app is appuser's" "$ROOT/home/appuser/.config/app" 755 appuser
        check_owned "the new /var/log/app is appuser's" "$ROOT/var/log/app" 755 appuser
        in_root useradd -m reference
        check_owned "the home that useradd made keeps its mode" "$ROOT/home/appuser" \
                "$(stat -c %a "$ROOT/home/reference")" appuser
        check_absent "ghost.conf is not written" "$ROOT/etc/b12/ghost.conf"
        check_contains "the error names the unknown owner and the path" "$(diagnostics errors)" \
                "unknown user 'nosuchuser' in owner 'nosuchuser:nosuchuser' for '/etc/b12/ghost.conf'"
        check_eq "the only error is the one for ghost.conf" 1 "$(json_get "$ROOT.status.json" 'len(d["errors"])')"
}

existing_group_only() {
        case_begin "groups naming only a group that exists"
        debian_root || return 0
        nocloud_seed "$ROOT" iid-root-group <<'EOF'
#cloud-config
groups:
  - root
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_grep "the existing group is logged at INFO" "Group 'root' already exists, leaving it as it is" "$ROOT.out"
        check_eq "no warning or error is reported" "" "$(diagnostics warnings; diagnostics errors)"
}

existing_accounts() {
        case_begin "a group and a user that exist already"
        debian_root || return 0
        nocloud_seed "$ROOT" iid-existing <<'EOF'
#cloud-config
groups:
  - root
users:
  - name: nobody
    groups: [adm]
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_grep "the existing group is logged at INFO" "Group 'root' already exists" "$ROOT.out"
        check_grep "the existing user is logged at INFO" "User 'nobody' already exists" "$ROOT.out"
        check_eq "the existing user joins its groups" "adm nogroup" "$(groups_of nobody)"
        check_eq "root's group is unchanged" "root:x:0:" "$(grep '^root:' "$ROOT/etc/group")"
}

sudo_rule_rejected() {
        case_begin "a sudo rule that visudo rejects"
        debian_root || return 0
        nocloud_seed "$ROOT" iid-sudo <<'EOF'
#cloud-config
users:
  - name: broken
    sudo: "ALL=(ALL NOPASSWD ALL"
  - name: good
    sudo: ["ALL=(ALL) ALL", null]
  - name: nosudo
    sudo: false
EOF
        run_kiln "$ROOT"
        check_run_result 1 error 1
        check_contains "the error names visudo and the user" "$(diagnostics errors)" "users_groups[0]: visudo"
        check_eq "the user with the broken rule still exists" broken "$(in_root getent passwd broken | cut -d: -f1)"
        check_eq "the other users exist" "good nosudo" \
                "$(in_root getent passwd good nosudo | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"
        check_grep "the good rule is in the drop-in" '^good ALL=\(ALL\) ALL$' "$ROOT$DROPIN"
        check_eq "the broken rule is not" "" "$(grep -F broken "$ROOT$DROPIN")"
        check_eq "sudo: false adds no rule" "" "$(grep -F nosudo "$ROOT$DROPIN")"
        check "the drop-in passes visudo -cf" in_root visudo -c -f "$DROPIN"
}

passwords() {
        local hash='$6$kilnsalt$6juhsaRYIUh.z77y8lHc.DMnGRQm7C9a/rHHRb.Mht1s2u4olrxWOCozPK8XqbgwSMGh0j2Qd27QVDw9e9vvc1'
        case_begin "passwords and lock_passwd"
        debian_root || return 0
        nocloud_seed "$ROOT" iid-passwords <<EOF
#cloud-config
users:
  - name: hashed
    hashed_passwd: '$hash'
    lock_passwd: false
  - name: plain
    plain_text_passwd: kiln-plain-secret
    lock_passwd: false
  - name: locked
    plain_text_passwd: kiln-locked-secret
  - name: nopassword
    lock_passwd: false
EOF
        run_kiln "$ROOT"
        check_run_result 0 degraded 2
        check_eq "hashed_passwd is set as given" "$hash" "$(grep '^hashed:' "$ROOT/etc/shadow" | cut -d: -f2)"
        check_grep "plain_text_passwd is stored as a hash" '^plain:\$' "$ROOT/etc/shadow"
        check_grep "a password is locked by default" '^locked:!\$' "$ROOT/etc/shadow"
        check_contains "lock_passwd: false without a password is a warning" "$(diagnostics warnings)" \
                "users[3] 'nopassword': lock_passwd is false, but the account has no password to unlock"
        # instance-data-sensitive.json is root's alone (0600) and carries the whole configuration,
        # as cloud-init's file of the same name does.
        check_eq "no password is in kiln's output, report or command log" "" \
                "$(grep -rlE --exclude=instance-data-sensitive.json 'kiln-(plain|locked)-secret|kilnsalt' \
                        "$ROOT.out" "$ROOT.status.json" "$ROOT/var/log/kiln-output.log" "$ROOT/run/kiln" 2>/dev/null)"
        if [ -e "$ROOT/run/kiln/instance-data-sensitive.json" ]; then
                check_eq "the sensitive instance data is root's alone" "600 0" \
                        "$(stat -c '%a %u' "$ROOT/run/kiln/instance-data-sensitive.json")"
        fi
}


old_user_key() {
        case_begin "user overrides the default user"
        debian_root || return 0
        default_user_config
        nocloud_seed "$ROOT" iid-old-user <<'EOF'
#cloud-config
user:
  name: ops
  shell: /bin/sh
  groups: [sudo]
users:
  - name: alice
EOF
        run_kiln "$ROOT"
        check_run_result 0 done 0
        check_eq "ops exists, with the shell from user" "/bin/sh" "$(in_root getent passwd ops | cut -d: -f7)"
        check_eq "ops has the gecos of the image's default user" "Debian" "$(in_root getent passwd ops | cut -d: -f5)"
        check_eq "ops is in the groups from user" "ops sudo" "$(groups_of ops)"
        check_grep "ops gets the image's sudo rule" '^ops ALL=\(ALL\) NOPASSWD:ALL$' "$ROOT$DROPIN"
        check_eq "alice exists too" "alice" "$(in_root getent passwd alice | cut -d: -f1)"
        check_eq "the image's default name is not created" "" "$(in_root getent passwd debian)"
        check "visudo accepts the sudoers files" in_root visudo -c -q

        case_begin "user as a string"
        debian_root || return 0
        default_user_config
        nocloud_seed "$ROOT" iid-old-user-string <<'EOF'
#cloud-config
user: ops
EOF
        run_kiln "$ROOT"
        check_run_result 0 degraded 2
        check_contains "the warning names the old form" "$(diagnostics warnings)" \
                "users_groups: user: a user name as a string is an old form"
        check_eq "ops is in the image default user's groups" "adm ops" "$(groups_of ops)"
        check_eq "ops has the image default user's shell" "/bin/bash" "$(in_root getent passwd ops | cut -d: -f7)"
}

groups_as_strings_and_lists
metadata_keys_without_default
metadata_keys_with_default
files_owned_by_new_user
existing_group_only
existing_accounts
sudo_rule_rejected
passwords
old_user_key

case_begin "group names follow the user name rule"
cat > "$WORK/bad-group.yaml" <<'YAML'
#cloud-config
groups:
  - "bad;group"
  - ops: ["eve;x"]
YAML
OUT=$("$KILN" validate "$WORK/bad-group.yaml" 2>&1)
check_contains "validate rejects the group name" "$OUT" "bad;group"
printf '#cloud-config\ngroups:\n  - ops: ["eve;x"]\n' > "$WORK/bad-member.yaml"
OUT=$("$KILN" validate "$WORK/bad-member.yaml" 2>&1)
check_contains "validate rejects the member name" "$OUT" "invalid user name 'eve;x'"
ROOT=$(new_root)
nocloud_seed "$ROOT" iid-bad-group < "$WORK/bad-group.yaml"
run_kiln "$ROOT"
check_run_result 1 error 1
check_contains "run rejects the group name" "$(diagnostics errors)" "invalid group name 'bad;group'"
check_contains "run rejects the member name" "$(diagnostics errors)" "invalid user name 'eve;x'"
check_eq "no group was created" "" "$(grep -e 'bad;group' -e 'eve;x' "$ROOT/etc/group")"
