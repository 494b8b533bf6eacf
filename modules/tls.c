/* SPDX-License-Identifier: Apache-2.0 */
/* The tls module: installs the certificates of tls.certificates, given as PEM text, read from a
 * file, fetched over HTTP(S), issued by certbot, or made self-signed, each into its own directory
 * under /etc/ssl/kiln. A certificate is checked with libcrypto before it replaces anything, so a
 * bad one leaves the previous pair serving. cloud-init has no such module; the keys are kiln's. */

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "command.h"
#include "domains.h"
#include "lib/curl-util.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "tls.h"

/* Largest PEM text read for a certificate chain or a key, from the config, a file or a URL. */
#define TLS_PEM_SIZE_MAX (1024U * 1024U)
/* Most entries of tls.certificates. */
#define TLS_CERTIFICATES_MAX 64U
/* Time for fetching one source.uri, connection included. */
#define TLS_SOURCE_TIMEOUT_USEC (30 * USEC_PER_SEC)
/* Time limit of one certbot run, because ACME validation can take a minute or two. */
#define TLS_CERTBOT_TIMEOUT_USEC (300 * USEC_PER_SEC)

#define CERTBOT_PATH "/usr/bin/certbot"
#define CERTBOT_LIVE_DIR "/etc/letsencrypt/live"
#define ACME_WEBROOT_DEFAULT "/var/www/html"

bool tls_name_is_valid(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > TLS_NAME_LENGTH_MAX)
                return false;
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789", name[0]))
                return false;
        return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int tls_certificate_paths(const char *name, char **ret_fullchain, char **ret_privkey) {
        _cleanup_free_ char *fullchain = NULL, *privkey = NULL;

        if (!tls_name_is_valid(name))
                return -EINVAL;
        if (asprintf(&fullchain, TLS_DIR "/%s/" TLS_FULLCHAIN_FILE, name) < 0) {
                fullchain = NULL;
                return -ENOMEM;
        }
        if (asprintf(&privkey, TLS_DIR "/%s/" TLS_PRIVKEY_FILE, name) < 0) {
                privkey = NULL;
                return -ENOMEM;
        }
        *ret_fullchain = TAKE_PTR(fullchain);
        *ret_privkey = TAKE_PTR(privkey);
        return 0;
}


typedef enum AcmeChallenge {
        ACME_CHALLENGE_WEBROOT,
        ACME_CHALLENGE_NGINX,
        ACME_CHALLENGE_APACHE,
        _ACME_CHALLENGE_MAX,
        _ACME_CHALLENGE_INVALID = -EINVAL,
} AcmeChallenge;

static const char *const acme_challenge_table[_ACME_CHALLENGE_MAX] = {
        [ACME_CHALLENGE_WEBROOT] = "webroot",
        [ACME_CHALLENGE_NGINX] = "nginx",
        [ACME_CHALLENGE_APACHE] = "apache",
};

static AcmeChallenge acme_challenge_from_string(const char *s) {
        for (size_t i = 0; i < _ACME_CHALLENGE_MAX; i++)
                if (streq(acme_challenge_table[i], s))
                        return (AcmeChallenge) i;
        return _ACME_CHALLENGE_INVALID;
}

/* The certbot request. The strings are borrowed from the config. */
typedef struct AcmeConfig {
        bool set;
        const char *email;       /* NULL: certbot registers without an email address */
        const char *server;      /* NULL: certbot's default directory */
        AcmeChallenge challenge;
        const char *webroot;
} AcmeConfig;

/* One entry of tls.certificates. The strings are borrowed from the config, and domains is owned. */
typedef struct TlsCertificate {
        size_t index;
        const char *name;
        const char *cert;
        const char *cert_file;
        const char *source_uri;
        const char *key;
        const char *key_file;
        char **domains;
        bool self_signed;
        AcmeConfig acme;
        char label[TLS_NAME_LENGTH_MAX + 64];
} TlsCertificate;

static void tls_certificate_done(TlsCertificate *c) {
        c->domains = strv_free(c->domains);
}

/* A PEM certificate chain and key in memory. The key is wiped when it is released. */
typedef struct TlsPair {
        char *fullchain;
        size_t fullchain_size;
        char *key;
        size_t key_size;
} TlsPair;

static void tls_pair_done(TlsPair *p) {
        free(p->fullchain);
        if (p->key)
                OPENSSL_cleanse(p->key, p->key_size);
        free(p->key);
        *p = (TlsPair) {};
}

/* The subject that starts every message about one entry, and the item it is reported under. */
#define CERT_FMT "%s"
#define CERT_ARGS(c) (c)->label
#define ITEM(c) ((c)->index == SIZE_MAX ? -1 : (int) (c)->index)

/* Name the entry in messages: "tls.certificates[N]", then "tls.certificates[N] 'NAME'". */
static void label_set(TlsCertificate *c) {
        if (c->index == SIZE_MAX)
                (void) snprintf(c->label, sizeof(c->label), "tls");
        else if (c->name)
                (void) snprintf(c->label, sizeof(c->label), "tls.certificates[%zu] '%s'", c->index, c->name);
        else
                (void) snprintf(c->label, sizeof(c->label), "tls.certificates[%zu]", c->index);
}

