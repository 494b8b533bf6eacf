/* SPDX-License-Identifier: Apache-2.0 */
/* The NTP clients that the ntp module knows, the distributions that cloud-init names with their
 * client defaults, and the configuration file layouts that kiln writes for them. */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "ntp-internal.h"

#define NTP_HEADER "# Written by kiln from the ntp key of the cloud-config.\n"

const char *const ntp_client_table[_NTP_CLIENT_MAX] = {
        [NTP_CLIENT_CHRONY] = "chrony",
        [NTP_CLIENT_NTP] = "ntp",
        [NTP_CLIENT_NTPDATE] = "ntpdate",
        [NTP_CLIENT_OPENNTPD] = "openntpd",
        [NTP_CLIENT_TIMESYNCD] = "systemd-timesyncd",
};

NtpClient ntp_client_from_string(const char *s) {
        for (size_t i = 0; i < _NTP_CLIENT_MAX; i++)
                if (streq(ntp_client_table[i], s))
                        return (NtpClient) i;
        return _NTP_CLIENT_INVALID;
}

/* The directives of cloud-init's templates (the templates folder of its source) for each layout. */
const NtpLayout ntp_layout_table[_NTP_FORMAT_MAX] = {
        [NTP_FORMAT_CHRONY_DEBIAN] = {
                .head = NTP_HEADER "# See chrony.conf(5).\n",
                .pool = "pool", .pool_suffix = " iburst", .server = "server", .server_suffix = " iburst",
                .peer = "peer", .allow = "allow",
                .tail = "\nkeyfile /etc/chrony/chrony.keys\ndriftfile /var/lib/chrony/chrony.drift\n"
                        "logdir /var/log/chrony\nmaxupdateskew 100.0\nrtcsync\nmakestep 1 3\n",
        },
        [NTP_FORMAT_CHRONY_RHEL] = {
                .head = NTP_HEADER "# See chrony.conf(5).\n",
                .pool = "pool", .pool_suffix = " iburst", .server = "server", .server_suffix = " iburst",
                .peer = "peer", .allow = "allow",
                .tail = "\ndriftfile /var/lib/chrony/drift\nmakestep 1.0 3\nrtcsync\nlogdir /var/log/chrony\n",
        },
        [NTP_FORMAT_NTP_DEBIAN] = {
                .head = NTP_HEADER "# See ntp.conf(5).\n\ndriftfile /var/lib/ntp/ntp.drift\n"
                        "statistics loopstats peerstats clockstats\n"
                        "filegen loopstats file loopstats type day enable\n"
                        "filegen peerstats file peerstats type day enable\n"
                        "filegen clockstats file clockstats type day enable\n\n",
                .pool = "pool", .pool_suffix = " iburst", .server = "server", .server_suffix = " iburst",
                .peer = "peer",
                .tail = "\nrestrict -4 default kod notrap nomodify nopeer noquery limited\n"
                        "restrict -6 default kod notrap nomodify nopeer noquery limited\n"
                        "restrict 127.0.0.1\nrestrict ::1\nrestrict source notrap nomodify noquery\n",
        },
        /* ntpsec keeps its drift file in its own directory, which its AppArmor profile allows. */
        [NTP_FORMAT_NTPSEC_DEBIAN] = {
                .head = NTP_HEADER "# See ntp.conf(5).\n\ndriftfile /var/lib/ntpsec/ntp.drift\n\n",
                .pool = "pool", .pool_suffix = " iburst", .server = "server", .server_suffix = " iburst",
                .peer = "peer",
                .tail = "\nrestrict default kod nomodify nopeer noquery limited\n"
                        "restrict 127.0.0.1\nrestrict ::1\n",
        },
        [NTP_FORMAT_NTP_RHEL] = {
                .head = NTP_HEADER "# See ntp.conf(5).\n\ndriftfile /var/lib/ntp/drift\n"
                        "restrict default kod nomodify notrap nopeer noquery\n"
                        "restrict -6 default kod nomodify notrap nopeer noquery\n"
                        "restrict 127.0.0.1\nrestrict -6 ::1\n\n",
                .pool = "pool", .pool_suffix = " iburst", .server = "server", .server_suffix = " iburst",
                .peer = "peer",
                .tail = "\nincludefile /etc/ntp/crypto/pw\nkeys /etc/ntp/keys\n",
        },
        /* BusyBox's ntpd supports only servers and peers. */
        [NTP_FORMAT_NTP_BUSYBOX] = {
                .head = NTP_HEADER,
                .server = "server", .server_suffix = "", .peer = "peer",
                .tail = "",
        },
        [NTP_FORMAT_OPENNTPD] = {
                .head = NTP_HEADER "# See ntpd.conf(5).\n",
                .pool = "servers", .pool_suffix = "", .server = "server", .server_suffix = "",
                .tail = "\nsensor *\nconstraint from \"9.9.9.9\"\nconstraint from \"2620:fe::fe\"\n"
                        "constraints from \"www.google.com\"\n",
        },
        [NTP_FORMAT_TIMESYNCD] = {
                .head = NTP_HEADER "# See timesyncd.conf(5).\n\n[Time]\n",
                .tail = "",
        },
};

