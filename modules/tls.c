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

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

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
/* Validity of a self-signed certificate. It is made anew TLS_EXPIRY_WARNING_DAYS before it ends. */
#define TLS_SELF_SIGNED_DAYS 365
/* Bits of the random serial number of a self-signed certificate (RFC 5280 allows up to 159). */
#define TLS_SERIAL_BITS 128
/* The maximum common name length of X.509 (ub-common-name). Longer names go in the SANs only. */
#define TLS_COMMON_NAME_MAX 64U
#define SECONDS_PER_DAY (24 * 60 * 60)

#define CERTBOT_PATH "/usr/bin/certbot"
#define CERTBOT_LIVE_DIR "/etc/letsencrypt/live"
#define ACME_WEBROOT_DEFAULT "/var/www/html"

static void x509_freep(X509 **p) {
        X509_free(*p);
}
static void evp_pkey_freep(EVP_PKEY **p) {
        EVP_PKEY_free(*p);
}
static void bio_freep(BIO **p) {
        BIO_free_all(*p);
}
static void x509_stack_freep(STACK_OF(X509) **p) {
        sk_X509_pop_free(*p, X509_free);
}
static void general_names_freep(GENERAL_NAMES **p) {
        GENERAL_NAMES_free(*p);
}
static void bignum_freep(BIGNUM **p) {
        BN_free(*p);
}
static void asn1_time_freep(ASN1_TIME **p) {
        ASN1_TIME_free(*p);
}

bool tls_name_is_valid(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > TLS_NAME_LENGTH_MAX || name[0] == '.')
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("_.-", *p)))
                        return false;
        return true;
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

/* A passphrase callback that never prompts, because nobody can type a passphrase at boot. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata) {
        (void) buf;
        (void) size;
        (void) rwflag;
        (void) userdata;
        return -1;
}

/* Parse every CERTIFICATE block of text, in order. Returns 0 with at least one certificate,
 * or -EBADMSG with the reason. */
static int chain_parse(const char *text, size_t size, STACK_OF(X509) **ret, char *reason, size_t rsize) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(bio_freep) BIO *bio = NULL;
        unsigned long e;

        /* The chain is world-readable once installed, so a key in it would be published. */
        if (memmem(text, size, "PRIVATE KEY-----", strlen("PRIVATE KEY-----"))) {
                (void) snprintf(reason, rsize, "the certificate text contains a private key");
                return -EBADMSG;
        }

        bio = BIO_new_mem_buf(text, (int) size);
        chain = sk_X509_new_null();
        if (!bio || !chain)
                return -ENOMEM;

        ERR_clear_error();
        for (;;) {
                X509 *x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);

                if (!x)
                        break;
                if (sk_X509_push(chain, x) <= 0) {
                        X509_free(x);
                        return -ENOMEM;
                }
        }
        /* The loop ends at the end of the text, or earlier at a block that does not parse. */
        e = ERR_peek_last_error();
        ERR_clear_error();
        if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
                (void) snprintf(reason, rsize, "certificate %d of the text does not parse",
                                sk_X509_num(chain) + 1);
                return -EBADMSG;
        }
        if (sk_X509_num(chain) == 0) {
                (void) snprintf(reason, rsize, "the text holds no PEM certificate");
                return -EBADMSG;
        }

        *ret = TAKE_PTR(chain);
        return 0;
}

/* Parse one PEM private key. The reason never shows any of the text. */
static int key_parse(const char *text, size_t size, EVP_PKEY **ret, char *reason, size_t rsize) {
        _cleanup_(bio_freep) BIO *bio = NULL;
        EVP_PKEY *pkey;

        bio = BIO_new_mem_buf(text, (int) size);
        if (!bio)
                return -ENOMEM;
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        ERR_clear_error();
        if (!pkey) {
                (void) snprintf(reason, rsize, "the key is not an unencrypted PEM private key");
                return -EBADMSG;
        }
        *ret = pkey;
        return 0;
}

/* Whether the leaf has a DNS subject alternative name equal to the wildcard name. X509_check_host()
 * matches a host against wildcards, not a wildcard against a wildcard. */