/* Read an optional string field of an entry. Returns 0 (with NULL when absent or null), or an
 * error after reporting it. */
static int field_string(Context *ctx, const TlsCertificate *c, const json_t *obj, const char *prefix,
                        const char *key, const char **ret) {
        const json_t *v = json_object_get(obj, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v) || json_string_length(v) == 0)
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": %s%s is not a non-empty string.", CERT_ARGS(c),
                                    prefix, key);
        *ret = json_string_value(v);
        return 0;
}

static int field_bool(Context *ctx, const TlsCertificate *c, const json_t *obj, const char *key, bool *ret) {
        const json_t *v = json_object_get(obj, key);

        *ret = false;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_boolean(v))
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": %s is not true or false.", CERT_ARGS(c), key);
        *ret = json_is_true(v);
        return 0;
}

/* Parse an acme mapping (of an entry, or tls.acme when c->index is SIZE_MAX) over *acme. */
static int acme_parse(Context *ctx, const TlsCertificate *c, const json_t *v, AcmeConfig *acme) {
        const char *challenge = NULL, *prefix = "acme.";
        int r;

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": acme is not a mapping with email and server.",
                                    CERT_ARGS(c));
        acme->set = true;
        r = field_string(ctx, c, v, prefix, "email", &acme->email);
        if (r >= 0)
                r = field_string(ctx, c, v, prefix, "server", &acme->server);
        if (r >= 0)
                r = field_string(ctx, c, v, prefix, "challenge", &challenge);
        if (r >= 0)
                r = field_string(ctx, c, v, prefix, "webroot", &acme->webroot);
        if (r < 0)
                return r;
        /* An entry's own acme mapping is complete: unset fields take the defaults, not tls.acme's. */
        acme->challenge = ACME_CHALLENGE_WEBROOT;
        if (challenge) {
                acme->challenge = acme_challenge_from_string(challenge);
                if (acme->challenge < 0)
                        return report_error(ctx, ITEM(c), 0,
                                            CERT_FMT ": acme.challenge '%s' is not one of webroot, nginx and apache.",
                                            CERT_ARGS(c), challenge);
        }
        if (acme->server && !strneq(acme->server, "https://", strlen("https://")))
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": acme.server '%s' is not an https:// URL.",
                                    CERT_ARGS(c), acme->server);
        if (acme->webroot && acme->webroot[0] != '/')
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": acme.webroot '%s' is not an absolute path.",
                                    CERT_ARGS(c), acme->webroot);
        return 0;
}

/* Read the entry's domains, or take the top-level ones. */
static int entry_domains(Context *ctx, TlsCertificate *c, const json_t *list, char *const *defaults) {
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0, j;
        const json_t *v;

        if (!list || json_is_null(list)) {
                for (size_t i = 0; defaults && defaults[i]; i++) {
                        char **l = realloc(names, (n + 2) * sizeof(char *));

                        if (!l)
                                return report_error(ctx, ITEM(c), -ENOMEM, "Failed to read " CERT_FMT ": %m",
                                                    CERT_ARGS(c));
                        names = l;
                        names[n] = strdup(defaults[i]);
                        names[++n] = NULL;
                        if (!names[n - 1])
                                return report_error(ctx, ITEM(c), -ENOMEM, "Failed to read " CERT_FMT ": %m",
                                                    CERT_ARGS(c));
                }
                c->domains = TAKE_PTR(names);
                return 0;
        }
        if (!json_is_array(list) || json_array_size(list) > DOMAINS_MAX)
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": domains is not a list of at most %u names.",
                                    CERT_ARGS(c), DOMAINS_MAX);

        json_array_foreach(list, j, v) {
                _cleanup_free_ char *name = NULL, *shown = NULL;
                char reason[DOMAIN_REASON_MAX] = "";
                char **l;
                int r;

                if (!json_is_string(v))
                        return report_error(ctx, ITEM(c), 0, CERT_FMT ": domains[%zu] is not a string.",
                                            CERT_ARGS(c), j);
                r = domain_normalize(json_string_value(v), true, &name, reason, sizeof(reason));
                if (r == -ENOMEM)
                        return report_error(ctx, ITEM(c), r, "Failed to read " CERT_FMT ": %m", CERT_ARGS(c));
                if (r < 0) {
                        shown = domain_escape_for_message(json_string_value(v));
                        return report_error(ctx, ITEM(c), 0, CERT_FMT ": domains[%zu]: invalid name '%s': %s.",
                                            CERT_ARGS(c), j, shown ?: "?", reason);
                }
                l = realloc(names, (n + 2) * sizeof(char *));
                if (!l)
                        return report_error(ctx, ITEM(c), -ENOMEM, "Failed to read " CERT_FMT ": %m",
                                            CERT_ARGS(c));
                names = l;
                names[n++] = TAKE_PTR(name);
                names[n] = NULL;
        }
        c->domains = TAKE_PTR(names);
        return 0;
}

