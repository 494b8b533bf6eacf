/* SPDX-License-Identifier: Apache-2.0 */
/* The ntp module: writes the configuration of the image's NTP client (chrony, ntpd, ntpdate,
 * openntpd or systemd-timesyncd) with the servers, pools, peers and allowed networks of the
 * cloud-config's ntp key, as cloud-init's ntp module does. kiln installs no packages: a client
 * that the image lacks is an error, and no configuration is written for it. */

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "command.h"
#include "instance-data.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "userdata/jinja.h"

/* Cap on reading a client's existing configuration file. */
#define NTP_CONFIG_FILE_MAX (1024U * 1024U)
/* Entries of servers, pools, peers or allow that one list may hold. */
#define NTP_LIST_MAX 256U
/* DNS limits in characters: a whole name, and one label between dots. */
#define NTP_HOST_LENGTH_MAX 253U
#define NTP_LABEL_LENGTH_MAX 63U
/* Pools written when the config names neither servers nor pools: 0 to 3.<zone>.pool.ntp.org. */
#define NTP_DEFAULT_POOLS 4U
/* Bytes of a rejected value that messages show. */
#define NTP_SHOWN_VALUE_MAX 80U
/* Present when systemd is the running init system, as sd_booted() checks. */
#define SYSTEMD_RUNTIME_DIR "/run/systemd/system"

typedef enum NtpClient {
        NTP_CLIENT_CHRONY,
        NTP_CLIENT_NTP,
        NTP_CLIENT_NTPDATE,
        NTP_CLIENT_OPENNTPD,
        NTP_CLIENT_TIMESYNCD,
        _NTP_CLIENT_MAX,
        _NTP_CLIENT_INVALID = -EINVAL,
} NtpClient;

static const char *const ntp_client_table[_NTP_CLIENT_MAX] = {
        [NTP_CLIENT_CHRONY] = "chrony",
        [NTP_CLIENT_NTP] = "ntp",
        [NTP_CLIENT_NTPDATE] = "ntpdate",
        [NTP_CLIENT_OPENNTPD] = "openntpd",
        [NTP_CLIENT_TIMESYNCD] = "systemd-timesyncd",
};

static NtpClient ntp_client_from_string(const char *s) {
        for (size_t i = 0; i < _NTP_CLIENT_MAX; i++)
                if (streq(ntp_client_table[i], s))
                        return (NtpClient) i;
        return _NTP_CLIENT_INVALID;
}

/* The configuration file layouts kiln writes. */
typedef enum NtpFormat {
        NTP_FORMAT_CHRONY_DEBIAN,
        NTP_FORMAT_CHRONY_RHEL,
        NTP_FORMAT_NTP_DEBIAN,
        NTP_FORMAT_NTPSEC_DEBIAN,
        NTP_FORMAT_NTP_RHEL,
        NTP_FORMAT_NTP_BUSYBOX,
        NTP_FORMAT_OPENNTPD,
        NTP_FORMAT_TIMESYNCD,
        _NTP_FORMAT_MAX,
} NtpFormat;

/* One layout: the directives before and after the sources, and the keyword and suffix of each kind
 * of source line (NULL keyword: the client has no such directive). timesyncd lists all servers and
 * pools on one NTP= line instead. */
typedef struct NtpLayout {
        const char *head;
        const char *pool, *pool_suffix;
        const char *server, *server_suffix;
        const char *peer;
        const char *allow;
        const char *tail;
} NtpLayout;

#define NTP_HEADER "# Written by kiln from the ntp key of the cloud-config.\n"

