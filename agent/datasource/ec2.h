/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the EC2 datasource, declared here so that unit tests can call them. The datasource
 * itself is datasource_ec2 in datasource.h. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "context.h"
#include "lib/macro.h"

/* Defaults of the settings under datasource.ec2 in kiln.yaml. */
#define EC2_DEFAULT_METADATA_URLS { "http://169.254.169.254", "http://[fd00:ec2::254]" }
#define EC2_DEFAULT_TIMEOUT_USEC (10 * USEC_PER_SEC)    /* one request, connection included */
#define EC2_DEFAULT_MAX_WAIT_USEC (120 * USEC_PER_SEC)  /* the whole fetch, every retry included */
#define EC2_DEFAULT_IMDSV1_FALLBACK true
#define EC2_DEFAULT_TOKEN_TTL_SEC 21600U

/* The metadata service accepts token lifetimes of 1 s to 6 hours. */
#define EC2_TOKEN_TTL_SEC_MIN 1U
#define EC2_TOKEN_TTL_SEC_MAX 21600U
/* Bounds for timeout and max_wait: the HTTP client needs at least 1 ms for a request, and the upper
 * bound keeps deadlines from overflowing. */
#define EC2_SETTING_DURATION_USEC_MIN USEC_PER_MSEC
#define EC2_SETTING_DURATION_USEC_MAX (24 * 3600 * USEC_PER_SEC)
/* Maximum length in bytes of a list or mapping value as warnings show it. */
#define EC2_SETTING_SHOWN_VALUE_MAX 200
#define EC2_METADATA_URLS_MAX 16

typedef struct Ec2Settings {
        char **metadata_urls;    /* NULL-terminated, never empty, no trailing '/' */
        usec_t timeout_usec;
        usec_t max_wait_usec;
        bool imdsv1_fallback;
        unsigned token_ttl_sec;
} Ec2Settings;

/* Read datasource.ec2 from ctx->system_config (which may be NULL or lack the keys). An invalid or
 * unknown setting, and a datasource or datasource.ec2 that is not a mapping, is reported with
 * report_warning(), naming the key, the value and the default used instead.
 * Returns 0 or -ENOMEM. */
int ec2_settings_parse(Context *ctx, Ec2Settings *ret);
void ec2_settings_done(Ec2Settings *s);

/* Whether a system UUID marks an EC2 instance. It does when it starts with "ec2", in any case, as
 * text or with the bytes of its first three fields reversed. Some instances report the UUID in that
 * little-endian order, as in 45E12AEC-DCD1-B213-..., which reversed starts with EC2AE145. */
bool ec2_uuid_is_ec2(const char *uuid);

/* Whether DMI and hypervisor data mark an EC2 instance. Each argument is a file's content, or NULL
 * when the file is missing. Trailing newlines are ignored. */
bool ec2_dmi_is_ec2(const char *hypervisor_uuid, const char *product_uuid, const char *sys_vendor);

/* Derive the region from an availability zone name: "us-east-1a" -> "us-east-1",
 * "us-west-2-lax-1a" (a Local Zone) -> "us-west-2". The region ends with the first dash-separated
 * field that starts with a digit, without the letters that follow its digits.
 * Returns 0 with *ret (caller owns it), -EINVAL when the name has no such field, or -ENOMEM. */
int ec2_region_from_availability_zone(const char *availability_zone, char **ret);

/* Split a metadata listing into its entries, one per line. Blanks and CR around an entry are
 * removed, empty lines are dropped, and so is every entry after EC2_LISTING_ENTRIES_MAX.
 * Returns 0 with *ret (caller owns it, NULL-terminated), 1 with *ret when entries were dropped
 * for the limit, or -ENOMEM. */
#define EC2_LISTING_ENTRIES_MAX 1024
int ec2_split_listing(const char *text, char ***ret);

/* One entry of the public-keys/ listing, "0=my-key". */
typedef struct Ec2PublicKeyEntry {
        unsigned index;
        char *name;
} Ec2PublicKeyEntry;

/* Parse the public-keys/ listing: "INDEX=NAME" per line. Lines of another shape are skipped and
 * returned in *ret_invalid. Returns 0 with *ret, *ret_n and *ret_invalid (caller owns them, free
 * with ec2_public_key_entries_free() and strv_free()), 1 with them when entries were dropped for
 * EC2_LISTING_ENTRIES_MAX, or -ENOMEM. */
int ec2_parse_public_key_listing(const char *text, Ec2PublicKeyEntry **ret, size_t *ret_n, char ***ret_invalid);
Ec2PublicKeyEntry *ec2_public_key_entries_free(Ec2PublicKeyEntry *entries, size_t n);

/* Whether a string can serve as an instance id: it becomes a directory name under the state
 * directory, so it is 1 to 255 bytes of letters, digits, '.', '_', ':' and '-', and not "." or "..". */
bool ec2_instance_id_is_valid(const char *id);

/* Whether kiln may request an instance tag key: 1 to 128 bytes of letters, digits and
 * + - = . , _ : @, and not ".", ".." or "_index". Other keys could change the request path, so
 * they are never requested. */
bool ec2_tag_key_is_valid(const char *key);

/* Append the SSH keys in a public key body to the JSON array keys: one key per line, blank lines
 * and '#' comments skipped. Returns 0 or -ENOMEM. */
int ec2_append_ssh_keys(const char *body, json_t *keys);
