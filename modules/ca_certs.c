/* SPDX-License-Identifier: Apache-2.0 */
/* The ca_certs module: adds trusted CA certificates to the image's trust store and can distrust the
 * distribution's default ones, as cloud-init's ca_certs module does for the Debian, Alpine and
 * RHEL trust store layouts. */

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "command.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "report.h"

/* Maximum size of one trusted item. A CA certificate is one or two KiB; a chain of a few dozen
 * fits easily. */
#define CA_CERT_SIZE_MAX (256U * 1024U)
/* Maximum size of /etc/ca-certificates.conf, which lists about 150 certificates in 10 KiB. */
#define CA_CERT_CONFIG_MAX (1024U * 1024U)
/* Maximum depth of the directories that remove_defaults empties on the RHEL layout. */
#define CA_SOURCE_DEPTH_MAX 8U
/* Maximum length of a shown value in error messages. */
#define CA_SHOWN_VALUE_MAX 80U

/* The line that marks /etc/ca-certificates.conf as edited, written once above the first
 * deselected entry. */
#define CA_CERT_CONFIG_HEADER "# Modified by kiln to deselect certs due to user-data"
/* The debconf selection that keeps ca-certificates upgrades from trusting new default certificates. */
#define DEBCONF_TRUST_NEW_NO "ca-certificates ca-certificates/trust_new_crts select no\n"

typedef enum TrustLayout {
        TRUST_LAYOUT_DEBIAN,
        TRUST_LAYOUT_ALPINE,
        TRUST_LAYOUT_RHEL,
        _TRUST_LAYOUT_MAX,
        _TRUST_LAYOUT_INVALID = -EINVAL,
} TrustLayout;

/* Where one layout keeps its trust store, with the file names of cloud-init's distro table, so
 * an image that cloud-init configured before keeps one file per certificate. */
typedef struct TrustStore {
        const char *name;
        const char *cert_dir;              /* the directory that receives the trusted items */
        const char *config_file;           /* the list of selected default certificates, or NULL */
        const char *const *source_dirs;    /* directories whose files remove_defaults deletes, or NULL */
        const char *update_command;
        bool debconf;                      /* tell debconf not to trust new default certificates */
} TrustStore;

static const char *const rhel_source_dirs[] = {
        /* The distribution's bundle (ca-bundle.trust.p11-kit) and the anchors of other packages. */
        "/usr/share/pki/ca-trust-source",
        /* Anchors and blocklists that an administrator added. */
        "/etc/pki/ca-trust/source",
        NULL,
};

static const TrustStore trust_stores[_TRUST_LAYOUT_MAX] = {
        [TRUST_LAYOUT_DEBIAN] = {
                .name = "Debian",
                .cert_dir = "/usr/local/share/ca-certificates",
                .config_file = "/etc/ca-certificates.conf",
                .update_command = "update-ca-certificates",
                .debconf = true,
        },
        [TRUST_LAYOUT_ALPINE] = {
                .name = "Alpine",
                .cert_dir = "/usr/local/share/ca-certificates",
                .config_file = "/etc/ca-certificates.conf",
                .update_command = "update-ca-certificates",
        },
        [TRUST_LAYOUT_RHEL] = {
                .name = "RHEL",
                .cert_dir = "/usr/share/pki/ca-trust-source/anchors",
                .source_dirs = rhel_source_dirs,
                .update_command = "update-ca-trust",
        },
};