/* cloud-init's client defaults, before a distribution's own values. */
static const NtpClientInfo ntp_client_defaults[_NTP_CLIENT_MAX] = {
        [NTP_CLIENT_CHRONY] = { "chronyd", "/etc/chrony.conf", "chrony", "chrony", NTP_FORMAT_CHRONY_RHEL },
        [NTP_CLIENT_NTP] = { "ntpd", "/etc/ntp.conf", "ntpsec", "ntp", NTP_FORMAT_NTP_RHEL },
        [NTP_CLIENT_NTPDATE] = { "ntpdate", "/etc/ntp.conf", "ntpdate", "ntpdate", NTP_FORMAT_NTP_RHEL },
        [NTP_CLIENT_OPENNTPD] = { "ntpd", "/etc/ntpd.conf", "openntpd", "ntpd", NTP_FORMAT_OPENNTPD },
        [NTP_CLIENT_TIMESYNCD] = { "/lib/systemd/systemd-timesyncd", "/etc/systemd/timesyncd.conf.d/kiln.conf",
                                   "systemd-timesyncd", "systemd-timesyncd", NTP_FORMAT_TIMESYNCD },
};

/* Distributions by the name cloud-init gives them. */
const NtpDistro ntp_distro_table[] = {
        { "debian", NTP_FAMILY_DEBIAN, "debian" },
        { "ubuntu", NTP_FAMILY_DEBIAN, "ubuntu" },
        { "raspberry-pi-os", NTP_FAMILY_DEBIAN, "raspberry-pi-os" },
        { "rhel", NTP_FAMILY_RHEL, "rhel" },
        { "centos", NTP_FAMILY_RHEL, "centos" },
        { "fedora", NTP_FAMILY_RHEL, "fedora" },
        { "almalinux", NTP_FAMILY_RHEL, "almalinux" },
        { "rocky", NTP_FAMILY_RHEL, "rocky" },
        { "cloudlinux", NTP_FAMILY_RHEL, "cloudlinux" },
        { "eurolinux", NTP_FAMILY_RHEL, "" },
        { "miraclelinux", NTP_FAMILY_RHEL, "miraclelinux" },
        { "virtuozzo", NTP_FAMILY_RHEL, "virtuozzo" },
        { "amzn", NTP_FAMILY_RHEL, "" },
        { "opensuse", NTP_FAMILY_SUSE, "opensuse" },
        { "opensuse-leap", NTP_FAMILY_SUSE, "opensuse-leap" },
        { "opensuse-microos", NTP_FAMILY_SUSE, "opensuse-microos" },
        { "opensuse-tumbleweed", NTP_FAMILY_SUSE, "opensuse-tumbleweed" },
        /* There is no sles zone, so SUSE Linux Enterprise uses openSUSE's. */
        { "sles", NTP_FAMILY_SUSE, "opensuse" },
        { "sle_hpc", NTP_FAMILY_SUSE, "opensuse" },
        { "sle-micro", NTP_FAMILY_SUSE, "opensuse" },
        { "alpine", NTP_FAMILY_ALPINE, "" },
        { "photon", NTP_FAMILY_PHOTON, "photon" },
        { "mariner", NTP_FAMILY_PHOTON, "mariner" },
        { "azurelinux", NTP_FAMILY_PHOTON, "azurelinux" },
};

/* The family's order of preference for 'auto', ended by _NTP_CLIENT_INVALID: the first client
 * installed in the image wins, else the first one of the list. */
const NtpClient *ntp_preferred_clients(NtpFamily family) {
        static const NtpClient common[] = { NTP_CLIENT_CHRONY, NTP_CLIENT_TIMESYNCD, NTP_CLIENT_NTP,
                                            NTP_CLIENT_NTPDATE, _NTP_CLIENT_INVALID };
        /* openSUSE 15 and later; ntpdate is not offered there. */
        static const NtpClient suse[] = { NTP_CLIENT_CHRONY, NTP_CLIENT_TIMESYNCD, NTP_CLIENT_NTP,
                                          _NTP_CLIENT_INVALID };
        static const NtpClient alpine[] = { NTP_CLIENT_CHRONY, NTP_CLIENT_NTP, _NTP_CLIENT_INVALID };

        if (family == NTP_FAMILY_SUSE)
                return suse;
        if (family == NTP_FAMILY_ALPINE)
                return alpine;
        return common;
}

