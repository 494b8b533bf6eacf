/* SPDX-License-Identifier: Apache-2.0 */
/* The libcrypto side of the tls module: the checks that a certificate chain and key pass before
 * they are installed, and the making of a self-signed certificate. */

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "domains.h"
#include "lib/macro.h"
#include "tls.h"

/* Validity of a self-signed certificate. It is made anew TLS_EXPIRY_WARNING_DAYS before it ends. */
#define TLS_SELF_SIGNED_DAYS 365
/* Bits of the random serial number of a self-signed certificate (RFC 5280 allows up to 159). */
#define TLS_SERIAL_BITS 128
/* The maximum common name length of X.509 (ub-common-name). Longer names go in the SANs only. */
#define TLS_COMMON_NAME_MAX 64U
#define SECONDS_PER_DAY (24 * 60 * 60)
/* The bits of security that OpenSSL's default security level 2 requires of every key and of every
 * signature that is not self-signed: nginx and apache reject weaker ones when they load the
 * certificate ("ee key too small", "ca md too weak"). RSA, DSA and DH keys below 2048 bits and SHA-1
 * signatures fall short. Debian 12's OpenSSL 3.0 uses level 2 by default. */
#define TLS_SECURITY_BITS_MIN 112
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

/* Check that every key and every signature that is not self-signed in the chain has at least
 * TLS_SECURITY_BITS_MIN bits of security, as a TLS server library loading it requires. */
static int strength_check(STACK_OF(X509) *chain, char *reason, size_t rsize) {
        for (int i = 0; i < sk_X509_num(chain); i++) {
                X509 *x = sk_X509_value(chain, i);
                EVP_PKEY *pub = X509_get0_pubkey(x);
                int bits = pub ? EVP_PKEY_get_security_bits(pub) : -1;

                if (bits < TLS_SECURITY_BITS_MIN) {
                        (void) snprintf(reason, rsize,
                                        "the %s key of certificate %d has %d bits of security, fewer than the %d "
                                        "that OpenSSL requires by default (RSA needs at least 2048 bits)",
                                        pub ? EVP_PKEY_get0_type_name(pub) : "unknown", i + 1, bits,
                                        TLS_SECURITY_BITS_MIN);
                        ERR_clear_error();
                        return -EKEYREJECTED;
                }

                /* OpenSSL does not check the signature of a self-signed certificate. */
                if (X509_get_extension_flags(x) & EXFLAG_SS)
                        continue;
                if (X509_get_signature_info(x, /* mdnid= */ NULL, /* pknid= */ NULL, &bits, /* flags= */ NULL) != 1)
                        bits = -1;
                ERR_clear_error();
                if (bits < TLS_SECURITY_BITS_MIN) {
                        (void) snprintf(reason, rsize,
                                        "the signature of certificate %d has %d bits of security, fewer than the %d "
                                        "that OpenSSL requires by default (SHA-1 is too weak)",
                                        i + 1, bits, TLS_SECURITY_BITS_MIN);
                        return -EKEYREJECTED;
                }
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

        r = strength_check(chain, reason, size);
        if (r < 0)
                return r;

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