static void bio_free_allp(BIO **b) {
        BIO_free_all(*b);
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

/* Whether the image has the command, as exec_in_root() looks it up. Returns 1, 0 or -ENOMEM. */
static int command_find(int root_fd, const char *name) {
        return exec_find_in_root(root_fd, name, /* ret_path= */ NULL);
}

/* Find the trust store layout of the root from the files its packages install: update-ca-trust
 * or /etc/pki/ca-trust (RHEL, Fedora, Amazon Linux), /etc/alpine-release, or update-ca-certificates
 * or /etc/ca-certificates.conf (Debian, Ubuntu). */
static TrustLayout trust_layout_detect(int root_fd) {
        if (command_find(root_fd, "update-ca-trust") > 0 || root_exists(root_fd, "/etc/pki/ca-trust") > 0)
                return TRUST_LAYOUT_RHEL;
        if (root_exists(root_fd, "/etc/alpine-release") > 0)
                return TRUST_LAYOUT_ALPINE;
        if (command_find(root_fd, "update-ca-certificates") > 0 ||
            root_exists(root_fd, "/etc/ca-certificates.conf") > 0 ||
            root_exists(root_fd, "/etc/debian_version") > 0)
                return TRUST_LAYOUT_DEBIAN;
        return _TRUST_LAYOUT_INVALID;
}

/* Check one PEM block: a CERTIFICATE whose DER is one X.509 certificate and nothing more. */
static int pem_block_check(const char *name, const unsigned char *der, long length, char *reason,
                           size_t size) {
        const unsigned char *p = der;
        X509 *cert;

        if (!streq(name, "CERTIFICATE")) {
                (void) snprintf(reason, size, "contains a PEM block of type '%.40s', not a certificate", name);
                return -EINVAL;
        }

        cert = d2i_X509(/* a= */ NULL, &p, length);
        if (!cert) {
                (void) snprintf(reason, size, "contains a CERTIFICATE block that is not a valid X.509 certificate");
                return -EINVAL;
        }
        X509_free(cert);
        if (p != der + length) {
                (void) snprintf(reason, size, "contains a CERTIFICATE block with data after the certificate");
                return -EINVAL;
        }
        return 0;
}

/* Check that text contains one or more PEM certificates and no other PEM block, such as a private key
 * that would become world-readable in the trust store. Returns the number of certificates, or
 * -EINVAL with the reason in reason (size bytes), which follows the item's name. */
static int pem_certificates_check(const char *text, size_t length, char *reason, size_t size) {
        _cleanup_(bio_free_allp) BIO *bio = NULL;
        int n = 0;

        if (length == 0) {
                (void) snprintf(reason, size, "is empty, not a PEM certificate");
                return -EINVAL;
        }
        if (length > CA_CERT_SIZE_MAX) {
                (void) snprintf(reason, size, "has %zu bytes, more than the maximum of %u", length, CA_CERT_SIZE_MAX);
                return -EINVAL;
        }
        if (strlen(text) != length) {
                (void) snprintf(reason, size, "contains a NUL byte, so it is not a PEM certificate");
                return -EINVAL;
        }

        bio = BIO_new_mem_buf(text, (int) length);
        if (!bio)
                return -ENOMEM;

        for (;;) {
                char *name = NULL, *header = NULL;
                unsigned char *der = NULL;
                long der_length = 0;
                int r;

                ERR_clear_error();
                if (PEM_read_bio(bio, &name, &header, &der, &der_length) != 1) {
                        bool at_end = ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE;

                        ERR_clear_error();
                        if (at_end && n > 0)
                                return n;
                        (void) snprintf(reason, size, at_end ? "contains no PEM certificate (no '-----BEGIN "
                                                               "CERTIFICATE-----' line)"
                                                             : "is not a valid PEM certificate: a PEM block is "
                                                               "truncated or its base64 is invalid");
                        return -EINVAL;
                }

                r = pem_block_check(name, der, der_length, reason, size);
                OPENSSL_free(name);
                OPENSSL_free(header);
                OPENSSL_free(der);
                if (r < 0)
                        return r;
                n++;
        }
}

/* The file name of trusted item index (0-based), as cloud-init numbers them from 1. */
static char *cert_file_path(const TrustStore *store, size_t index) {
        char *path;

        if (asprintf(&path, "%s/cloud-init-ca-cert-%zu.crt", store->cert_dir, index + 1) < 0)
                return NULL;
        return path;
}

/* Install one trusted item. Returns 1 when its file changed, 0 when it was already in place, <0
 * after reporting an error against the item. */
static int trusted_item_install(Context *ctx, const TrustStore *store, const char *key, size_t index,
                                const json_t *item) {
        _cleanup_free_ char *path = NULL, *data = NULL, *shown = NULL;
        char reason[256] = "";
        size_t length;
        int r;

        if (!json_is_string(item)) {
                shown = json_to_message(item, CA_SHOWN_VALUE_MAX);
                return report_error(ctx, (int) index, 0, "%s.trusted[%zu] is %s, not a PEM certificate as a string.",
                                    key, index, shown ?: "not a string");
        }

        length = json_string_length(item);
        r = pem_certificates_check(json_string_value(item), length, reason, sizeof(reason));
        if (r == -ENOMEM)
                return report_error(ctx, (int) index, r, "Failed to check %s.trusted[%zu]: %m", key, index);
        if (r < 0)
                return report_error(ctx, (int) index, 0, "%s.trusted[%zu] %s, so it is not installed.", key,
                                    index, reason);

        /* A final newline keeps update-ca-certificates from gluing two certificates together when
         * it concatenates the files into one bundle. */
        if (asprintf(&data, "%s%s", json_string_value(item),
                     json_string_value(item)[length - 1] == '\n' ? "" : "\n") < 0) {
                data = NULL;
                return report_error(ctx, (int) index, -ENOMEM, "Failed to install %s.trusted[%zu]: %m", key, index);
        }
        path = cert_file_path(store, index);
        if (!path)
                return report_error(ctx, (int) index, -ENOMEM, "Failed to install %s.trusted[%zu]: %m", key, index);

        r = write_file_if_changed(ctx->root_fd, path, data, strlen(data), 0644,
                                  WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
        if (r < 0)
                return report_error(ctx, (int) index, r, "Failed to write %s for %s.trusted[%zu]: %m", path, key,
                                    index);
        if (r > 0)
                log_info("Wrote %s with %s.trusted[%zu].", path, key, index);
        return r;
}

/* Install every valid trusted item; an invalid item does not stop the others. Sets *ret_changed when
 * a file changed. Returns 0, or the first error (already reported). */
static int trusted_install(Context *ctx, const TrustStore *store, const char *key, const json_t *trusted,
                           bool *ret_changed) {
        const json_t *item;
        int failed = 0;
        size_t i;

        json_array_foreach(trusted, i, item) {
                int r = trusted_item_install(ctx, store, key, i, item);

                if (r < 0 && failed == 0)
                        failed = r;
                if (r > 0)
                        *ret_changed = true;
        }
        return failed;
}

/* Put a '!' in front of each entry of the config file that is not a comment or already
 * deselected, as update-ca-certificates reads it, with CA_CERT_CONFIG_HEADER once above the first
 * one. userdata points to a bool that records whether the header was seen or written. */
static int config_deselect_line(char *line, FILE *out, void *userdata) {
        bool *header = userdata;

        if (!line)
                return 0;
        if (streq(line, CA_CERT_CONFIG_HEADER))
                *header = true;
        if (line[0] == '\0' || line[0] == '#' || line[0] == '!') {
                fprintf(out, "%s\n", line);
                return 0;
        }
        if (!*header)
                fputs(CA_CERT_CONFIG_HEADER "\n", out);
        *header = true;
        fprintf(out, "!%s\n", line);
        return 0;
}

/* Deselect every default certificate in the layout's config file. Returns 1 when the file changed,
 * 0 when it did not or does not exist, -errno on failure. */
static int config_deselect_all(int root_fd, const char *path) {
        bool header = false;

        return root_file_edit_lines(root_fd, path, CA_CERT_CONFIG_MAX, (mode_t) -1, WRITE_SYNC_DEFERRED,
                                    config_deselect_line, &header);
}

/* Delete the regular files and symlinks below the directory fd, except the ones kiln wrote (their
 * names start with "cloud-init-ca-cert-"), keeping the directories. Returns the number deleted or
 * -errno. */
static int dir_delete_files(int fd, unsigned depth) {
        _cleanup_(closedirp) DIR *d = NULL;
        int n = 0;

        if (depth > CA_SOURCE_DEPTH_MAX)
                return -ELOOP;

        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return negative_errno();
        }

        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return negative_errno();

                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        int r;

                        if (sub < 0)
                                return negative_errno();
                        r = dir_delete_files(sub, depth + 1);
                        if (r < 0)
                                return r;
                        n += r;
                        continue;
                }
                if (strneq(de->d_name, "cloud-init-ca-cert-", strlen("cloud-init-ca-cert-")))
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                        return negative_errno();
                n++;
        }
        return errno > 0 ? -errno : n;
}