static int entry_parse(Context *ctx, const json_t *item, size_t index, char *const *defaults,
                       const AcmeConfig *default_acme, TlsCertificate *c) {
        const json_t *source;
        unsigned given;
        int r;

        *c = (TlsCertificate) { .index = index, .acme = *default_acme };
        label_set(c);
        if (!json_is_object(item))
                return report_error(ctx, ITEM(c), 0, CERT_FMT " is not a mapping with name, cert and key.",
                                    CERT_ARGS(c));

        r = field_string(ctx, c, item, "", "name", &c->name);
        if (r < 0)
                return r;
        if (!c->name)
                return report_error(ctx, ITEM(c), 0, CERT_FMT " has no name.", CERT_ARGS(c));
        if (!tls_name_is_valid(c->name)) {
                _cleanup_free_ char *shown = domain_escape_for_message(c->name);

                return report_error(ctx, ITEM(c), 0,
                                    CERT_FMT ": name '%s' is invalid: use 1 to %u of a-z, 0-9, '_', '.' and '-', "
                                    "starting with a letter or digit.", CERT_ARGS(c), shown ?: "?",
                                    TLS_NAME_LENGTH_MAX);
        }
        label_set(c);

        r = field_string(ctx, c, item, "", "cert", &c->cert);
        if (r >= 0)
                r = field_string(ctx, c, item, "", "cert_file", &c->cert_file);
        if (r >= 0)
                r = field_string(ctx, c, item, "", "key", &c->key);
        if (r >= 0)
                r = field_string(ctx, c, item, "", "key_file", &c->key_file);
        if (r >= 0)
                r = field_bool(ctx, c, item, "self_signed", &c->self_signed);
        if (r < 0)
                return r;

        source = json_object_get(item, "source");
        if (source && !json_is_null(source)) {
                if (!json_is_object(source))
                        return report_error(ctx, ITEM(c), 0, CERT_FMT ": source is not a mapping with uri.",
                                            CERT_ARGS(c));
                r = field_string(ctx, c, source, "source.", "uri", &c->source_uri);
                if (r < 0)
                        return r;
                if (!c->source_uri)
                        return report_error(ctx, ITEM(c), 0, CERT_FMT ": source has no uri.", CERT_ARGS(c));
                if (!strneq(c->source_uri, "https://", 8) && !strneq(c->source_uri, "http://", 7))
                        return report_error(ctx, ITEM(c), 0,
                                            CERT_FMT ": source.uri '%s' is not an http:// or https:// URL.",
                                            CERT_ARGS(c), c->source_uri);
        }

        given = !!c->cert + !!c->cert_file + !!c->source_uri;
        if (given > 1)
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": set only one of cert, cert_file and source.",
                                    CERT_ARGS(c));
        if (c->key && c->key_file)
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": set only one of key and key_file.", CERT_ARGS(c));
        if (c->key_file && c->key_file[0] != '/')
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": key_file '%s' is not an absolute path.",
                                    CERT_ARGS(c), c->key_file);
        if (c->cert_file && c->cert_file[0] != '/')
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": cert_file '%s' is not an absolute path.",
                                    CERT_ARGS(c), c->cert_file);
        if (given == 1 && !c->key && !c->key_file)
                return report_error(ctx, ITEM(c), 0, CERT_FMT ": a certificate is given without key or key_file.",
                                    CERT_ARGS(c));

        r = acme_parse(ctx, c, json_object_get(item, "acme"), &c->acme);
        if (r < 0)
                return r;
        if (given == 0 && !c->acme.set && !c->self_signed)
                return report_error(ctx, ITEM(c), 0,
                                    CERT_FMT " names no certificate: set cert, cert_file or source with key or "
                                    "key_file, or acme, or self_signed: true.", CERT_ARGS(c));
        if (given == 1 && (c->self_signed || json_object_get(item, "acme")))
                report_warning(ctx, ITEM(c), CERT_FMT ": a certificate is given, so acme and self_signed are not "
                               "used, ignoring.", CERT_ARGS(c));

        return entry_domains(ctx, c, json_object_get(item, "domains"), defaults);
}

/* Read a PEM file of the root into *ret. Returns 0 or -errno. */
static int pem_file_read(Context *ctx, const char *path, char **ret, size_t *ret_size) {
        return read_file_at(ctx->root_fd, path, TLS_PEM_SIZE_MAX, ret, ret_size);
}

static int source_fetch(Context *ctx, const TlsCertificate *c, char **ret, size_t *ret_size) {
        _cleanup_http_client_free_ HttpClient *client = NULL;
        _cleanup_(http_response_done) HttpResponse response = {};
        _cleanup_free_ char *message = NULL;
        int r;

        r = http_client_new(HTTP_CLIENT_ALLOW_HTTPS, &client, &message);
        if (r < 0)
                return report_error(ctx, ITEM(c), r, "Failed to fetch source.uri '%s' of " CERT_FMT ": %s",
                                    c->source_uri, CERT_ARGS(c), message ?: strerror(-r));
        r = http_request(client, HTTP_METHOD_GET, c->source_uri, /* headers= */ NULL, TLS_SOURCE_TIMEOUT_USEC,
                         TLS_PEM_SIZE_MAX, &response, &message);
        if (r < 0)
                return report_error(ctx, ITEM(c), r, "Failed to fetch source.uri '%s' of " CERT_FMT ": %s",
                                    c->source_uri, CERT_ARGS(c), message ?: strerror(-r));
        if (response.status != 200)
                return report_error(ctx, ITEM(c), 0,
                                    "Failed to fetch source.uri '%s' of " CERT_FMT ": the server answered %ld.",
                                    c->source_uri, CERT_ARGS(c), response.status);
        *ret_size = response.body_size;
        *ret = TAKE_PTR(response.body);
        return 0;
}