/* The directives of cloud-init's templates (the templates folder of its source) for each layout. */
static const NtpLayout ntp_layout_table[_NTP_FORMAT_MAX] = {
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

/* What the module needs to know about one client on one distribution. */
typedef struct NtpClientInfo {
        const char *check_exe;   /* a command name, or an absolute path inside the root */
        const char *confpath;
        const char *package;     /* what to install for it, or NULL when no package is known */
        const char *service_name;
        NtpFormat format;
} NtpClientInfo;

/* cloud-init's client defaults, before a distribution's own values. */
static const NtpClientInfo ntp_client_defaults[_NTP_CLIENT_MAX] = {
        [NTP_CLIENT_CHRONY] = { "chronyd", "/etc/chrony.conf", "chrony", "chrony", NTP_FORMAT_CHRONY_RHEL },
        [NTP_CLIENT_NTP] = { "ntpd", "/etc/ntp.conf", "ntpsec", "ntp", NTP_FORMAT_NTP_RHEL },
        [NTP_CLIENT_NTPDATE] = { "ntpdate", "/etc/ntp.conf", "ntpdate", "ntpdate", NTP_FORMAT_NTP_RHEL },
        [NTP_CLIENT_OPENNTPD] = { "ntpd", "/etc/ntpd.conf", "openntpd", "ntpd", NTP_FORMAT_OPENNTPD },
        [NTP_CLIENT_TIMESYNCD] = { "/lib/systemd/systemd-timesyncd", "/etc/systemd/timesyncd.conf.d/kiln.conf",
                                   "systemd-timesyncd", "systemd-timesyncd", NTP_FORMAT_TIMESYNCD },
};

typedef enum NtpFamily {
        NTP_FAMILY_OTHER,
        NTP_FAMILY_DEBIAN,
        NTP_FAMILY_RHEL,
        NTP_FAMILY_SUSE,
        NTP_FAMILY_ALPINE,
        NTP_FAMILY_PHOTON,
        _NTP_FAMILY_MAX,
} NtpFamily;

/* Distributions by the name cloud-init gives them, with the zone of their default pools: the
 * vendor zones of pool.ntp.org, "" for the global zone. */
static const struct {
        const char *name;
        NtpFamily family;
        const char *pool_zone;
} ntp_distro_table[] = {
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
static const NtpClient *ntp_preferred_clients(NtpFamily family) {
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
static NtpClientInfo ntp_client_info(int root_fd, NtpClient client, NtpFamily family) {
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

static int ntp_distro_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(ntp_distro_table); i++)
                if (streq(ntp_distro_table[i].name, name))
                        return (int) i;
        return -ENOENT;
}

/* ---- Checks of values, shared by `kiln validate` and the run ---- */

/* Copy of a string value for messages: JSON-escaped, so a newline shows as \n, without the quotes,
 * cut to NTP_SHOWN_VALUE_MAX bytes. Caller owns it. */
static char *ntp_shown(const json_t *v) {
        _cleanup_free_ char *text = json_to_message(v, NTP_SHOWN_VALUE_MAX);
        size_t n;

        if (!text)
                return NULL;
        n = strlen(text);
        if (json_is_string(v) && n >= 2 && text[0] == '"') {
                /* A value cut short ends in "..." instead of the closing quote. */
                size_t closed = text[n - 1] == '"';

                memmove(text, text + 1, n - 1);
                text[n - 1 - closed] = '\0';
        }
        return TAKE_PTR(text);
}

/* What the character c is, for a message. */
static const char *ntp_character_name(char c) {
        if (c == ' ')
                return "a space";
        if (c == '\n' || c == '\r')
                return "a line break";
        if (c == '\t')
                return "a tab";
        if ((unsigned char) c < 0x20 || c == 0x7f)
                return "a control character";
        if (c == '#')
                return "'#', which starts a comment";
        return "a character that is not allowed";
}

static bool ntp_char_is_label(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* A host name (RFC 1123 labels separated by dots, a final dot allowed), an IPv4 address, or an
 * IPv6 address with an optional %zone. Returns 0, or -EINVAL with the reason in reason. */
static int ntp_host_check_text(const char *s, char *reason, size_t size) {
        char address[INET6_ADDRSTRLEN + 1];
        unsigned char buf[sizeof(struct in6_addr)];
        size_t n = strlen(s), zone = strcspn(s, "%");

        if (n == 0) {
                (void) snprintf(reason, size, "it is empty");
                return -EINVAL;
        }
        for (const char *p = s; *p; p++)
                if (!ntp_char_is_label(*p) && !strchr(".:%_", *p)) {
                        (void) snprintf(reason, size, "it contains %s", ntp_character_name(*p));
                        return -EINVAL;
                }
        if (inet_pton(AF_INET, s, buf) == 1)
                return 0;
        if (strchr(s, ':')) {
                if (zone < sizeof(address)) {
                        memcpy(address, s, zone);
                        address[zone] = '\0';
                        if (inet_pton(AF_INET6, address, buf) == 1 && (s[zone] == '\0' || s[zone + 1] != '\0'))
                                return 0;
                }
                (void) snprintf(reason, size, "it is not a valid IPv6 address");
                return -EINVAL;
        }

        if (n > NTP_HOST_LENGTH_MAX + (s[n - 1] == '.')) {
                (void) snprintf(reason, size, "it is longer than %u characters", NTP_HOST_LENGTH_MAX);
                return -EINVAL;
        }
        for (const char *label = s; *label; ) {
                size_t len = strcspn(label, ".");

                if (len == 0 || len > NTP_LABEL_LENGTH_MAX || label[0] == '-' || label[len - 1] == '-') {
                        (void) snprintf(reason, size, "its labels must have 1 to %u letters, digits or '-', "
                                        "neither first nor last a '-'", NTP_LABEL_LENGTH_MAX);
                        return -EINVAL;
                }
                for (size_t i = 0; i < len; i++)
                        if (!ntp_char_is_label(label[i])) {
                                (void) snprintf(reason, size, "it contains '%c'", label[i]);
                                return -EINVAL;
                        }
                label += len;
                if (*label == '.')
                        label++;
        }
        return 0;
}

/* An allow entry as chrony reads it: "all", or a host name or address, optionally followed by
 * "/BITS", where a partial IPv4 address such as "192.168" is a host name by these rules. */
static int ntp_allow_check_text(const char *s, char *reason, size_t size) {
        _cleanup_free_ char *host = NULL;
        const char *slash = strchr(s, '/');
        unsigned bits;
        int r;

        if (streq(s, "all"))
                return 0;
        host = strndup(s, slash ? (size_t) (slash - s) : strlen(s));
        if (!host)
                return -ENOMEM;
        r = ntp_host_check_text(host, reason, size);
        if (r < 0 || !slash)
                return r;
        if (safe_atou(slash + 1, &bits) < 0 || bits > (strchr(host, ':') ? 128U : 32U)) {
                (void) snprintf(reason, size, "its prefix length '%s' is not a number of bits", slash + 1);
                return -EINVAL;
        }
        return 0;
}

static int ntp_entry_check(const json_t *v, char *message, size_t size,
                           int (*check)(const char *s, char *reason, size_t size), const char *what) {
        _cleanup_free_ char *shown = NULL;
        char reason[256] = "";
        int r;

        if (!json_is_string(v))
                return 0;
        r = strlen(json_string_value(v)) == json_string_length(v) ? check(json_string_value(v), reason, sizeof(reason))
                                                                   : -EINVAL;
        if (r >= 0 || r == -ENOMEM)
                return r;
        if (reason[0] == '\0')
                (void) snprintf(reason, sizeof(reason), "it contains a NUL byte");
        shown = ntp_shown(v);
        if (!shown)
                return -ENOMEM;
        (void) snprintf(message, size, "is '%s', which is not %s: %s. Write one entry per list item, without "
                        "options.", shown, what, reason);
        return -EINVAL;
}

static int ntp_host_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        return ntp_entry_check(v, message, size, ntp_host_check_text, "a host name or address");
}

static int ntp_allow_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        return ntp_entry_check(v, message, size, ntp_allow_check_text, "an address, network or 'all'");
}

/* A list of at most NTP_LIST_MAX entries; a repeated entry is dropped with a warning. */
static int ntp_list_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        if (!json_is_array(v))
                return 0;
        if (json_array_size(v) > NTP_LIST_MAX) {
                (void) snprintf(message, size, "has %zu entries, more than the %u that kiln accepts.",
                                json_array_size(v), NTP_LIST_MAX);
                return -EINVAL;
        }
        for (size_t i = 0; i < json_array_size(v); i++)
                for (size_t j = 0; j < i; j++)
                        if (json_equal(json_array_get(v, i), json_array_get(v, j))) {
                                _cleanup_free_ char *shown = ntp_shown(json_array_get(v, i));

                                (void) snprintf(message, size, "lists '%s' more than once, the repeat at "
                                                "index %zu is ignored.", shown ?: "?", i);
                                return SHAPE_CHECK_WARNING;
                        }
        return 0;
}