/* Distrust the default certificates. Debian and Alpine deselect them in the config file, which
 * update-ca-certificates then leaves out of the bundle. RHEL deletes the trust sources, as cloud-init
 * does; cloud-init also empties /etc/pki/ca-trust/extracted, which kiln leaves for update-ca-trust
 * to rebuild, because update-ca-trust writes into its directories. Returns 1 when something
 * changed, 0 when nothing did, <0 after reporting. */
static int defaults_remove(Context *ctx, const TrustStore *store, const char *key) {
        int changed = 0, r;

        if (store->config_file) {
                r = config_deselect_all(ctx->root_fd, store->config_file);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to deselect the default certificates in %s: %m",
                                            store->config_file);
                if (r > 0) {
                        log_info("Deselected the default certificates in %s.", store->config_file);
                        changed = 1;
                }
        }

        for (const char *const *dir = store->source_dirs; dir && *dir; dir++) {
                int fd = root_open(ctx->root_fd, *dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

                if (fd == -ENOENT)
                        continue;
                if (fd < 0)
                        return report_error(ctx, -1, fd, "Failed to open %s: %m", *dir);
                r = dir_delete_files(fd, 0);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to delete the default certificates in %s: %m",
                                            *dir);
                if (r > 0) {
                        log_info("Deleted %d files of default certificates in %s.", r, *dir);
                        changed = 1;
                }
        }

        if (changed == 0)
                log_debug("%s.remove_defaults: the default certificates are already removed.", key);
        return changed;
}