static bool cert_has_dns_name(X509 *leaf, const char *name) {
        _cleanup_(general_names_freep) GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);

        for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
                const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
                const unsigned char *s;
                int n;

                if (g->type != GEN_DNS)
                        continue;
                s = ASN1_STRING_get0_data(g->d.dNSName);
                n = ASN1_STRING_length(g->d.dNSName);
                if ((size_t) n == strlen(name) && strncasecmp((const char *) s, name, (size_t) n) == 0)
                        return true;
        }
        return false;
}

static bool cert_covers(X509 *leaf, const char *domain) {
        if (domain_is_wildcard(domain))
                return cert_has_dns_name(leaf, domain);
        return X509_check_host(leaf, domain, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

/* Check validity at now. Returns 0, 1 with a warning, or -EKEYEXPIRED. */
static int validity_check(X509 *leaf, time_t now, char *reason, size_t rsize) {
        time_t soon = now + (time_t) TLS_EXPIRY_WARNING_DAYS * SECONDS_PER_DAY;
        int day = 0, sec = 0;

        if (X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0) {
                (void) snprintf(reason, rsize, "the certificate is not valid yet");
                return -EKEYEXPIRED;
        }
        if (X509_cmp_time(X509_get0_notAfter(leaf), &now) < 0) {
                (void) snprintf(reason, rsize, "the certificate has expired");
                return -EKEYEXPIRED;
        }
        if (X509_cmp_time(X509_get0_notAfter(leaf), &soon) < 0) {
                _cleanup_(asn1_time_freep) ASN1_TIME *at = ASN1_TIME_set(NULL, now);

                if (at)
                        (void) ASN1_TIME_diff(&day, &sec, at, X509_get0_notAfter(leaf));
                (void) snprintf(reason, rsize, "the certificate expires in %d days", day);
                return 1;
        }
        return 0;
}

/* Append a warning to reason, separated by "; ". */
static void reason_append(char *reason, size_t rsize, const char *text) {
        size_t n = strlen(reason);

        (void) snprintf(reason + n, rsize - n, "%s%s", n > 0 ? "; " : "", text);
}

int tls_pair_check(const char *fullchain, size_t fullchain_size, const char *key, size_t key_size,
                   char *const *domains, time_t now, char *reason, size_t size) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(evp_pkey_freep) EVP_PKEY *pkey = NULL;
        char warning[DOMAIN_REASON_MAX] = "";
        bool warned = false;
        X509 *leaf;
        int r;

        assert(reason && size > 0);
        reason[0] = '\0';

        r = chain_parse(fullchain, fullchain_size, &chain, reason, size);
        if (r < 0)
                return r;
        leaf = sk_X509_value(chain, 0);

        r = key_parse(key, key_size, &pkey, reason, size);
        if (r < 0)
                return r;
        if (X509_check_private_key(leaf, pkey) != 1) {
                ERR_clear_error();
                (void) snprintf(reason, size, "the key does not match the certificate");
                return -EKEYREJECTED;
        }

        for (size_t i = 0; domains && domains[i]; i++)
                if (!cert_covers(leaf, domains[i])) {
                        (void) snprintf(reason, size, "the certificate does not cover the name '%s'", domains[i]);
                        return -EINVAL;
                }

        r = validity_check(leaf, now, warning, sizeof(warning));
        if (r < 0) {
                (void) snprintf(reason, size, "%s", warning);
                return r;
        }
        if (r > 0) {
                reason_append(reason, size, warning);
                warned = true;
        }

        for (int i = 0; i + 1 < sk_X509_num(chain); i++)
                if (X509_check_issued(sk_X509_value(chain, i + 1), sk_X509_value(chain, i)) != X509_V_OK) {
                        (void) snprintf(warning, sizeof(warning),
                                        "chain certificate %d did not issue certificate %d: the chain is out of order "
                                        "or incomplete", i + 2, i + 1);
                        reason_append(reason, size, warning);
                        warned = true;
                }

        return warned ? 1 : 0;
}

/* Add an extension given in OpenSSL's configuration syntax ("critical,CA:FALSE"). */
static int cert_add_extension(X509 *x, int nid, const char *value) {
        X509_EXTENSION *ext;
        X509V3_CTX v3;
        int ok;

        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
        if (!ext)
                return -EINVAL;
        ok = X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        return ok ? 0 : -ENOMEM;
}

static int cert_add_names(X509 *x, char *const *domains) {
        _cleanup_(general_names_freep) GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();

        if (!names)
                return -ENOMEM;
        for (size_t i = 0; domains[i]; i++) {
                GENERAL_NAME *g = GENERAL_NAME_new();
                ASN1_IA5STRING *s = ASN1_IA5STRING_new();

                if (!g || !s || !ASN1_STRING_set(s, domains[i], -1)) {
                        GENERAL_NAME_free(g);
                        ASN1_IA5STRING_free(s);
                        return -ENOMEM;
                }
                GENERAL_NAME_set0_value(g, GEN_DNS, s);
                if (sk_GENERAL_NAME_push(names, g) <= 0) {
                        GENERAL_NAME_free(g);
                        return -ENOMEM;
                }
        }
        return X509_add1_ext_i2d(x, NID_subject_alt_name, names, /* crit= */ 0, X509V3_ADD_DEFAULT) == 1 ? 0 : -ENOMEM;
}

/* Fill in a certificate for domains: random serial, validity from now, subject and issuer CN the
 * first name (when it fits), the names as SANs, and the extensions of a server certificate. */
static int cert_fill(X509 *x, EVP_PKEY *pkey, char *const *domains, time_t now) {
        _cleanup_(bignum_freep) BIGNUM *serial = BN_new();
        X509_NAME *subject = X509_get_subject_name(x);
        int r;

        if (!serial || !BN_rand(serial, TLS_SERIAL_BITS, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
            !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)))
                return -ENOMEM;
        if (!X509_set_version(x, X509_VERSION_3) || !X509_set_pubkey(x, pkey) ||
            !X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) ||
            !X509_time_adj_ex(X509_getm_notAfter(x), TLS_SELF_SIGNED_DAYS, 0, &now))
                return -ENOMEM;
        if (strlen(domains[0]) <= TLS_COMMON_NAME_MAX &&
            !X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *) domains[0], -1, -1, 0))
                return -ENOMEM;
        if (!X509_set_issuer_name(x, subject))
                return -ENOMEM;

        r = cert_add_names(x, domains);
        if (r < 0)
                return r;
        r = cert_add_extension(x, NID_basic_constraints, "critical,CA:FALSE");
        if (r < 0)
                return r;
        r = cert_add_extension(x, NID_key_usage, "critical,digitalSignature");
        if (r < 0)
                return r;
        r = cert_add_extension(x, NID_ext_key_usage, "serverAuth");
        if (r < 0)
                return r;
        return cert_add_extension(x, NID_subject_key_identifier, "hash");
}