static int ntp_path_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *s = json_string_value(v);

        (void) source_text;
        if (!s)
                return 0;
        if (s[0] == '/' && strlen(s) == json_string_length(v) && s[json_string_length(v) - 1] != '/')
                return 0;
        (void) snprintf(message, size, "must be the absolute path of a file, such as /etc/chrony/chrony.conf.");
        return -EINVAL;
}

static int ntp_service_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *s = json_string_value(v);

        (void) source_text;
        if (!s)
                return 0;
        if (s[0] != '\0' && s[0] != '-' && strlen(s) == json_string_length(v) &&
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.@-") == strlen(s))
                return 0;
        (void) snprintf(message, size, "must be a systemd unit name such as chronyd, made of letters, digits, "
                        "':', '_', '.', '@' and '-'.");
        return -EINVAL;
}

/* Render a config.template as cloud-init's templater does. A first line "## template: jinja"
 * selects Jinja, rendered with vars ({servers, pools, peers, allow}). cloud-init's basic renderer
 * (a "## template: basic" line, or none) replaces $name and ${name}; kiln does not have it, so such
 * a template is accepted only when it contains no '$' and is then copied as it is.
 * Returns 0 with *ret (caller owns), 1 likewise with the first warning about an undefined variable
 * in reason, -EINVAL with the reason in reason, or -ENOMEM. */