/* Set the debconf selection so that an upgrade of ca-certificates does not trust new default
 * certificates, when the image has debconf. */
static int debconf_trust_new_off(Context *ctx, int output_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = command_find(ctx->root_fd, "debconf-set-selections");
        if (r <= 0) {
                log_debug("debconf-set-selections is not in the image, new default certificates are not "
                          "blocked for later upgrades.");
                return 0;
        }

        fd = memfd_create("kiln-debconf", MFD_CLOEXEC);
        if (fd < 0)
                return report_error(ctx, -1, negative_errno(), "Failed to prepare the debconf selection: %m");
        if (write(fd, DEBCONF_TRUST_NEW_NO, strlen(DEBCONF_TRUST_NEW_NO)) != (ssize_t) strlen(DEBCONF_TRUST_NEW_NO) ||
            lseek(fd, 0, SEEK_SET) < 0)
                return report_error(ctx, -1, negative_errno(), "Failed to prepare the debconf selection: %m");

        return command_run_with_stdin(ctx, "debconf-set-selections", -1,
                                      (char *[]) { "debconf-set-selections", "-", NULL }, fd, output_fd);
}

static int trust_store_update(Context *ctx, const TrustStore *store, bool remove_defaults) {
        _cleanup_close_ int output_fd = -EBADF;
        int r;

        r = command_find(ctx->root_fd, store->update_command);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to look for %s: %m", store->update_command);
        if (r == 0)
                return report_error(ctx, -1, 0,
                                    "Failed to update the trust store: %s is not in the image. Install the "
                                    "ca-certificates package in the image.", store->update_command);

        output_fd = command_output_open(ctx, "ca_certs");
        if (remove_defaults && store->debconf) {
                r = debconf_trust_new_off(ctx, output_fd);
                if (r < 0)
                        return r;
        }

        return command_run(ctx, store->update_command, -1, (char *[]) { (char *) store->update_command, NULL },
                           output_fd);
}