/* The contents of a memory BIO as a NUL-terminated string. */
static int bio_to_string(BIO *bio, char **ret) {
        char *data;
        long n;

        n = BIO_get_mem_data(bio, &data);
        if (n < 0)
                return -ENOMEM;
        *ret = strndup(data, (size_t) n);
        return *ret ? 0 : -ENOMEM;
}

int tls_self_signed_make(char *const *domains, time_t now, char **ret_fullchain, char **ret_key) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *pkey = NULL;
        _cleanup_(x509_freep) X509 *x = NULL;
        _cleanup_(bio_freep) BIO *cert_bio = NULL, *key_bio = NULL;
        _cleanup_free_ char *fullchain = NULL, *key = NULL;
        int r;

        if (!domains || !domains[0])
                return -EINVAL;

        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        x = X509_new();
        if (!pkey || !x) {
                ERR_clear_error();
                return -ENOMEM;
        }
        r = cert_fill(x, pkey, domains, now);
        if (r < 0) {
                ERR_clear_error();
                return r;
        }
        if (X509_sign(x, pkey, EVP_sha256()) <= 0) {
                ERR_clear_error();
                return -EIO;
        }

        cert_bio = BIO_new(BIO_s_mem());
        key_bio = BIO_new(BIO_s_mem());
        if (!cert_bio || !key_bio || !PEM_write_bio_X509(cert_bio, x) ||
            !PEM_write_bio_PrivateKey(key_bio, pkey, NULL, NULL, 0, NULL, NULL)) {
                ERR_clear_error();
                return -ENOMEM;
        }
        r = bio_to_string(cert_bio, &fullchain);
        if (r < 0)
                return r;
        r = bio_to_string(key_bio, &key);
        if (r < 0)
                return r;

        *ret_fullchain = TAKE_PTR(fullchain);
        *ret_key = TAKE_PTR(key);
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
                                    "not starting with '.'.", CERT_ARGS(c), shown ?: "?", TLS_NAME_LENGTH_MAX);
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

        r = http_client_new(HTTP_CLIENT_ALLOW_HTTPS, &client);
        if (r < 0)
                return report_error(ctx, ITEM(c), r, "Failed to fetch source.uri '%s' of " CERT_FMT ": %m",
                                    c->source_uri, CERT_ARGS(c));
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
                log_debug("%s already holds the certificate of " CERT_FMT ".", dir, CERT_ARGS(c));
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
                        "not starting with '.'.", TLS_NAME_LENGTH_MAX);
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
          .description = "The address the ACME account is registered with. Without it certbot registers "
                         "without an address." },
        { .name = "server", .shape = { .types = SHAPE_STRING, .pattern = "^https://", .check = https_check },
          .description = "The ACME directory URL. Default: certbot's (Let's Encrypt)." },
        { .name = "challenge", .shape = { .types = SHAPE_STRING, .values = acme_challenge_values },
          .description = "How certbot proves control of the names: webroot, nginx or apache. Default: webroot." },
        { .name = "webroot", .shape = { .types = SHAPE_STRING, .pattern = "^/", .check = absolute_path_check },
          .description = "The directory the web server serves, for the webroot challenge. Default: "
                         ACME_WEBROOT_DEFAULT "." },
        {}
};