static int ntp_template_render(const char *template, const json_t *vars, char **ret, char *reason, size_t size) {
        _cleanup_free_ char *type = NULL;
        json_auto_t *warnings = NULL;
        const char *body = template, *p = template;
        JinjaError error = {};
        size_t n;
        int r;

        if (strneq(p, "##", 2)) {
                p += 2 + strspn(p + 2, " \t");
                if (strncasecmp(p, "template:", 9) == 0) {
                        p += 9;
                        n = strcspn(p, "\n");
                        type = strndup(p, n);
                        if (!type)
                                return -ENOMEM;
                        body = p[n] == '\n' ? p + n + 1 : p + n;
                        /* The type is matched without surrounding blanks or letter case. */
                        p = type + strspn(type, " \t\r");
                        n = strlen(p);
                        while (n > 0 && strchr(" \t\r", p[n - 1]))
                                n--;
                        if (!((n == 5 && strncasecmp(p, "jinja", 5) == 0) ||
                              (n == 5 && strncasecmp(p, "basic", 5) == 0))) {
                                (void) snprintf(reason, size, "names the template type '%.*s'; use "
                                                "'## template: jinja'", (int) MIN(n, (size_t) 40), p);
                                return -EINVAL;
                        }
                        if (strncasecmp(p, "jinja", 5) != 0) {
                                free(type);
                                type = NULL;
                        }
                }
        }

        if (!type) {
                if (strchr(body, '$')) {
                        (void) snprintf(reason, size, "uses the variables of cloud-init's basic templates ('$'), "
                                        "which kiln does not render; start it with the line '## template: jinja' "
                                        "and write {{ servers }} and the like");
                        return -EINVAL;
                }
                *ret = strdup(body);
                return *ret ? 0 : -ENOMEM;
        }

        r = jinja_render(body, strlen(body), vars, ret, &n, &warnings, &error);
        if (r == -EINVAL) {
                (void) snprintf(reason, size, "cannot be rendered: line %u: %s", error.line + 1, error.message);
                return r;
        }
        if (r < 0)
                return r;
        if (json_array_size(warnings) > 0) {
                const json_t *w = json_array_get(warnings, 0);

                (void) snprintf(reason, size, "line %d: %s", (int) json_integer_value(json_object_get(w, "line")) + 1,
                                json_string_value(json_object_get(w, "message")) ?: "undefined variable");
                return 1;
        }
        return 0;
}

/* The keys that config must give for a client that kiln does not know, as in cloud-init. */
static const char *const ntp_custom_client_keys[] = { "check_exe", "confpath", "packages", "service_name",
                                                      "template" };

/* Checks of the ntp mapping that span its keys: a client that kiln does not know needs all of
 * config's keys, and a template must render. */
static int ntp_mapping_check(const json_t *v, const char *source_text, char *message, size_t size) {
        json_auto_t *vars = NULL;
        _cleanup_free_ char *rendered = NULL;
        const char *client = json_string_value(json_object_get(v, "ntp_client"));
        const json_t *config = json_object_get(v, "config");
        const char *template = json_string_value(json_object_get(config, "template"));
        char reason[SHAPE_MESSAGE_MAX / 2] = "";
        int r;

        (void) source_text;
        if (!json_is_object(v))
                return 0;

        if (client && client[0] && !streq(client, "auto") && ntp_client_from_string(client) < 0)
                for (size_t i = 0; i < ELEMENTSOF(ntp_custom_client_keys); i++)
                        if (!json_object_get(config, ntp_custom_client_keys[i])) {
                                (void) snprintf(message, size, "names the NTP client '%.40s', which kiln does not "
                                                "know, without config.%s. Use chrony, ntp, ntpdate, openntpd or "
                                                "systemd-timesyncd, or give config.check_exe, confpath, "
                                                "packages, service_name and template.", client,
                                                ntp_custom_client_keys[i]);
                                return -EINVAL;
                        }

        if (!template)
                return 0;
        vars = json_object();
        if (!vars)
                return -ENOMEM;
        for (size_t i = 0; i < 4; i++) {
                static const char *const keys[] = { "servers", "pools", "peers", "allow" };
                const json_t *list = json_object_get(v, keys[i]);

                if (json_object_set_new(vars, keys[i], json_is_array(list) ? json_deep_copy(list) : json_array()) < 0)
                        return -ENOMEM;
        }
        r = ntp_template_render(template, vars, &rendered, reason, sizeof(reason));
        if (r == -ENOMEM)
                return r;
        if (r == 0)
                return 0;
        (void) snprintf(message, size, "has a config.template that %s%s", r > 0 ? "refers to an undefined "
                        "variable, " : "", reason);
        return r > 0 ? SHAPE_CHECK_WARNING : -EINVAL;
}

/* ---- The run ---- */

/* The list keys of the ntp mapping, in the order their lines are written. */
typedef enum NtpList {
        NTP_LIST_POOLS,
        NTP_LIST_SERVERS,
        NTP_LIST_PEERS,
        NTP_LIST_ALLOW,
        _NTP_LIST_MAX,
} NtpList;

static const char *const ntp_list_table[_NTP_LIST_MAX] = {
        [NTP_LIST_POOLS] = "pools",
        [NTP_LIST_SERVERS] = "servers",
        [NTP_LIST_PEERS] = "peers",
        [NTP_LIST_ALLOW] = "allow",
};