/* The pair that the entry gives as text, file or URL. */
static int pair_from_config(Context *ctx, const TlsCertificate *c, TlsPair *ret) {
        _cleanup_(tls_pair_done) TlsPair p = {};
        int r;

        if (c->cert) {
                p.fullchain = strdup(c->cert);
                p.fullchain_size = strlen(c->cert);
        } else if (c->cert_file) {
                r = pem_file_read(ctx, c->cert_file, &p.fullchain, &p.fullchain_size);
                if (r < 0)
                        return report_error(ctx, ITEM(c), r, "Failed to read cert_file '%s' of " CERT_FMT ": %m",
                                            c->cert_file, CERT_ARGS(c));
        } else {
                r = source_fetch(ctx, c, &p.fullchain, &p.fullchain_size);
                if (r < 0)
                        return r;
        }

        if (c->key) {
                p.key = strdup(c->key);
                p.key_size = strlen(c->key);
        } else {
                r = pem_file_read(ctx, c->key_file, &p.key, &p.key_size);
                if (r < 0)
                        return report_error(ctx, ITEM(c), r, "Failed to read key_file '%s' of " CERT_FMT ": %m",
                                            c->key_file, CERT_ARGS(c));
        }
        if (!p.fullchain || !p.key)
                return report_error(ctx, ITEM(c), -ENOMEM, "Failed to read " CERT_FMT ": %m", CERT_ARGS(c));

        *ret = p;
        p = (TlsPair) {};
        return 0;
}

/* Read an installed pair from dir (a path inside the root). Returns 1 when both files exist, 0
 * when one is missing, -errno otherwise. */
