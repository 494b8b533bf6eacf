#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The timezone and locale modules in a Debian root with its real tzdata, locale-gen and
# update-locale. `date` inside the root shows the zone's abbreviation, /etc/localtime links into
# zoneinfo, and an unknown zone is an error with a suggestion. LANG reaches /etc/default/locale
# with the locale generated, or with a warning when locale-gen is missing.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

net_setup

# seed_run INSTANCE_ID < USER_DATA: a NoCloud seed in $ROOT holding stdin, then `kiln run` on it.
seed_run() {
        nocloud_seed "$ROOT" "$1"
        run_kiln "$ROOT"
}

case_begin "timezone in a Debian root"
if debian_root; then
        seed_run iid-tz-1 < <(printf '#cloud-config\ntimezone: Asia/Tokyo\n')
        check_run_result 0 done 0
        check_eq "/etc/localtime links to the zone" /usr/share/zoneinfo/Asia/Tokyo "$(readlink "$ROOT/etc/localtime")"
        check_file "/etc/timezone names the zone" "$ROOT/etc/timezone" 'Asia/Tokyo\n'
        check_eq "date in the root shows JST" JST "$(chroot "$ROOT" date +%Z)"

        BEFORE=$(stat -c %Y "$ROOT/etc/timezone")
        run_kiln "$ROOT"
        check_eq "a reboot exits 0" 0 "$KILN_RC"
        check_eq "a reboot leaves /etc/timezone alone" "$BEFORE" "$(stat -c %Y "$ROOT/etc/timezone")"
fi

case_begin "unknown timezone"
if debian_root; then
        seed_run iid-tz-2 < <(printf '#cloud-config\ntimezone: Europe/Berln\n')
        check_run_result 1 error 1
        check_contains "the error names the zone and a suggestion" "$(diagnostics errors)" \
                "timezone: unknown zone 'Europe/Berln', /usr/share/zoneinfo/Europe/Berln does not exist. Did you mean 'Europe/Berlin'?"
        check_eq "/etc/localtime is unchanged" /usr/share/zoneinfo/Etc/UTC "$(readlink "$ROOT/etc/localtime")"
fi

case_begin "timezone path escape"
ROOT=$(new_root)
seed_run iid-tz-3 < <(printf '#cloud-config\ntimezone: ../../../etc/passwd\n')
check_run_result 1 error 1
check_contains "the error names the value" "$(diagnostics errors)" "timezone \"../../../etc/passwd\" has an empty, '.' or '..' component"
check_absent "/etc/localtime is not created" "$ROOT/etc/localtime"

case_begin "locale generated with locale-gen"
if debian_root; then
        if [ -x "$ROOT/usr/sbin/locale-gen" ]; then
                seed_run iid-locale-1 < <(printf '#cloud-config\nlocale: de_DE.UTF-8\n')
                check_run_result 0 done 0
                check_grep "/etc/default/locale sets LANG" '^LANG=de_DE.UTF-8$' "$ROOT/etc/default/locale"
                check_grep "/etc/locale.gen enables the locale" '^de_DE.UTF-8 UTF-8$' "$ROOT/etc/locale.gen"
                check_contains "locale -a lists the locale" "$(chroot "$ROOT" locale -a)" "de_DE.utf8"
        else
                echo "skip $CASE: the Debian root has no locale-gen"
        fi
fi

case_begin "locale without locale-gen"
if debian_root; then
        rm -f "$ROOT/usr/sbin/locale-gen" "$ROOT/usr/sbin/update-locale"
        seed_run iid-locale-2 < <(printf '#cloud-config\nlocale: fr_FR.UTF-8\n')
        check_run_result 0 degraded 2
        check_grep "/etc/default/locale sets LANG" '^LANG=fr_FR.UTF-8$' "$ROOT/etc/default/locale"
        check_contains "the warning explains why" "$(diagnostics warnings)" \
                "locale-gen is not in the image, so the locale 'fr_FR.UTF-8' cannot be generated"
fi

case_begin "C.UTF-8 needs no generation"
if debian_root; then
        rm -f "$ROOT/usr/sbin/locale-gen" "$ROOT/usr/sbin/update-locale"
        seed_run iid-locale-3 < <(printf '#cloud-config\nlocale: C.UTF-8\n')
        check_run_result 0 done 0
        check_grep "/etc/default/locale sets LANG" '^LANG=C.UTF-8$' "$ROOT/etc/default/locale"
fi

case_begin "invalid locale name"
ROOT=$(new_root)
seed_run iid-locale-4 < <(printf '#cloud-config\nlocale: "en_US.UTF-8; rm -rf /"\n')
check_run_result 1 error 1
check_contains "the error names the value" "$(diagnostics errors)" "locale \"en_US.UTF-8; rm -rf /\" is not a valid locale name"
check_absent "no locale file is written" "$ROOT/etc/default/locale"

case_begin "RHEL locale.conf"
ROOT=$(new_root)
echo "Fedora release 40 (Forty)" > "$ROOT/etc/redhat-release"
printf 'LANG="en_US.UTF-8"\nLC_TIME=C\n' > "$ROOT/etc/locale.conf"
seed_run iid-locale-5 < <(printf '#cloud-config\nlocale: de_AT.UTF-8\n')
check_run_result 0 done 0
check_file "/etc/locale.conf sets LANG and keeps the rest" "$ROOT/etc/locale.conf" 'LANG=de_AT.UTF-8\nLC_TIME=C\n'