/* The client that this run configures. */
typedef struct NtpChoice {
        const char *name;        /* borrowed: from the table or the config */
        NtpClientInfo info;      /* with config's values applied */
        const json_t *packages;  /* config.packages, borrowed, or NULL */
        const char *template;    /* config.template, borrowed, or NULL */
        const char *pool_zone;   /* of the default pools, "" for the global zone */
} NtpChoice;

/* The item index in a diagnostic's path ("servers.2" is 2), or -1. */
static int ntp_path_item(const char *path) {
        const char *last = strrchr(path, '.');
        unsigned item;

        if (last && safe_atou(last + 1, &item) >= 0 && item <= INT_MAX)
                return (int) item;
        return -1;
}

static void ntp_report_diagnostic(const SchemaDiagnostic *d, void *userdata) {
        Context *ctx = userdata;
        const char *separator = d->path[0] ? "." : "";

        /* No default case: the compiler warns when a problem kind is missing. Key problems were
         * reported when the run began, for the whole config. */
        switch (d->problem) {
        case SCHEMA_UNKNOWN_KEY:
        case SCHEMA_UNSUPPORTED_KEY:
        case SCHEMA_DEPRECATED_KEY:
                break;
        case SCHEMA_WARNING:
                report_warning(ctx, ntp_path_item(d->path), "ntp%s%s", separator, d->message);
                break;
        case SCHEMA_ERROR:
                (void) report_error(ctx, ntp_path_item(d->path), 0, "ntp%s%s", separator, d->message);
                break;
        case _SCHEMA_PROBLEM_MAX:
        case _SCHEMA_PROBLEM_INVALID:
                break;
        }
}

/* A system_info setting from the user's config or else the image's (borrowed), or NULL. */
static const char *ntp_system_info(const Context *ctx, const char *key) {
        const json_t *sources[] = { ctx->config, ctx->system_config };

        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                const char *s = json_string_value(json_get_path(sources[i], "system_info", key, NULL));

                if (s && s[0])
                        return s;
        }
        return NULL;
}

/* The distribution's name as cloud-init's distro classes call it: system_info.distro, or the ID of
 * the root's /etc/os-release. Caller owns it; "" when unknown. */
static char *ntp_distro_name(const Context *ctx) {
        json_auto_t *data = NULL;
        const char *name = ntp_system_info(ctx, "distro");

        if (!name) {
                data = instance_data_build(ctx);
                name = json_string_value(json_get_path(data, "v1", "distro", NULL)) ?: "";
        }
        /* The instance data says "redhat", as cloud-init's; its distro class is "rhel". */
        return strdup(streq(name, "redhat") ? "rhel" : name);
}

/* Choose the client as cloud-init's select_ntp_client() does: ntp_client, else
 * system_info.ntp_client, else 'auto', and apply config's values to it. Returns 0, or -ENOMEM after
 * reporting. */
static int ntp_choose(Context *ctx, const json_t *ntp, NtpChoice *ret) {
        _cleanup_free_ char *distro = ntp_distro_name(ctx);
        const json_t *config = json_object_get(ntp, "config");
        const char *name = json_string_value(json_object_get(ntp, "ntp_client"));
        NtpFamily family = NTP_FAMILY_OTHER;
        NtpChoice c = {};
        NtpClient client;
        int d;

        if (!distro)
                return report_error(ctx, -1, -ENOMEM, "Failed to choose the NTP client: %m");
        d = ntp_distro_find(distro);
        if (d >= 0)
                family = ntp_distro_table[d].family;

        if (!name || !name[0] || streq(name, "auto"))
                name = ntp_system_info(ctx, "ntp_client");
        client = name && !streq(name, "auto") ? ntp_client_from_string(name) : _NTP_CLIENT_INVALID;

        if (!name || streq(name, "auto")) {
                const NtpClient *preferred = ntp_preferred_clients(family);

                client = preferred[0];
                for (const NtpClient *p = preferred; *p >= 0; p++) {
                        NtpClientInfo info = ntp_client_info(ctx->root_fd, *p, family);

                        if (exec_find_in_root(ctx->root_fd, info.check_exe, /* ret_path= */ NULL) > 0) {
                                client = *p;
                                break;
                        }
                }
                log_debug("Chose the NTP client '%s' for the distribution '%s'.", ntp_client_table[client],
                          distro[0] ? distro : "unknown");
        }

        if (client >= 0) {
                c.name = ntp_client_table[client];
                c.info = ntp_client_info(ctx->root_fd, client, family);
        } else
                c.name = name;
        c.info.check_exe = json_string_value(json_object_get(config, "check_exe")) ?: c.info.check_exe;
        c.info.confpath = json_string_value(json_object_get(config, "confpath")) ?: c.info.confpath;
        c.info.service_name = json_string_value(json_object_get(config, "service_name")) ?: c.info.service_name;
        c.packages = json_object_get(config, "packages");
        c.template = json_string_value(json_object_get(config, "template"));
        c.pool_zone = d >= 0 ? ntp_distro_table[d].pool_zone : "";
        *ret = c;
        return 0;
}