static int pair_read(Context *ctx, const char *dir, TlsPair *ret) {
        _cleanup_(tls_pair_done) TlsPair p = {};
        _cleanup_free_ char *fullchain = NULL, *key = NULL;
        int r;

        if (asprintf(&fullchain, "%s/" TLS_FULLCHAIN_FILE, dir) < 0 ||
            asprintf(&key, "%s/" TLS_PRIVKEY_FILE, dir) < 0)
                return -ENOMEM;
        r = pem_file_read(ctx, fullchain, &p.fullchain, &p.fullchain_size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = pem_file_read(ctx, key, &p.key, &p.key_size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        *ret = p;
        p = (TlsPair) {};
        return 1;
}

static bool pair_equal(const TlsPair *a, const TlsPair *b) {
        return a->fullchain_size == b->fullchain_size && a->key_size == b->key_size &&
               memcmp(a->fullchain, b->fullchain, a->fullchain_size) == 0 &&
               CRYPTO_memcmp(a->key, b->key, a->key_size) == 0;
}

/* Remove a version directory that kiln made: its two files, then itself. */
static void version_remove(int dir_fd, const char *version) {
        _cleanup_close_ int fd = openat(dir_fd, version, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0)
                return;
        (void) unlinkat(fd, TLS_FULLCHAIN_FILE, 0);
        (void) unlinkat(fd, TLS_PRIVKEY_FILE, 0);
        if (unlinkat(dir_fd, version, AT_REMOVEDIR) < 0)
                log_debug("Failed to remove %s/%s, ignoring: %m", TLS_DIR, version);
}

/* Point TLS_DIR/name at version with one rename. A plain directory at name (not made by kiln) is
 * swapped out with RENAME_EXCHANGE and then removed. */
static int link_switch(int dir_fd, const char *name, const char *version, const char *suffix) {
        _cleanup_free_ char *temp = NULL;

        if (asprintf(&temp, ".%s.link-%s", name, suffix) < 0)
                return -ENOMEM;
        if (symlinkat(version, dir_fd, temp) < 0)
                return negative_errno();
        if (renameat(dir_fd, temp, dir_fd, name) >= 0)
                return 0;
        if (errno != EISDIR && errno != ENOTEMPTY && errno != EEXIST) {
                int r = negative_errno();

                (void) unlinkat(dir_fd, temp, 0);
                return r;
        }
        if (renameat2(dir_fd, temp, dir_fd, name, RENAME_EXCHANGE) < 0) {
                int r = negative_errno();

                (void) unlinkat(dir_fd, temp, 0);
                return r;
        }
        version_remove(dir_fd, temp);
        return 0;
}

/* Install a checked pair. Both files go into a new directory TLS_DIR/.NAME.SUFFIX, written and
 * synced with their final modes, and only then does the link TLS_DIR/NAME switch to it with one
 * rename. Renaming two files in place would leave a moment (and after a crash, a boot) in which the
 * new certificate sits beside the old key, and the web server cannot start. With the link, a reader
 * sees the old pair or the new pair, never a mix. */
static int pair_install(Context *ctx, const char *name, const TlsPair *p) {
        _cleanup_free_ char *version = NULL, *version_path = NULL, *fullchain = NULL, *key = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        char old[TLS_NAME_LENGTH_MAX * 2 + 64] = "", suffix[17];
        unsigned char random[8];
        ssize_t n;
        int r;

        if (RAND_bytes(random, sizeof(random)) != 1)
                return -EIO;
        for (size_t i = 0; i < sizeof(random); i++)
                (void) snprintf(suffix + 2 * i, 3, "%02x", random[i]);

        r = root_mkdir_p(ctx->root_fd, TLS_DIR, 0755, 0, 0);
        if (r < 0)
                return r;
        dir_fd = root_open(ctx->root_fd, TLS_DIR, O_RDONLY | O_DIRECTORY, 0);
        if (dir_fd < 0)
                return dir_fd;

        if (asprintf(&version, ".%s.%s", name, suffix) < 0 ||
            asprintf(&version_path, TLS_DIR "/%s", version) < 0 ||
            asprintf(&fullchain, "%s/" TLS_FULLCHAIN_FILE, version_path) < 0 ||
            asprintf(&key, "%s/" TLS_PRIVKEY_FILE, version_path) < 0)
                return -ENOMEM;

        r = root_mkdir_p(ctx->root_fd, version_path, 0755, 0, 0);
        if (r >= 0)
                r = write_file_atomic(ctx->root_fd, key, p->key, p->key_size, 0600, 0, 0, WRITE_SYNC);
        if (r >= 0)
                r = write_file_atomic(ctx->root_fd, fullchain, p->fullchain, p->fullchain_size, 0644, 0, 0,
                                      WRITE_SYNC);
        if (r < 0) {
                version_remove(dir_fd, version);
                return r;
        }

        n = readlinkat(dir_fd, name, old, sizeof(old) - 1);
        old[n > 0 ? n : 0] = '\0';

        r = link_switch(dir_fd, name, version, suffix);
        if (r < 0) {
                version_remove(dir_fd, version);
                return r;
        }
        if (fsync(dir_fd) < 0)
                return negative_errno();

        /* Only a directory named as kiln names them is removed, because someone may have edited the link. */
        if (old[0] == '.' && strneq(old + 1, name, strlen(name)) && old[1 + strlen(name)] == '.' &&
            !strchr(old, '/'))
                version_remove(dir_fd, old);
        return 0;
}

/* Build certbot's argv. Returns 0 with *ret (caller owns) or -ENOMEM. */
static int certbot_argv(const TlsCertificate *c, char ***ret) {
        const AcmeConfig *a = &c->acme;
        size_t n = 0, max = 20 + 2 * strv_length(c->domains);
        _cleanup_strv_free_ char **argv = calloc(max, sizeof(char *));

        if (!argv)
                return -ENOMEM;
#define ADD(s)                                          \
        do {                                            \
                assert(n + 1 < max);                    \
                if (!(argv[n++] = strdup(s)))           \
                        return -ENOMEM;                 \
        } while (0)

        ADD(CERTBOT_PATH);
        ADD("certonly");
        ADD("--non-interactive");
        ADD("--agree-tos");
        if (a->email) {
                ADD("--email");
                ADD(a->email);
        } else
                ADD("--register-unsafely-without-email");
        if (a->server) {
                ADD("--server");
                ADD(a->server);
        }
        ADD("--cert-name");
        ADD(c->name);
        for (size_t i = 0; c->domains[i]; i++) {
                ADD("-d");
                ADD(c->domains[i]);
        }
        /* Exhaustive switch without a default, so that the compiler flags a new challenge without arguments. */
        switch (a->challenge) {
        case ACME_CHALLENGE_WEBROOT:
                ADD("--webroot");
                ADD("-w");
                ADD(a->webroot ?: ACME_WEBROOT_DEFAULT);
                break;
        case ACME_CHALLENGE_NGINX:
                ADD("--nginx");
                break;
        case ACME_CHALLENGE_APACHE:
                ADD("--apache");
                break;
        case _ACME_CHALLENGE_MAX:
        case _ACME_CHALLENGE_INVALID:
                return -EINVAL;
        }
#undef ADD
        *ret = TAKE_PTR(argv);
        return 0;
}

/* Have certbot issue the certificate and read what it wrote to its live directory. The pair is
 * copied, so that it passes the same checks as any other before it serves.
 * NOTE: a renewal by certbot's own timer reaches TLS_DIR only at the next boot's run. */
static int pair_from_certbot(Context *ctx, const TlsCertificate *c, TlsPair *ret) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *live = NULL, *label = NULL;
        _cleanup_close_ int output_fd = -EBADF;
        int r;

        r = exec_find_in_root(ctx->root_fd, CERTBOT_PATH, /* ret_path= */ NULL);
        if (r < 0)
                return report_error(ctx, ITEM(c), r, "Failed to look for %s: %m", CERTBOT_PATH);
        if (r == 0)
                return report_error(ctx, ITEM(c), 0,
                                    CERT_FMT " asks for an ACME certificate, but certbot is missing: the image has no %s.",
                                    CERT_ARGS(c), CERTBOT_PATH);
        if (!c->domains || !c->domains[0])
                return report_error(ctx, ITEM(c), 0, CERT_FMT " asks for an ACME certificate but names no domains.",
                                    CERT_ARGS(c));

        r = certbot_argv(c, &argv);
        if (r < 0)
                return report_error(ctx, ITEM(c), r, "Failed to run certbot for " CERT_FMT ": %m", CERT_ARGS(c));
        if (asprintf(&label, "certbot for tls.certificates[%zu]", c->index) < 0) {
                label = NULL;
                return report_error(ctx, ITEM(c), -ENOMEM, "Failed to run certbot: %m");
        }
        output_fd = command_output_open(ctx, "tls");
        r = command_run_limited(ctx, label, ITEM(c), argv, /* extra_env= */ NULL, /* input_fd= */ -EBADF,
                                output_fd, TLS_CERTBOT_TIMEOUT_USEC);
        if (r < 0)
                return r;

        if (asprintf(&live, CERTBOT_LIVE_DIR "/%s", c->name) < 0) {
                live = NULL;
                return report_error(ctx, ITEM(c), -ENOMEM, "Failed to read certbot's certificate: %m");
        }
        r = pair_read(ctx, live, ret);
        if (r < 0)
                return report_error(ctx, ITEM(c), r, "Failed to read certbot's certificate in %s: %m", live);
        if (r == 0)
                return report_error(ctx, ITEM(c), 0,
                                    "certbot succeeded for " CERT_FMT ", but %s has no " TLS_FULLCHAIN_FILE
                                    " and " TLS_PRIVKEY_FILE ".", CERT_ARGS(c), live);
        return 0;
}

/* Whether the installed pair can stay instead of asking certbot or making a new self-signed one:
 * it is valid now, covers the names and does not expire soon. */
static bool installed_is_good(const TlsPair *installed, char *const *domains) {
        char reason[DOMAIN_REASON_MAX];

        return installed->fullchain &&
               tls_pair_check(installed->fullchain, installed->fullchain_size, installed->key, installed->key_size,
                              domains, time(NULL), reason, sizeof(reason)) == 0;
}

/* Bring one entry's pair into place. Returns 1 when installed, 0 when already in place, <0 after
 * reporting. */
static int certificate_apply(Context *ctx, const TlsCertificate *c) {
        _cleanup_(tls_pair_done) TlsPair wanted = {}, installed = {};
        _cleanup_free_ char *dir = NULL;
        char reason[DOMAIN_REASON_MAX * 2] = "";
        bool given = c->cert || c->cert_file || c->source_uri;
        int r;

        if (asprintf(&dir, TLS_DIR "/%s", c->name) < 0) {
                dir = NULL;
                return report_error(ctx, ITEM(c), -ENOMEM, "Failed to install " CERT_FMT ": %m", CERT_ARGS(c));
        }
        r = pair_read(ctx, dir, &installed);
        if (r < 0)
                return report_error(ctx, ITEM(c), r, "Failed to read the installed pair in %s: %m", dir);

        if (given)
                r = pair_from_config(ctx, c, &wanted);
        else if (installed_is_good(&installed, c->domains)) {
                log_debug("The installed certificate in %s is valid and covers the names, keeping it.", dir);
                return 0;
        } else if (c->acme.set)
                r = pair_from_certbot(ctx, c, &wanted);
        else {
                if (!c->domains || !c->domains[0])
                        return report_error(ctx, ITEM(c), 0,
                                            CERT_FMT " is self-signed but names no domains: set its domains or the "
                                            "top-level domains.", CERT_ARGS(c));
                r = tls_self_signed_make(c->domains, time(NULL), &wanted.fullchain, &wanted.key);
                if (r < 0)
                        return report_error(ctx, ITEM(c), r, "Failed to make a self-signed certificate for "
                                            CERT_FMT ": %m", CERT_ARGS(c));
                wanted.fullchain_size = strlen(wanted.fullchain);
                wanted.key_size = strlen(wanted.key);
        }
        if (r < 0)
                return r;

        r = tls_pair_check(wanted.fullchain, wanted.fullchain_size, wanted.key, wanted.key_size, c->domains,
                           time(NULL), reason, sizeof(reason));
        if (r == -ENOMEM)
                return report_error(ctx, ITEM(c), r, "Failed to check " CERT_FMT ": %m", CERT_ARGS(c));
        if (r < 0)
                return report_error(ctx, ITEM(c), 0, CERT_FMT " is not installed: %s. %s", CERT_ARGS(c),
                                    reason, installed.fullchain ? "The previous certificate stays in place." :
                                                                  "No certificate is in place.");
        if (r > 0)
                report_warning(ctx, ITEM(c), CERT_FMT ": %s.", CERT_ARGS(c), reason);

        if (installed.fullchain && pair_equal(&installed, &wanted)) {
                log_debug("%s already contains the certificate of " CERT_FMT ".", dir, CERT_ARGS(c));
                return 0;
        }

        r = pair_install(ctx, c->name, &wanted);
        if (r < 0)
                return report_error(ctx, ITEM(c), r, "Failed to install " CERT_FMT " in %s: %m", CERT_ARGS(c),
                                    dir);
        log_info("Installed the certificate of " CERT_FMT " in %s.", CERT_ARGS(c), dir);
        return 1;
}

/* Whether an earlier entry already has this name. */
static bool name_taken(const json_t *list, size_t index, const char *name) {
        for (size_t i = 0; i < index; i++) {
                const json_t *other = json_object_get(json_array_get(list, i), "name");

                if (json_is_string(other) && streq(json_string_value(other), name))
                        return true;
        }
        return false;
}

static int tls_run(Context *ctx, const json_t *config) {
        _cleanup_strv_free_ char **defaults = NULL;
        const json_t *tls = json_object_get(config, "tls"), *list, *item;
        TlsCertificate top = { .index = SIZE_MAX };
        AcmeConfig default_acme = {};
        int r, ret = 0;
        size_t i;

        if (!tls || json_is_null(tls))
                return 0;
        if (!json_is_object(tls))
                return report_error(ctx, -1, 0, "tls is not a mapping with certificates.");

        r = domains_get(ctx, config, &defaults);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read the domains: %m");

        label_set(&top);
        if (json_object_get(tls, "acme")) {
                r = acme_parse(ctx, &top, json_object_get(tls, "acme"), &default_acme);
                if (r < 0)
                        return r;
        }

        list = json_object_get(tls, "certificates");
        if (!list || json_is_null(list))
                return 0;
        if (!json_is_array(list))
                return report_error(ctx, -1, 0, "tls.certificates is not a list.");
        if (json_array_size(list) > TLS_CERTIFICATES_MAX)
                return report_error(ctx, -1, 0, "tls.certificates has %zu entries, more than %u.",
                                    json_array_size(list), TLS_CERTIFICATES_MAX);

        json_array_foreach(list, i, item) {
                _cleanup_(tls_certificate_done) TlsCertificate c = {};

                r = entry_parse(ctx, item, i, defaults, &default_acme, &c);
                if (r >= 0 && name_taken(list, i, c.name))
                        r = report_error(ctx, ITEM(&c), 0, CERT_FMT ": an earlier entry has the same name.",
                                         CERT_ARGS(&c));
                if (r >= 0)
                        r = certificate_apply(ctx, &c);
                if (r < 0)
                        ret = r;
                else if (r > 0 && ret == 0)
                        ret = 1;
        }
        return ret;
}

static const char *const tls_config_keys[] = { "tls", NULL };

static int certificate_name_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        if (!json_is_string(v) || tls_name_is_valid(json_string_value(v)))
                return 0;
        (void) snprintf(message, size, "is not a valid certificate name: use 1 to %u of a-z, 0-9, '_', '.' and '-', "
                        "starting with a letter or digit.", TLS_NAME_LENGTH_MAX);
        return -EINVAL;
}

