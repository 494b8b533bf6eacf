/* SPDX-License-Identifier: Apache-2.0 */
/* Private interface between the files of the ntp module: ntp.c (the run and the key table),
 * ntp-clients.c (clients, distributions and configuration layouts) and ntp-checks.c (checks of
 * config values, shared by `kiln validate` and the run). */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

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

typedef enum NtpClient {
        NTP_CLIENT_CHRONY,
        NTP_CLIENT_NTP,
        NTP_CLIENT_NTPDATE,
        NTP_CLIENT_OPENNTPD,
        NTP_CLIENT_TIMESYNCD,
        _NTP_CLIENT_MAX,
        _NTP_CLIENT_INVALID = -EINVAL,
} NtpClient;

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

/* What the module needs to know about one client on one distribution. */
typedef struct NtpClientInfo {
        const char *check_exe;   /* a command name, or an absolute path inside the root */
        const char *confpath;
        const char *package;     /* what to install for it, or NULL when no package is known */
        const char *service_name;
        NtpFormat format;
} NtpClientInfo;

typedef enum NtpFamily {
        NTP_FAMILY_OTHER,
        NTP_FAMILY_DEBIAN,
        NTP_FAMILY_RHEL,
        NTP_FAMILY_SUSE,
        NTP_FAMILY_ALPINE,
        NTP_FAMILY_PHOTON,
        _NTP_FAMILY_MAX,
} NtpFamily;

/* A distribution by the name cloud-init gives it, with the zone of its default pools: the vendor
 * zones of pool.ntp.org, "" for the global zone. */
typedef struct NtpDistro {
        const char *name;
        NtpFamily family;
        const char *pool_zone;
} NtpDistro;

/* The list keys of the ntp mapping, in the order their lines are written. */
typedef enum NtpList {
        NTP_LIST_POOLS,
        NTP_LIST_SERVERS,
        NTP_LIST_PEERS,
        NTP_LIST_ALLOW,
        _NTP_LIST_MAX,
} NtpList;

extern const char *const ntp_client_table[_NTP_CLIENT_MAX];
extern const NtpLayout ntp_layout_table[_NTP_FORMAT_MAX];
extern const NtpDistro ntp_distro_table[];
extern const char *const ntp_list_table[_NTP_LIST_MAX];

NtpClient ntp_client_from_string(const char *s);
const NtpClient *ntp_preferred_clients(NtpFamily family);
NtpClientInfo ntp_client_info(int root_fd, NtpClient client, NtpFamily family);
/* The index of the distribution in ntp_distro_table, or -ENOENT. */
int ntp_distro_find(const char *name);
/* Render kiln's own configuration file for a layout. Caller owns *ret. */
int ntp_render_layout(NtpFormat format, json_t *const lists[_NTP_LIST_MAX], char **ret);

char *ntp_shown(const json_t *v);
int ntp_template_render(const char *template, const json_t *vars, char **ret, char *reason, size_t size);
int ntp_host_check(const json_t *v, const char *source_text, char *message, size_t size);
int ntp_allow_check(const json_t *v, const char *source_text, char *message, size_t size);
int ntp_list_check(const json_t *v, const char *source_text, char *message, size_t size);
int ntp_path_check(const json_t *v, const char *source_text, char *message, size_t size);
int ntp_service_check(const json_t *v, const char *source_text, char *message, size_t size);
int ntp_mapping_check(const json_t *v, const char *source_text, char *message, size_t size);