static const KeyField source_fields[] = {
        { .name = "uri", .shape = { .types = SHAPE_STRING, .check = uri_check }, .required = true,
          .description = "An http:// or https:// URL that serves the certificate chain as PEM." },
        {}
};

static const KeyShape certificate_domain_shape = { .types = SHAPE_STRING, .check = domain_shape_check };

static const KeyField certificate_fields[] = {
        { .name = "name", .shape = { .types = SHAPE_STRING, .pattern = "^[a-z0-9_-][a-z0-9_.-]{0,63}$",
                                     .check = certificate_name_check }, .required = true,
          .description = "The certificate's name, unique in the list: it is installed in "
                         TLS_DIR "/NAME/" TLS_FULLCHAIN_FILE " and " TLS_PRIVKEY_FILE "." },
        { .name = "cert", .shape = { .types = SHAPE_STRING },
          .description = "The certificate as PEM: the leaf first, then its chain." },
        { .name = "cert_file", .shape = { .types = SHAPE_STRING, .pattern = "^/", .check = absolute_path_check },
          .description = "A file in the image that contains the certificate as cert does." },
        { .name = "source", .shape = { .types = SHAPE_MAPPING, .fields = source_fields },
          .description = "Fetch the certificate chain from a URL." },
        { .name = "key", .shape = { .types = SHAPE_STRING },
          .description = "The private key as PEM, unencrypted. It is never logged." },
        { .name = "key_file", .shape = { .types = SHAPE_STRING, .pattern = "^/", .check = absolute_path_check },
          .description = "A file in the image that contains the private key." },
        { .name = "domains", .shape = { .types = SHAPE_LIST | SHAPE_NULL, .items = &certificate_domain_shape },
          .description = "The names the certificate must cover. Default: the top-level domains." },
        { .name = "self_signed", .shape = { .types = SHAPE_BOOLEAN },
          .description = "Without a certificate, make a self-signed one (EC P-256, valid for a year) for the "
                         "domains. It is kept while it is valid and covers them, and made anew 14 days before "
                         "it expires." },
        { .name = "acme", .shape = { .types = SHAPE_MAPPING, .fields = acme_fields },
          .description = "Without a certificate, have the image's certbot issue one. Default: tls.acme." },
        {}
};

static const KeyShape certificate_shape = {
        .types = SHAPE_MAPPING, .fields = certificate_fields, .check = certificate_check,
};

static const KeyField tls_mapping_fields[] = {
        { .name = "certificates", .shape = { .types = SHAPE_LIST | SHAPE_NULL, .items = &certificate_shape },
          .description = "The certificates to install. Each is checked before it replaces the previous one: the "
                         "PEM parses, the key matches, it is valid now, and it covers its domains." },
        { .name = "acme", .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = acme_fields },
          .description = "The ACME settings of certificates that name neither a certificate nor their own acme." },
        {}
};

static const KeyField tls_fields[] = {
        { .name = "tls",
          .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = tls_mapping_fields, .check = tls_check },
          .description = "TLS certificates and keys for the web sites, installed in " TLS_DIR "/NAME/." },
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