static int uri_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        if (!json_is_string(v) || strneq(json_string_value(v), "https://", 8) ||
            strneq(json_string_value(v), "http://", 7))
                return 0;
        (void) snprintf(message, size, "is not an http:// or https:// URL.");
        return -EINVAL;
}

static int absolute_path_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        if (!json_is_string(v) || json_string_value(v)[0] == '/')
                return 0;
        (void) snprintf(message, size, "is not an absolute path.");
        return -EINVAL;
}

static int https_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        if (!json_is_string(v) || strneq(json_string_value(v), "https://", 8))
                return 0;
        (void) snprintf(message, size, "is not an https:// URL.");
        return -EINVAL;
}

static bool has_value(const json_t *entry, const char *key) {
        const json_t *v = json_object_get(entry, key);

        return v && !json_is_null(v);
}

/* The rules of entry_parse() that combine fields, so that `kiln validate` rejects what the module
 * rejects. */
static int certificate_check(const json_t *v, const char *source_text, char *message, size_t size) {
        unsigned given;

        (void) source_text;
        if (!json_is_object(v))
                return 0;
        given = has_value(v, "cert") + has_value(v, "cert_file") + has_value(v, "source");
        if (given > 1)
                (void) snprintf(message, size, "sets more than one of cert, cert_file and source.");
        else if (has_value(v, "key") && has_value(v, "key_file"))
                (void) snprintf(message, size, "sets both key and key_file.");
        else if (given == 1 && !has_value(v, "key") && !has_value(v, "key_file"))
                (void) snprintf(message, size, "gives a certificate without key or key_file.");
        else
                return 0;
        return -EINVAL;
}