static int ntp_root_is_directory(int root_fd, const char *path) {
        _cleanup_close_ int fd = root_open(root_fd, path, O_PATH | O_DIRECTORY, 0);

        return fd >= 0;
}

/* The client's defaults on a family of distributions, as cloud-init's per-distribution table
 * changes them. Debian's ntpsec and openntpd packages read their files in their own directories,
 * so those are used when the image has them. */
NtpClientInfo ntp_client_info(int root_fd, NtpClient client, NtpFamily family) {
        NtpClientInfo info = ntp_client_defaults[client];
        bool daemon_names = family != NTP_FAMILY_OTHER && family != NTP_FAMILY_DEBIAN;
        bool usr_lib = family == NTP_FAMILY_SUSE || family == NTP_FAMILY_PHOTON;
        bool ntp_like = client == NTP_CLIENT_NTP || client == NTP_CLIENT_NTPDATE;

        if (client == NTP_CLIENT_CHRONY && daemon_names)
                info.service_name = "chronyd";
        if (client == NTP_CLIENT_NTP && daemon_names)
                info.service_name = "ntpd";
        if (client == NTP_CLIENT_CHRONY && (family == NTP_FAMILY_DEBIAN || family == NTP_FAMILY_ALPINE)) {
                info.confpath = "/etc/chrony/chrony.conf";
                info.format = NTP_FORMAT_CHRONY_DEBIAN;
        }
        if (client == NTP_CLIENT_TIMESYNCD && usr_lib)
                info.check_exe = "/usr/lib/systemd/systemd-timesyncd";
        if (client == NTP_CLIENT_TIMESYNCD && family == NTP_FAMILY_PHOTON)
                info.confpath = "/etc/systemd/timesyncd.conf";

        if (ntp_like && family == NTP_FAMILY_DEBIAN) {
                info.format = NTP_FORMAT_NTP_DEBIAN;
                if (ntp_root_is_directory(root_fd, "/etc/ntpsec")) {
                        info.confpath = "/etc/ntpsec/ntp.conf";
                        info.format = NTP_FORMAT_NTPSEC_DEBIAN;
                }
        }
        if (client == NTP_CLIENT_NTP && family == NTP_FAMILY_ALPINE) {
                info.package = NULL;
                info.format = NTP_FORMAT_NTP_BUSYBOX;
        }
        if (client == NTP_CLIENT_OPENNTPD && family == NTP_FAMILY_DEBIAN &&
            ntp_root_is_directory(root_fd, "/etc/openntpd"))
                info.confpath = "/etc/openntpd/ntpd.conf";
        return info;
}

int ntp_distro_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(ntp_distro_table); i++)
                if (streq(ntp_distro_table[i].name, name))
                        return (int) i;
        return -ENOENT;
}

const char *const ntp_list_table[_NTP_LIST_MAX] = {
        [NTP_LIST_POOLS] = "pools",
        [NTP_LIST_SERVERS] = "servers",
        [NTP_LIST_PEERS] = "peers",
        [NTP_LIST_ALLOW] = "allow",
};

static void ntp_write_lines(FILE *f, const json_t *list, const char *keyword, const char *suffix) {
        const json_t *entry;
        size_t i;

        if (!keyword)
                return;
        json_array_foreach(list, i, entry)
                fprintf(f, "%s %s%s\n", keyword, json_string_value(entry), suffix ?: "");
}

int ntp_render_layout(NtpFormat format, json_t *const lists[_NTP_LIST_MAX], char **ret) {
        const NtpLayout *l = &ntp_layout_table[format];
        /* Declared before f, so that f is closed first and text is freed after. */
        _cleanup_free_ char *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        fputs(l->head, f);
        if (format == NTP_FORMAT_TIMESYNCD) {
                const NtpList order[] = { NTP_LIST_SERVERS, NTP_LIST_POOLS };
                bool first = true;

                for (size_t k = 0; k < ELEMENTSOF(order); k++) {
                        const json_t *entry;
                        size_t i;

                        json_array_foreach(lists[order[k]], i, entry) {
                                fprintf(f, "%s%s", first ? "NTP=" : " ", json_string_value(entry));
                                first = false;
                        }
                }
                if (!first)
                        fputc('\n', f);
        }
        ntp_write_lines(f, lists[NTP_LIST_POOLS], l->pool, l->pool_suffix);
        ntp_write_lines(f, lists[NTP_LIST_SERVERS], l->server, l->server_suffix);
        ntp_write_lines(f, lists[NTP_LIST_PEERS], l->peer, NULL);
        ntp_write_lines(f, lists[NTP_LIST_ALLOW], l->allow, NULL);
        fputs(l->tail, f);
        if (ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}