/* Read remove_defaults (or its deprecated spelling remove-defaults). A string such as "yes" is read
 * with a warning; cloud-init takes any non-empty string as true, "false" included. */
static int remove_defaults_parse(Context *ctx, const char *key, const json_t *cfg, bool *ret) {
        const char *name = json_object_get(cfg, "remove_defaults") ? "remove_defaults" : "remove-defaults";
        const json_t *v = json_object_get(cfg, name);
        _cleanup_free_ char *shown = NULL;
        int r;

        *ret = false;
        if (!v || json_is_null(v))
                return 0;
        r = json_parse_boolean(v, ret);
        if (r > 0)
                report_warning(ctx, -1, "%s.%s: expected a boolean, got the string '%s', which is read as "
                               "%s. Write %s without quotes.", key, name, json_string_value(v),
                               *ret ? "true" : "false", *ret ? "true" : "false");
        if (r >= 0)
                return 0;
        shown = json_to_message(v, CA_SHOWN_VALUE_MAX);
        return report_error(ctx, -1, 0, "%s.%s: expected true or false, got %s, so the default certificates are "
                            "kept.", key, name, shown ?: "another value");
}

/* The trusted list: a string counts as a list of one, as in cloud-init, with a warning. Returns a
 * new reference to a list, or NULL after reporting an error. */
static json_t *trusted_parse(Context *ctx, const char *key, const json_t *cfg) {
        const json_t *v = json_object_get(cfg, "trusted");
        _cleanup_free_ char *shown = NULL;

        if (!v || json_is_null(v))
                return json_array();
        if (json_is_array(v)) {
                if (json_array_size(v) == 0)
                        report_warning(ctx, -1, "%s.trusted is an empty list, no certificate is added.", key);
                return json_incref((json_t *) v);
        }
        if (json_is_string(v)) {
                report_warning(ctx, -1, "%s.trusted is a string, not a list, and is read as a list of one "
                               "certificate.", key);
                return json_pack("[O]", v);
        }

        shown = json_to_message(v, CA_SHOWN_VALUE_MAX);
        (void) report_error(ctx, -1, 0, "%s.trusted is %s, not a list of PEM certificates, so none is added.",
                            key, shown ?: "another value");
        return NULL;
}

/* The config of the module: ca_certs wins over the deprecated ca-certs. */
static const json_t *ca_certs_config(Context *ctx, const json_t *config, const char **ret_key) {
        const json_t *modern = json_object_get(config, "ca_certs"), *old = json_object_get(config, "ca-certs");

        if (modern && old)
                report_warning(ctx, -1, "Both ca_certs and the deprecated ca-certs are set, ignoring ca-certs.");
        *ret_key = modern ? "ca_certs" : "ca-certs";
        return modern ?: old;
}