/* The rules of tls_run() across entries: each entry names a certificate, counting tls.acme as a
 * default, and the names are unique. */
static int tls_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const json_t *list = json_object_get(v, "certificates"), *entry;
        size_t i;

        (void) source_text;
        if (!json_is_object(v) || !json_is_array(list))
                return 0;
        json_array_foreach(list, i, entry) {
                const json_t *name = json_object_get(entry, "name");

                if (!json_is_object(entry))
                        continue;
                if (!has_value(entry, "cert") && !has_value(entry, "cert_file") && !has_value(entry, "source") &&
                    !has_value(entry, "acme") && !has_value(v, "acme") &&
                    !json_is_true(json_object_get(entry, "self_signed"))) {
                        (void) snprintf(message, size, "has certificates.%zu without a certificate: set cert, "
                                        "cert_file or source with key or key_file, or acme, or self_signed: true.", i);
                        return -EINVAL;
                }
                if (json_is_string(name) && name_taken(list, i, json_string_value(name))) {
                        (void) snprintf(message, size, "has certificates.%zu named '%s' like an earlier entry.", i,
                                        json_string_value(name));
                        return -EINVAL;
                }
        }
        return 0;
}

static const char *const acme_challenge_values[] = { "webroot", "nginx", "apache", NULL };