/* The client must be in the image, because kiln installs no packages. Returns 0, or -ENOENT after
 * reporting which package to install. */
static int ntp_check_installed(Context *ctx, const NtpChoice *c) {
        _cleanup_free_ char *packages = NULL;
        int r;

        r = exec_find_in_root(ctx->root_fd, c->info.check_exe, /* ret_path= */ NULL);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to look for '%s': %m", c->info.check_exe);
        if (r > 0)
                return 0;

        if (c->packages)
                packages = json_to_message(c->packages, NTP_SHOWN_VALUE_MAX);
        else if (c->info.package && asprintf(&packages, "'%s'", c->info.package) < 0)
                packages = NULL;
        return report_error(ctx, -1, -ENOENT,
                            "The NTP client '%s' is not installed in the image ('%s' not found), and kiln does not "
                            "install packages. Install %s%s in the image, or choose another client with "
                            "ntp.ntp_client. No NTP configuration was written.", c->name, c->info.check_exe,
                            packages ? "the package " : "the client's package", packages ?: "");
}

/* The entries of each list, without repeats, the default pools added when there are neither
 * servers nor pools. lists[] receives new references. */
static int ntp_lists_build(const json_t *ntp, const NtpChoice *c, json_t *lists[_NTP_LIST_MAX]) {
        bool busybox = !c->template && c->info.format == NTP_FORMAT_NTP_BUSYBOX;
        json_t *defaults;

        for (size_t k = 0; k < _NTP_LIST_MAX; k++) {
                const json_t *given = json_object_get(ntp, ntp_list_table[k]);
                const json_t *entry;
                size_t i;

                lists[k] = json_array();
                if (!lists[k])
                        return -ENOMEM;
                json_array_foreach(given, i, entry) {
                        bool seen = false;

                        for (size_t j = 0; j < json_array_size(lists[k]) && !seen; j++)
                                seen = json_equal(json_array_get(lists[k], j), entry);
                        if (!seen && json_array_append(lists[k], (json_t *) entry) < 0)
                                return -ENOMEM;
                }
        }

        /* BusyBox's ntpd has no pools, so it gets the default names as servers unless servers are
         * given; other clients get them as pools when neither is given. */
        if (busybox ? json_array_size(lists[NTP_LIST_SERVERS]) > 0 :
                      json_array_size(lists[NTP_LIST_SERVERS]) + json_array_size(lists[NTP_LIST_POOLS]) > 0)
                return 0;
        defaults = lists[busybox ? NTP_LIST_SERVERS : NTP_LIST_POOLS];
        for (unsigned i = 0; i < NTP_DEFAULT_POOLS; i++) {
                char name[64];

                (void) snprintf(name, sizeof(name), "%u.%s%spool.ntp.org", i, c->pool_zone,
                                c->pool_zone[0] ? "." : "");
                if (json_array_append_new(defaults, json_string(name)) < 0)
                        return -ENOMEM;
        }
        log_debug("No servers or pools are given, using %u.%s%spool.ntp.org to %u.", 0U, c->pool_zone,
                  c->pool_zone[0] ? "." : "", NTP_DEFAULT_POOLS - 1);
        return 0;
}

/* Warn about entries of a kind the client's configuration has no place for. */
static void ntp_warn_unused(Context *ctx, const NtpChoice *c, json_t *const lists[_NTP_LIST_MAX]) {
        const NtpLayout *l = &ntp_layout_table[c->info.format];
        bool timesyncd = c->info.format == NTP_FORMAT_TIMESYNCD;
        const char *keyword[_NTP_LIST_MAX] = {
                [NTP_LIST_POOLS] = timesyncd ? "NTP=" : l->pool,
                [NTP_LIST_SERVERS] = timesyncd ? "NTP=" : l->server,
                [NTP_LIST_PEERS] = l->peer,
                [NTP_LIST_ALLOW] = l->allow,
        };

        if (c->template)
                return;
        for (size_t k = 0; k < _NTP_LIST_MAX; k++)
                if (!keyword[k] && json_array_size(lists[k]) > 0)
                        report_warning(ctx, -1, "ntp.%s: the configuration of the NTP client '%s' has no "
                                       "setting for them, ignoring %zu entries.", ntp_list_table[k], c->name,
                                       json_array_size(lists[k]));
}

static void ntp_write_lines(FILE *f, const json_t *list, const char *keyword, const char *suffix) {
        const json_t *entry;
        size_t i;

        if (!keyword)
                return;
        json_array_foreach(list, i, entry)
                fprintf(f, "%s %s%s\n", keyword, json_string_value(entry), suffix ?: "");
}