static int ca_certs_run(Context *ctx, const json_t *config) {
        _cleanup_(json_decrefp) json_t *trusted = NULL;
        const json_t *cfg;
        const TrustStore *store;
        TrustLayout layout;
        bool remove_defaults, changed = false;
        const char *key;
        int r, failed;

        cfg = ca_certs_config(ctx, config, &key);
        if (!cfg || json_is_null(cfg)) {
                report_warning(ctx, -1, "%s is empty, there are no certificates to change.", key);
                return 0;
        }
        if (!json_is_object(cfg)) {
                _cleanup_free_ char *shown = json_to_message(cfg, CA_SHOWN_VALUE_MAX);

                return report_error(ctx, -1, 0, "%s is %s, not a mapping with trusted and remove_defaults.", key,
                                    shown ?: "another value");
        }

        r = remove_defaults_parse(ctx, key, cfg, &remove_defaults);
        if (r < 0)
                return r;
        trusted = trusted_parse(ctx, key, cfg);
        if (!trusted)
                return -EINVAL;

        layout = trust_layout_detect(ctx->root_fd);
        if (layout < 0)
                return report_error(ctx, -1, 0,
                                    "Failed to find the trust store: the image has neither update-ca-certificates "
                                    "nor update-ca-trust. Install the ca-certificates package in the image.");
        store = &trust_stores[layout];
        log_debug("Using the %s trust store layout.", store->name);

        if (remove_defaults) {
                r = defaults_remove(ctx, store, key);
                if (r < 0)
                        return r;
                changed = r > 0;
        }

        failed = trusted_install(ctx, store, key, trusted, &changed);

        if (!changed) {
                log_debug("The trust store already holds the requested certificates, not updating it.");
                return failed;
        }

        r = trust_store_update(ctx, store, remove_defaults);
        if (r < 0)
                return r;
        return failed < 0 ? failed : 1;
}

static const char *const ca_certs_config_keys[] = { "ca_certs", "ca-certs", NULL };

/* The rules of pem_certificates_check() for an item of trusted. */
static int trusted_item_check(const json_t *v, const char *source_text, char *message, size_t size) {
        char reason[256] = "";
        int r;

        if (!json_is_string(v))
                return 0;
        r = pem_certificates_check(json_string_value(v), json_string_length(v), reason, sizeof(reason));
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                (void) snprintf(message, size, "%s.", reason);
                return -EINVAL;
        }
        return 0;
}

static int trusted_check(const json_t *v, const char *source_text, char *message, size_t size) {
        if (json_is_string(v)) {
                (void) snprintf(message, size, "is a string, not a list, and is read as a list of one certificate.");
                return SHAPE_CHECK_WARNING;
        }
        if (json_is_array(v) && json_array_size(v) == 0) {
                (void) snprintf(message, size, "is an empty list, no certificate is added.");
                return SHAPE_CHECK_WARNING;
        }
        return 0;
}

static const KeyShape trusted_item_shape = { .types = SHAPE_STRING, .check = trusted_item_check };

static const KeyField ca_certs_inner_fields[] = {
        { .name = "trusted",
          .shape = { .types = SHAPE_LIST | SHAPE_STRING | SHAPE_NULL, .items = &trusted_item_shape,
                     .check = trusted_check },
          .description = KEY_DESCRIPTION("PEM certificates to trust, one list item per file. An item "
                                         "may hold a chain of several certificates, but no other PEM "
                                         "block.") },
        { .name = "remove_defaults", .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .description = KEY_DESCRIPTION("Distrust the distribution's default CA certificates, so that "
                                         "only the trusted ones and those an administrator added "
                                         "remain. Default: false.") },
        { .name = "remove-defaults", .shape = { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true },
          .replaced_by = "remove_defaults",
          .description = KEY_DESCRIPTION("Deprecated spelling of remove_defaults.") },
        {}
};

static const KeyField ca_certs_fields[] = {
        { .name = "ca_certs", .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = ca_certs_inner_fields },
          .description = KEY_DESCRIPTION("CA certificates to add to the system trust store, and whether "
                                         "to distrust the distribution's default ones. Applied once per "
                                         "instance.") },
        { .name = "ca-certs", .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = ca_certs_inner_fields },
          .replaced_by = "ca_certs",
          .description = KEY_DESCRIPTION("Deprecated spelling of ca_certs.") },
        {}
};

const AgentModule module_ca_certs = {
        .name = "ca_certs",
        .config_keys = ca_certs_config_keys,
        .config_fields = ca_certs_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = true,
        .run = ca_certs_run,
};