static const KeyField acme_fields[] = {
        { .name = "email", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("The address the ACME account is registered with. Without it "
                                         "certbot registers without an address.") },
        { .name = "server", .shape = { .types = SHAPE_STRING, .pattern = "^https://", .check = https_check },
          .description = KEY_DESCRIPTION("The ACME directory URL. Default: certbot's (Let's Encrypt).") },
        { .name = "challenge", .shape = { .types = SHAPE_STRING, .values = acme_challenge_values },
          .description = KEY_DESCRIPTION("How certbot proves control of the names: webroot, nginx or "
                                         "apache. Default: webroot.") },
        { .name = "webroot", .shape = { .types = SHAPE_STRING, .pattern = "^/", .check = absolute_path_check },
          .description = KEY_DESCRIPTION("The directory the web server serves, for the webroot challenge. "
                                         "Default: " ACME_WEBROOT_DEFAULT ".") },
        {}
};

static const KeyField source_fields[] = {
        { .name = "uri", .shape = { .types = SHAPE_STRING, .check = uri_check }, .required = true,
          .description = KEY_DESCRIPTION("An http:// or https:// URL that serves the certificate chain "
                                         "as PEM.") },
        {}
};

static const KeyShape certificate_domain_shape = { .types = SHAPE_STRING, .check = domain_shape_check };

static const KeyField certificate_fields[] = {
        { .name = "name", .shape = { .types = SHAPE_STRING, .pattern = "^[a-z0-9_-][a-z0-9_.-]{0,63}$",
                                     .check = certificate_name_check }, .required = true,
          .description = KEY_DESCRIPTION("The certificate's name, unique in the list: it is installed in "
                                         TLS_DIR "/NAME/" TLS_FULLCHAIN_FILE " and " TLS_PRIVKEY_FILE ".") },
        { .name = "cert", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("The certificate as PEM: the leaf first, then its chain.") },
        { .name = "cert_file", .shape = { .types = SHAPE_STRING, .pattern = "^/", .check = absolute_path_check },
          .description = KEY_DESCRIPTION("A file in the image that contains the certificate as cert "
                                         "does.") },
        { .name = "source", .shape = { .types = SHAPE_MAPPING, .fields = source_fields },
          .description = KEY_DESCRIPTION("Fetch the certificate chain from a URL.") },
        { .name = "key", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("The private key as PEM, unencrypted. It is never logged.") },
        { .name = "key_file", .shape = { .types = SHAPE_STRING, .pattern = "^/", .check = absolute_path_check },
          .description = KEY_DESCRIPTION("A file in the image that contains the private key.") },
        { .name = "domains", .shape = { .types = SHAPE_LIST | SHAPE_NULL, .items = &certificate_domain_shape },
          .description = KEY_DESCRIPTION("The names the certificate must cover. Default: the top-level "
                                         "domains.") },
        { .name = "self_signed", .shape = { .types = SHAPE_BOOLEAN },
          .description = KEY_DESCRIPTION("Without a certificate, make a self-signed one (EC P-256, "
                                         "valid for a year) for the domains. It is kept while it is "
                                         "valid and covers them, and made anew 14 days before it "
                                         "expires.") },
        { .name = "acme", .shape = { .types = SHAPE_MAPPING, .fields = acme_fields },
          .description = KEY_DESCRIPTION("Without a certificate, have the image's certbot issue one. "
                                         "Default: tls.acme.") },
        {}
};

static const KeyShape certificate_shape = {
        .types = SHAPE_MAPPING, .fields = certificate_fields, .check = certificate_check,
};

static const KeyField tls_mapping_fields[] = {
        { .name = "certificates", .shape = { .types = SHAPE_LIST | SHAPE_NULL, .items = &certificate_shape },
          .description = KEY_DESCRIPTION("The certificates to install. Each is checked before it "
                                         "replaces the previous one: the PEM parses, the key matches, "
                                         "it is valid now, and it covers its domains.") },
        { .name = "acme", .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = acme_fields },
          .description = KEY_DESCRIPTION("The ACME settings of certificates that name neither a "
                                         "certificate nor their own acme.") },
        {}
};

static const KeyField tls_fields[] = {
        { .name = "tls",
          .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = tls_mapping_fields, .check = tls_check },
          .description = KEY_DESCRIPTION("TLS certificates and keys for the web "
                                         "sites, installed in " TLS_DIR "/NAME/.") },
        {}
};

const AgentModule module_tls = {
        .name = "tls",
        .config_keys = tls_config_keys,
        .config_fields = tls_fields,
        .frequency = FREQUENCY_PER_BOOT,
        .bakeable = false,
        .run = tls_run,
};