/* Render kiln's own configuration file for a layout. Caller owns *ret. */
static int ntp_render_layout(NtpFormat format, json_t *const lists[_NTP_LIST_MAX], char **ret) {
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

static int ntp_render(Context *ctx, const NtpChoice *c, json_t *const lists[_NTP_LIST_MAX], char **ret) {
        json_auto_t *vars = NULL;
        char reason[512] = "";
        int r;

        if (!c->template) {
                r = ntp_render_layout(c->info.format, lists, ret);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to render the configuration of '%s': %m", c->name);
                return 0;
        }

        vars = json_pack("{s:O, s:O, s:O, s:O}", "servers", lists[NTP_LIST_SERVERS], "pools",
                         lists[NTP_LIST_POOLS], "peers", lists[NTP_LIST_PEERS], "allow", lists[NTP_LIST_ALLOW]);
        if (!vars)
                return report_error(ctx, -1, -ENOMEM, "Failed to render ntp.config.template: %m");
        r = ntp_template_render(c->template, vars, ret, reason, sizeof(reason));
        if (r == -ENOMEM)
                return report_error(ctx, -1, r, "Failed to render ntp.config.template: %m");
        if (r < 0)
                return report_error(ctx, -1, 0, "ntp.config.template %s.", reason);
        /* An undefined variable (r > 0) was reported when the ntp key was checked. */
        return 0;
}

/* Write the client's configuration file. The file it replaces is kept once as PATH.dist, as
 * cloud-init keeps it, and a later run leaves that copy alone. Returns 1 when written, 0 when the
 * file already has this content, <0 after reporting. */
static int ntp_config_write(Context *ctx, const char *path, const char *text) {
        _cleanup_free_ char *old = NULL, *dist = NULL;
        size_t size = 0;
        int r;

        r = read_file_at(ctx->root_fd, path, NTP_CONFIG_FILE_MAX, &old, &size);
        if (r < 0 && r != -ENOENT)
                return report_error(ctx, -1, r, "Failed to read '%s': %m", path);
        if (r >= 0 && size == strlen(text) && memcmp(old, text, size) == 0) {
                log_debug("'%s' already has this configuration.", path);
                return 0;
        }

        if (r >= 0) {
                if (asprintf(&dist, "%s.dist", path) < 0)
                        return report_error(ctx, -1, -ENOMEM, "Failed to keep a copy of '%s': %m", path);
                r = root_exists(ctx->root_fd, dist);
                if (r == 0)
                        r = write_file_atomic(ctx->root_fd, dist, old, size, 0644, (uid_t) -1, (gid_t) -1,
                                              WRITE_SYNC);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to keep a copy of '%s' as '%s': %m", path, dist);
        }

        r = write_file_atomic(ctx->root_fd, path, text, strlen(text), 0644, (uid_t) -1, (gid_t) -1,
                              WRITE_MKDIR_PARENTS | WRITE_SYNC);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write '%s': %m", path);
        return 1;
}

/* Ask systemd to restart the client so that it reads the new file. Only for the running system:
 * the client of an image or a scratch root reads the file when that system starts it. The job is
 * queued without waiting (--no-block), because the client's unit may be ordered after kiln's, and
 * reload-or-restart also starts a stopped client, as cloud-init does. */
static int ntp_service_restart(Context *ctx, const NtpChoice *c) {
        _cleanup_free_ char *unit = NULL;
        _cleanup_close_ int output_fd = -EBADF;

        if (!ctx->root_is_host) {
                log_info("The root is not the running system, so the service '%s' is left to start with it.",
                         c->info.service_name);
                return 0;
        }
        if (root_exists(ctx->root_fd, SYSTEMD_RUNTIME_DIR) <= 0) {
                log_info("systemd is not the init system, so the service '%s' is not restarted.",
                         c->info.service_name);
                return 0;
        }

        if (strchr(c->info.service_name, '.'))
                unit = strdup(c->info.service_name);
        else if (asprintf(&unit, "%s.service", c->info.service_name) < 0)
                unit = NULL;
        if (!unit)
                return report_error(ctx, -1, -ENOMEM, "Failed to restart '%s': %m", c->info.service_name);

        output_fd = command_output_open(ctx, "ntp");
        return command_run(ctx, "systemctl reload-or-restart", -1,
                           (char *[]) { "systemctl", "--no-block", "reload-or-restart", unit, NULL }, output_fd);
}

static const KeyField ntp_fields[];

static int ntp_run(Context *ctx, const json_t *config) {
        const json_t *ntp = json_object_get(config, "ntp");
        _cleanup_free_ char *text = NULL;
        json_t *lists[_NTP_LIST_MAX] = {};
        const json_t *enabled;
        NtpChoice choice = {};
        int r;

        r = schema_check_shape(&ntp_fields[0].shape, ntp, /* positions= */ NULL, 0, ntp_report_diagnostic, ctx);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to check the ntp key: %m");
        if (r > 0)
                return -EINVAL;

        /* A string such as "no" was accepted with a warning by the check. */
        enabled = json_object_get(ntp, "enabled");
        if (json_is_false(enabled) || (json_is_string(enabled) && parse_boolean(json_string_value(enabled)) == 0)) {
                log_info("ntp.enabled is false, leaving the NTP configuration unchanged.");
                return 0;
        }

        r = ntp_choose(ctx, ntp, &choice);
        if (r < 0)
                return r;
        r = ntp_check_installed(ctx, &choice);
        if (r < 0)
                return r;

        r = ntp_lists_build(ntp, &choice, lists);
        if (r >= 0) {
                ntp_warn_unused(ctx, &choice, lists);
                r = ntp_render(ctx, &choice, lists, &text);
        } else
                r = report_error(ctx, -1, r, "Failed to collect the NTP servers: %m");
        for (size_t k = 0; k < _NTP_LIST_MAX; k++)
                json_decref(lists[k]);
        if (r < 0)
                return r;

        r = ntp_config_write(ctx, choice.info.confpath, text);
        if (r <= 0)
                return r;
        log_info("Wrote '%s' for the NTP client '%s'.", choice.info.confpath, choice.name);

        r = ntp_service_restart(ctx, &choice);
        if (r < 0)
                return r;
        return 1;
}

static const char *const ntp_config_keys[] = { "ntp", NULL };

static const KeyShape ntp_host_shape = { .types = SHAPE_STRING, .check = ntp_host_check };
static const KeyShape ntp_allow_shape = { .types = SHAPE_STRING, .check = ntp_allow_check };
static const KeyShape ntp_package_shape = { .types = SHAPE_STRING };

static const KeyField ntp_client_config_fields[] = {
        { .name = "confpath", .shape = { .types = SHAPE_STRING, .check = ntp_path_check },
          .description = "The path of the configuration file to write." },
        { .name = "check_exe", .shape = { .types = SHAPE_STRING },
          .description = "The client's executable, a name looked up in the image's PATH or an absolute path. "
                         "The configuration is written only when the image has it." },
        { .name = "packages", .shape = { .types = SHAPE_LIST, .items = &ntp_package_shape, .check = ntp_list_check },
          .description = "The packages that provide the client, named in the error when it is missing: kiln "
                         "does not install packages." },
        { .name = "service_name", .shape = { .types = SHAPE_STRING, .check = ntp_service_check },
          .description = "The client's systemd unit, restarted when kiln configures the running system." },
        { .name = "template", .shape = { .types = SHAPE_STRING },
          .description = "The configuration file as a template whose first line is '## template: jinja'. "
                         "It can use servers, pools, peers and allow." },
        {}
};

static const KeyField ntp_mapping_fields[] = {
        { .name = "enabled", .shape = { .types = SHAPE_BOOLEAN, .boolean_strings = true },
          .description = "Configure the NTP client. Default: true." },
        { .name = "ntp_client", .shape = { .types = SHAPE_STRING },
          .description = "The client to configure: auto, chrony, ntp, ntpdate, openntpd or systemd-timesyncd. "
                         "auto takes the distribution's first preferred client that the image has. "
                         "Default: auto." },
        { .name = "servers", .shape = { .types = SHAPE_LIST, .items = &ntp_host_shape, .check = ntp_list_check },
          .description = "NTP servers, host names or addresses. Without servers and pools, the four pools "
                         "{0-3}.<distribution>.pool.ntp.org are used." },
        { .name = "pools", .shape = { .types = SHAPE_LIST, .items = &ntp_host_shape, .check = ntp_list_check },
          .description = "NTP pools, host names that resolve to many servers." },
        { .name = "peers", .shape = { .types = SHAPE_LIST, .items = &ntp_host_shape, .check = ntp_list_check },
          .description = "NTP peers, host names or addresses." },
        { .name = "allow", .shape = { .types = SHAPE_LIST, .items = &ntp_allow_shape, .check = ntp_list_check },
          .description = "Networks (address/bits) or addresses that may query this host's chrony, or 'all'." },
        { .name = "config", .shape = { .types = SHAPE_MAPPING, .fields = ntp_client_config_fields },
          .description = "Values that replace the chosen client's defaults." },
        {}
};

static const KeyField ntp_fields[] = {
        { .name = "ntp",
          .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = ntp_mapping_fields, .check = ntp_mapping_check },
          .description = "Configure the image's NTP client: chrony, ntpd, ntpdate, openntpd or "
                         "systemd-timesyncd." },
        {}
};

const AgentModule module_ntp = {
        .name = "ntp",
        .config_keys = ntp_config_keys,
        .config_fields = ntp_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = true,
        .run = ntp_run,
};
