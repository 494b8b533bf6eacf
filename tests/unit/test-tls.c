/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/tls.c: the checks before a certificate is installed, with certificates
 * made here with libcrypto, the self-signed certificates, and the module on a scratch root. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "schema.h"
#include "test-helpers.h"
#include "tls.h"

#define DAY (24 * 60 * 60)

/* A key and a certificate as PEM text. */
typedef struct Pem {
        char *cert;
        char *key;
        EVP_PKEY *pkey;
        X509 *x509;
} Pem;

static void pem_done(Pem *p) {
        free(p->cert);
        free(p->key);
        EVP_PKEY_free(p->pkey);
        X509_free(p->x509);
        *p = (Pem) {};
}

static char *bio_text(BIO *bio) {
        char *data;
        long n = BIO_get_mem_data(bio, &data);
        char *s = strndup(data, (size_t) n);

        assert_non_null(s);
        BIO_free(bio);
        return s;
}

/* Make a certificate with these SANs (NULL-terminated, may be NULL) and common name, valid from
 * now + from to now + to seconds, signed by issuer (NULL: self-signed) with md. rsa_bits 0 means
 * an EC P-256 key, otherwise an RSA key of that size. */
static Pem make_cert_with(const char *cn, const char *const *sans, long from, long to, const Pem *issuer,
                          size_t rsa_bits, const EVP_MD *md) {
        Pem p = {};
        BIO *bio;
        time_t now = time(NULL);

        p.pkey = rsa_bits > 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", rsa_bits) :
                                EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        p.x509 = X509_new();
        assert_non_null(p.pkey);
        assert_non_null(p.x509);
        assert_int_equal(X509_set_version(p.x509, X509_VERSION_3), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(p.x509), (long) random()), 1);
        assert_non_null(X509_time_adj_ex(X509_getm_notBefore(p.x509), 0, from, &now));
        assert_non_null(X509_time_adj_ex(X509_getm_notAfter(p.x509), 0, to, &now));
        assert_int_equal(X509_set_pubkey(p.x509, p.pkey), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(p.x509), "CN", MBSTRING_ASC,
                                                    (const unsigned char *) cn, -1, -1, 0), 1);
        assert_int_equal(X509_set_issuer_name(p.x509, issuer ? X509_get_subject_name(issuer->x509) :
                                                                 X509_get_subject_name(p.x509)), 1);
        if (sans) {
                GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();

                for (size_t i = 0; sans[i]; i++) {
                        GENERAL_NAME *g = GENERAL_NAME_new();
                        ASN1_IA5STRING *s = ASN1_IA5STRING_new();

                        assert_int_equal(ASN1_STRING_set(s, sans[i], -1), 1);
                        GENERAL_NAME_set0_value(g, GEN_DNS, s);
                        assert_true(sk_GENERAL_NAME_push(names, g) > 0);
                }
                assert_int_equal(X509_add1_ext_i2d(p.x509, NID_subject_alt_name, names, 0, 0), 1);
                GENERAL_NAMES_free(names);
        }
        if (!issuer) {
                X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");

                assert_non_null(ext);
                assert_int_equal(X509_add_ext(p.x509, ext, -1), 1);
                X509_EXTENSION_free(ext);
        }
        assert_true(X509_sign(p.x509, issuer ? issuer->pkey : p.pkey, md) > 0);

        bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_X509(bio, p.x509), 1);
        p.cert = bio_text(bio);
        bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_PrivateKey(bio, p.pkey, NULL, NULL, 0, NULL, NULL), 1);
        p.key = bio_text(bio);
        return p;
}

static Pem make_cert(const char *cn, const char *const *sans, long from, long to, const Pem *issuer) {
        return make_cert_with(cn, sans, from, to, issuer, /* rsa_bits= */ 0, EVP_sha256());
}

static const char *const shop_sans[] = { "shop.example.com", "www.example.com", NULL };
static char *shop_domains[] = { "shop.example.com", "www.example.com", NULL };

static int check(const Pem *p, char *const *domains, char *reason, size_t size) {
        return tls_pair_check(p->cert, strlen(p->cert), p->key, strlen(p->key), domains, time(NULL), reason, size);
}

static void tls_pair_check_valid(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        char reason[512];

        (void) state;
        assert_int_equal(check(&p, shop_domains, reason, sizeof(reason)), 0);
        assert_string_equal(reason, "");
}

static void tls_pair_check_expired(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -10 * DAY, -DAY, NULL);
        char reason[512];

        (void) state;
        assert_int_equal(check(&p, shop_domains, reason, sizeof(reason)), -EKEYEXPIRED);
        assert_string_equal(reason, "the certificate has expired");
}

static void tls_pair_check_not_yet_valid(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, DAY, 90 * DAY, NULL);
        char reason[512];

        (void) state;
        assert_int_equal(check(&p, shop_domains, reason, sizeof(reason)), -EKEYEXPIRED);
        assert_string_equal(reason, "the certificate is not valid yet");
}

static void tls_pair_check_expiring_soon_warns(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 5 * DAY + 3600, NULL);
        char reason[512];

        (void) state;
        assert_int_equal(check(&p, shop_domains, reason, sizeof(reason)), 1);
        assert_string_equal(reason, "the certificate expires in 5 days");
}

static void tls_pair_check_wrong_key(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        _cleanup_(pem_done) Pem other = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        char reason[512];

        (void) state;
        assert_int_equal(tls_pair_check(p.cert, strlen(p.cert), other.key, strlen(other.key), shop_domains, time(NULL),
                                        reason, sizeof(reason)), -EKEYREJECTED);
        assert_string_equal(reason, "the key does not match the certificate");
}

static void tls_pair_check_san_mismatch(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        char *domains[] = { "shop.example.com", "api.example.com", NULL };
        char reason[512];

        (void) state;
        assert_int_equal(check(&p, domains, reason, sizeof(reason)), -EINVAL);
        assert_string_equal(reason, "the certificate does not cover the name 'api.example.com'");
}

static void tls_pair_check_common_name_ignored_with_sans(void **state) {
        static const char *const sans[] = { "www.example.com", NULL };
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", sans, -DAY, 90 * DAY, NULL);
        char *domains[] = { "shop.example.com", NULL };
        char reason[512];

        (void) state;
        assert_int_equal(check(&p, domains, reason, sizeof(reason)), -EINVAL);
}

static void tls_pair_check_wildcard_coverage(void **state) {
        static const char *const sans[] = { "*.example.com", NULL };
        _cleanup_(pem_done) Pem p = make_cert("example.com", sans, -DAY, 90 * DAY, NULL);
        char *one_label[] = { "shop.example.com", "www.example.com", NULL };
        char *two_labels[] = { "a.shop.example.com", NULL };
        char *apex[] = { "example.com", NULL };
        char *wildcard[] = { "*.example.com", NULL };
        char *other_wildcard[] = { "*.shop.example.com", NULL };
        char reason[512];

        (void) state;
        assert_int_equal(check(&p, one_label, reason, sizeof(reason)), 0);
        assert_int_equal(check(&p, two_labels, reason, sizeof(reason)), -EINVAL);
        assert_int_equal(check(&p, apex, reason, sizeof(reason)), -EINVAL);
        assert_int_equal(check(&p, wildcard, reason, sizeof(reason)), 0);
        assert_int_equal(check(&p, other_wildcard, reason, sizeof(reason)), -EINVAL);
}

static void tls_pair_check_chain_in_order(void **state) {
        _cleanup_(pem_done) Pem ca = make_cert("kiln test CA", NULL, -DAY, 365 * DAY, NULL);
        _cleanup_(pem_done) Pem leaf = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, &ca);
        _cleanup_free_ char *chain = NULL;
        char reason[512];

        (void) state;
        assert_true(asprintf(&chain, "%s%s", leaf.cert, ca.cert) > 0);
        assert_int_equal(tls_pair_check(chain, strlen(chain), leaf.key, strlen(leaf.key), shop_domains, time(NULL),
                                        reason, sizeof(reason)), 0);
}

static void tls_pair_check_chain_out_of_order_warns(void **state) {
        _cleanup_(pem_done) Pem ca = make_cert("kiln test CA", NULL, -DAY, 365 * DAY, NULL);
        _cleanup_(pem_done) Pem other_ca = make_cert("kiln other CA", NULL, -DAY, 365 * DAY, NULL);
        _cleanup_(pem_done) Pem intermediate = make_cert("kiln test intermediate", NULL, -DAY, 365 * DAY, &ca);
        _cleanup_(pem_done) Pem leaf = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, &intermediate);
        _cleanup_free_ char *chain = NULL;
        char reason[512];

        (void) state;
        /* The leaf, then a CA that did not issue it, then its real issuer. */
        assert_true(asprintf(&chain, "%s%s%s", leaf.cert, other_ca.cert, intermediate.cert) > 0);
        assert_int_equal(tls_pair_check(chain, strlen(chain), leaf.key, strlen(leaf.key), shop_domains, time(NULL),
                                        reason, sizeof(reason)), 1);
        assert_non_null(strstr(reason, "chain certificate 2 did not issue certificate 1"));
}

static void tls_pair_check_rsa_1024_rejected(void **state) {
        _cleanup_(pem_done) Pem p = make_cert_with("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL, 1024,
                                                   EVP_sha256());
        char reason[512];

        (void) state;
        assert_int_equal(check(&p, shop_domains, reason, sizeof(reason)), -EKEYREJECTED);
        assert_string_equal(reason, "the RSA key of certificate 1 has 80 bits of security, fewer than the 112 that "
                                    "OpenSSL requires by default (RSA needs at least 2048 bits)");
}

static void tls_pair_check_rsa_2048_accepted(void **state) {
        _cleanup_(pem_done) Pem p = make_cert_with("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL, 2048,
                                                   EVP_sha256());
        char reason[512];

        (void) state;
        assert_int_equal(check(&p, shop_domains, reason, sizeof(reason)), 0);
}

static void tls_pair_check_sha1_signature_rejected(void **state) {
        _cleanup_(pem_done) Pem ca = make_cert("kiln test CA", NULL, -DAY, 365 * DAY, NULL);
        _cleanup_(pem_done) Pem leaf = make_cert_with("shop.example.com", shop_sans, -DAY, 90 * DAY, &ca, 0,
                                                      EVP_sha1());
        _cleanup_free_ char *chain = NULL;
        char reason[512];

        (void) state;
        assert_true(asprintf(&chain, "%s%s", leaf.cert, ca.cert) > 0);
        assert_int_equal(tls_pair_check(chain, strlen(chain), leaf.key, strlen(leaf.key), shop_domains, time(NULL),
                                        reason, sizeof(reason)), -EKEYREJECTED);
        assert_non_null(strstr(reason, "the signature of certificate 1 has"));
}

static void tls_pair_check_weak_chain_key_rejected(void **state) {
        _cleanup_(pem_done) Pem ca = make_cert_with("kiln test CA", NULL, -DAY, 365 * DAY, NULL, 1024, EVP_sha256());
        _cleanup_(pem_done) Pem leaf = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, &ca);
        _cleanup_free_ char *chain = NULL;
        char reason[512];

        (void) state;
        assert_true(asprintf(&chain, "%s%s", leaf.cert, ca.cert) > 0);
        assert_int_equal(tls_pair_check(chain, strlen(chain), leaf.key, strlen(leaf.key), shop_domains, time(NULL),
                                        reason, sizeof(reason)), -EKEYREJECTED);
        assert_non_null(strstr(reason, "the RSA key of certificate 2 has 80 bits"));
}

static void tls_pair_check_leaf_not_first(void **state) {
        _cleanup_(pem_done) Pem ca = make_cert("kiln test CA", NULL, -DAY, 365 * DAY, NULL);
        _cleanup_(pem_done) Pem leaf = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, &ca);
        _cleanup_free_ char *chain = NULL;
        char reason[512];

        (void) state;
        assert_true(asprintf(&chain, "%s%s", ca.cert, leaf.cert) > 0);
        assert_int_equal(tls_pair_check(chain, strlen(chain), leaf.key, strlen(leaf.key), shop_domains, time(NULL),
                                        reason, sizeof(reason)), -EKEYREJECTED);
}

static void tls_pair_check_garbage(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        const char *text = "not a certificate\n";
        char reason[512];

        (void) state;
        assert_int_equal(tls_pair_check(text, strlen(text), p.key, strlen(p.key), NULL, time(NULL), reason,
                                        sizeof(reason)), -EBADMSG);
        assert_string_equal(reason, "the text holds no PEM certificate");
}

static void tls_pair_check_broken_block(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        const char *broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        _cleanup_free_ char *chain = NULL;
        char reason[512];

        (void) state;
        assert_true(asprintf(&chain, "%s%s", p.cert, broken) > 0);
        assert_int_equal(tls_pair_check(chain, strlen(chain), p.key, strlen(p.key), NULL, time(NULL), reason,
                                        sizeof(reason)), -EBADMSG);
        assert_string_equal(reason, "certificate 2 of the text does not parse");
}

static void tls_pair_check_key_in_certificate_text(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        _cleanup_free_ char *chain = NULL;
        char reason[512];

        (void) state;
        assert_true(asprintf(&chain, "%s%s", p.cert, p.key) > 0);
        assert_int_equal(tls_pair_check(chain, strlen(chain), p.key, strlen(p.key), NULL, time(NULL), reason,
                                        sizeof(reason)), -EBADMSG);
        assert_string_equal(reason, "the certificate text contains a private key");
}

static void tls_pair_check_encrypted_key(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        _cleanup_free_ char *encrypted = NULL;
        BIO *bio = BIO_new(BIO_s_mem());
        char reason[512];

        (void) state;
        assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, p.pkey, EVP_aes_256_cbc(), NULL, 0, NULL, "secret"), 1);
        encrypted = bio_text(bio);
        assert_int_equal(tls_pair_check(p.cert, strlen(p.cert), encrypted, strlen(encrypted), NULL, time(NULL),
                                        reason, sizeof(reason)), -EBADMSG);
        assert_string_equal(reason, "the key is not an unencrypted PEM private key");
}

static void tls_self_signed_make_checks(void **state) {
        char *domains[] = { "shop.example.com", "*.example.com", "xn--bcher-kva.example", NULL };
        _cleanup_free_ char *cert = NULL, *key = NULL;
        char reason[512];
        X509 *x;
        BIO *bio;
        EVP_PKEY *pub;

        (void) state;
        assert_int_equal(tls_self_signed_make(domains, time(NULL), &cert, &key), 0);
        assert_int_equal(tls_pair_check(cert, strlen(cert), key, strlen(key), domains, time(NULL), reason,
                                        sizeof(reason)), 0);

        bio = BIO_new_mem_buf(cert, -1);
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        assert_non_null(x);
        pub = X509_get0_pubkey(x);
        assert_true(EVP_PKEY_is_a(pub, "EC"));
        assert_int_equal(EVP_PKEY_get_bits(pub), 256);
        assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
        assert_int_equal(X509_check_host(x, "shop.example.com", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 1);
        X509_free(x);
}

static void tls_self_signed_make_no_names(void **state) {
        char *domains[] = { NULL };
        char *cert = NULL, *key = NULL;

        (void) state;
        assert_int_equal(tls_self_signed_make(domains, time(NULL), &cert, &key), -EINVAL);
}

static void tls_name_is_valid_rules(void **state) {
        (void) state;
        assert_true(tls_name_is_valid("shop"));
        assert_true(tls_name_is_valid("shop_2.example-1"));
        assert_false(tls_name_is_valid(""));
        assert_false(tls_name_is_valid(".hidden"));
        assert_false(tls_name_is_valid("Shop"));
        assert_false(tls_name_is_valid("a/b"));
        assert_false(tls_name_is_valid(".."));
        assert_false(tls_name_is_valid("-shop"));
        assert_false(tls_name_is_valid("_shop"));
}

static void tls_certificate_paths_layout(void **state) {
        _cleanup_free_ char *fullchain = NULL, *privkey = NULL;

        (void) state;
        assert_int_equal(tls_certificate_paths("shop", &fullchain, &privkey), 0);
        assert_string_equal(fullchain, "/etc/ssl/kiln/shop/fullchain.pem");
        assert_string_equal(privkey, "/etc/ssl/kiln/shop/privkey.pem");
        assert_int_equal(tls_certificate_paths("../etc", &fullchain, &privkey), -EINVAL);
}

/* The module on a scratch root. */

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        test_root_free(*state);
        return 0;
}

static int run(void **state, json_t *config) {
        TestRoot *t = *state;

        json_decref(t->ctx.config);
        t->ctx.config = config;
        return module_tls.run(&t->ctx, t->ctx.config);
}

static json_t *given_config(const Pem *p) {
        json_t *config = json_pack("{s:[s,s], s:{s:[{s:s, s:s, s:s}]}}", "domains", "shop.example.com",
                                   "www.example.com", "tls", "certificates", "name", "shop", "cert", p->cert, "key",
                                   p->key);

        assert_non_null(config);
        return config;
}

static char *read_root(void **state, const char *path) {
        TestRoot *t = *state;
        char *data = NULL;
        size_t size;

        assert_int_equal(read_file_at(t->ctx.root_fd, path, 1024 * 1024, &data, &size), 0);
        return data;
}

static const char *first_error(void **state) {
        TestRoot *t = *state;

        return json_string_value(json_object_get(json_array_get(t->ctx.errors, 0), "message"));
}

static void tls_run_installs_given_pair(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        _cleanup_free_ char *cert = NULL, *key = NULL;
        TestRoot *t = *state;
        struct stat st;

        assert_int_equal(run(state, given_config(&p)), 1);
        cert = read_root(state, "/etc/ssl/kiln/shop/fullchain.pem");
        key = read_root(state, "/etc/ssl/kiln/shop/privkey.pem");
        assert_string_equal(cert, p.cert);
        assert_string_equal(key, p.key);
        assert_int_equal(fstatat(t->ctx.root_fd, "etc/ssl/kiln/shop/privkey.pem", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(fstatat(t->ctx.root_fd, "etc/ssl/kiln/shop/fullchain.pem", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(fstatat(t->ctx.root_fd, "etc/ssl/kiln/shop", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISLNK(st.st_mode));
}

static void tls_run_second_run_unchanged(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        char before[256] = "", after[256] = "";
        TestRoot *t = *state;

        assert_int_equal(run(state, given_config(&p)), 1);
        assert_true(readlinkat(t->ctx.root_fd, "etc/ssl/kiln/shop", before, sizeof(before) - 1) > 0);
        assert_int_equal(run(state, given_config(&p)), 0);
        assert_true(readlinkat(t->ctx.root_fd, "etc/ssl/kiln/shop", after, sizeof(after) - 1) > 0);
        assert_string_equal(before, after);
}

static void tls_run_replacement_removes_old_version(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        _cleanup_(pem_done) Pem q = make_cert("shop.example.com", shop_sans, -DAY, 80 * DAY, NULL);
        _cleanup_free_ char *cert = NULL;
        char before[256] = "", old_path[300];
        TestRoot *t = *state;
        struct stat st;

        assert_int_equal(run(state, given_config(&p)), 1);
        assert_true(readlinkat(t->ctx.root_fd, "etc/ssl/kiln/shop", before, sizeof(before) - 1) > 0);
        assert_int_equal(run(state, given_config(&q)), 1);
        cert = read_root(state, "/etc/ssl/kiln/shop/fullchain.pem");
        assert_string_equal(cert, q.cert);
        (void) snprintf(old_path, sizeof(old_path), "etc/ssl/kiln/%s", before);
        assert_int_equal(fstatat(t->ctx.root_fd, old_path, &st, AT_SYMLINK_NOFOLLOW), -1);
}

static void tls_run_wrong_key_keeps_old_pair(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        _cleanup_(pem_done) Pem q = make_cert("shop.example.com", shop_sans, -DAY, 80 * DAY, NULL);
        _cleanup_free_ char *cert = NULL, *key = NULL;
        json_t *config;

        assert_int_equal(run(state, given_config(&p)), 1);
        config = given_config(&q);
        assert_int_equal(json_object_set_new(json_array_get(json_object_get(json_object_get(config, "tls"),
                                                                             "certificates"), 0),
                                             "key", json_string(p.key)), 0);
        assert_true(run(state, config) < 0);
        assert_string_equal(first_error(state), "tls.certificates[0] 'shop' is not installed: the key does not match "
                                                "the certificate. The previous certificate stays in place.");
        cert = read_root(state, "/etc/ssl/kiln/shop/fullchain.pem");
        key = read_root(state, "/etc/ssl/kiln/shop/privkey.pem");
        assert_string_equal(cert, p.cert);
        assert_string_equal(key, p.key);
}

static void tls_run_weak_key_keeps_old_pair(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        _cleanup_(pem_done) Pem weak = make_cert_with("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL, 1024,
                                                      EVP_sha256());
        _cleanup_free_ char *cert = NULL, *key = NULL;

        assert_int_equal(run(state, given_config(&p)), 1);
        assert_true(run(state, given_config(&weak)) < 0);
        assert_non_null(strstr(first_error(state), "tls.certificates[0] 'shop' is not installed: the RSA key of "
                                                   "certificate 1 has 80 bits of security"));
        cert = read_root(state, "/etc/ssl/kiln/shop/fullchain.pem");
        key = read_root(state, "/etc/ssl/kiln/shop/privkey.pem");
        assert_string_equal(cert, p.cert);
        assert_string_equal(key, p.key);
}

static void tls_run_weak_installed_pair_replaced(void **state) {
        _cleanup_(pem_done) Pem weak = make_cert_with("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL, 1024,
                                                      EVP_sha256());
        _cleanup_free_ char *cert = NULL, *key = NULL;
        TestRoot *t = *state;
        char reason[512];

        /* A pair installed before kiln checked key strength, in the layout that tls.h describes. */
        assert_true(root_mkdir_p(t->ctx.root_fd, "/etc/ssl/kiln/.shop.old", 0755, (uid_t) -1, (gid_t) -1) >= 0);
        assert_int_equal(write_file_atomic(t->ctx.root_fd, "/etc/ssl/kiln/.shop.old/fullchain.pem", weak.cert,
                                           strlen(weak.cert), 0644, (uid_t) -1, (gid_t) -1, 0), 0);
        assert_int_equal(write_file_atomic(t->ctx.root_fd, "/etc/ssl/kiln/.shop.old/privkey.pem", weak.key,
                                           strlen(weak.key), 0600, (uid_t) -1, (gid_t) -1, 0), 0);
        assert_int_equal(symlinkat(".shop.old", t->ctx.root_fd, "etc/ssl/kiln/shop"), 0);

        assert_int_equal(run(state, json_pack("{s:[s,s], s:{s:[{s:s, s:b}]}}", "domains", "shop.example.com",
                                              "www.example.com", "tls", "certificates", "name", "shop",
                                              "self_signed", 1)), 1);
        cert = read_root(state, "/etc/ssl/kiln/shop/fullchain.pem");
        key = read_root(state, "/etc/ssl/kiln/shop/privkey.pem");
        assert_string_not_equal(cert, weak.cert);
        assert_int_equal(tls_pair_check(cert, strlen(cert), key, strlen(key), shop_domains, time(NULL), reason,
                                        sizeof(reason)), 0);
}

static void tls_run_key_never_in_messages(void **state) {
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", shop_sans, -DAY, 90 * DAY, NULL);
        _cleanup_free_ char *dump = NULL;
        json_t *config = given_config(&p);
        TestRoot *t = *state;

        assert_int_equal(json_object_set_new(json_array_get(json_object_get(json_object_get(config, "tls"),
                                                                             "certificates"), 0),
                                             "cert", json_string("garbage")), 0);
        assert_true(run(state, config) < 0);
        dump = json_dumps(t->ctx.errors, 0);
        assert_null(strstr(dump, "PRIVATE"));
}

static void tls_run_uncovered_domain_error(void **state) {
        static const char *const sans[] = { "shop.example.com", NULL };
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", sans, -DAY, 90 * DAY, NULL);
        TestRoot *t = *state;

        assert_true(run(state, given_config(&p)) < 0);
        assert_string_equal(first_error(state), "tls.certificates[0] 'shop' is not installed: the certificate does "
                                                "not cover the name 'www.example.com'. No certificate is in place.");
        assert_int_equal(root_exists(t->ctx.root_fd, "/etc/ssl/kiln/shop"), 0);
}

static void tls_run_entry_domains_override(void **state) {
        static const char *const sans[] = { "shop.example.com", NULL };
        _cleanup_(pem_done) Pem p = make_cert("shop.example.com", sans, -DAY, 90 * DAY, NULL);
        json_t *config = given_config(&p);

        assert_int_equal(json_object_set_new(json_array_get(json_object_get(json_object_get(config, "tls"),
                                                                             "certificates"), 0),
                                             "domains", json_pack("[s]", "Shop.Example.com")), 0);
        assert_int_equal(run(state, config), 1);
}

static void tls_run_self_signed_once(void **state) {
        _cleanup_free_ char *first = NULL, *second = NULL;
        char reason[512];
        _cleanup_free_ char *key = NULL;

        assert_int_equal(run(state, json_pack("{s:[s], s:{s:[{s:s, s:b}]}}", "domains", "shop.example.com", "tls",
                                              "certificates", "name", "shop", "self_signed", 1)), 1);
        first = read_root(state, "/etc/ssl/kiln/shop/fullchain.pem");
        key = read_root(state, "/etc/ssl/kiln/shop/privkey.pem");
        assert_int_equal(tls_pair_check(first, strlen(first), key, strlen(key), (char *[]) { "shop.example.com", NULL },
                                        time(NULL), reason, sizeof(reason)), 0);

        assert_int_equal(run(state, json_pack("{s:[s], s:{s:[{s:s, s:b}]}}", "domains", "shop.example.com", "tls",
                                              "certificates", "name", "shop", "self_signed", 1)), 0);
        second = read_root(state, "/etc/ssl/kiln/shop/fullchain.pem");
        assert_string_equal(first, second);
}

static void tls_run_self_signed_new_domains(void **state) {
        _cleanup_free_ char *cert = NULL, *key = NULL;
        char reason[512];

        assert_int_equal(run(state, json_pack("{s:[s], s:{s:[{s:s, s:b}]}}", "domains", "shop.example.com", "tls",
                                              "certificates", "name", "shop", "self_signed", 1)), 1);
        assert_int_equal(run(state, json_pack("{s:[s,s], s:{s:[{s:s, s:b}]}}", "domains", "shop.example.com",
                                              "api.example.com", "tls", "certificates", "name", "shop",
                                              "self_signed", 1)), 1);
        cert = read_root(state, "/etc/ssl/kiln/shop/fullchain.pem");
        key = read_root(state, "/etc/ssl/kiln/shop/privkey.pem");
        assert_int_equal(tls_pair_check(cert, strlen(cert), key, strlen(key), (char *[]) { "api.example.com", NULL },
                                        time(NULL), reason, sizeof(reason)), 0);
}

static void tls_run_self_signed_without_names(void **state) {
        assert_true(run(state, json_pack("{s:{s:[{s:s, s:b}]}}", "tls", "certificates", "name", "shop",
                                         "self_signed", 1)) < 0);
        assert_string_equal(first_error(state), "tls.certificates[0] 'shop' is self-signed but names no domains: set "
                                                "its domains or the top-level domains.");
}

static void tls_run_certbot_missing(void **state) {
        assert_true(run(state, json_pack("{s:[s], s:{s:{s:s}, s:[{s:s}]}}", "domains", "shop.example.com", "tls",
                                         "acme", "email", "admin@example.com", "certificates", "name", "shop")) < 0);
        assert_string_equal(first_error(state), "tls.certificates[0] 'shop' asks for an ACME certificate, but certbot "
                                                "is missing: the image has no /usr/bin/certbot.");
}

typedef struct ErrorCase {
        const char *config;
        const char *message;
} ErrorCase;

static const ErrorCase error_cases[] = {
        { "{\"tls\": {\"certificates\": [{\"self_signed\": true}]}}", "tls.certificates[0] has no name." },
        { "{\"tls\": {\"certificates\": [{\"name\": \"../x\", \"self_signed\": true}]}}",
          "tls.certificates[0]: name '../x' is invalid: use 1 to 64 of a-z, 0-9, '_', '.' and '-', starting with "
          "a letter or digit." },
        { "{\"tls\": {\"certificates\": [{\"name\": \"a\"}]}}",
          "tls.certificates[0] 'a' names no certificate: set cert, cert_file or source with key or key_file, or "
          "acme, or self_signed: true." },
        { "{\"tls\": {\"certificates\": [{\"name\": \"a\", \"cert\": \"x\"}]}}",
          "tls.certificates[0] 'a': a certificate is given without key or key_file." },
        { "{\"tls\": {\"certificates\": [{\"name\": \"a\", \"cert\": \"x\", \"cert_file\": \"/x\", \"key\": \"k\"}]}}",
          "tls.certificates[0] 'a': set only one of cert, cert_file and source." },
        { "{\"tls\": {\"certificates\": [{\"name\": \"a\", \"source\": {\"uri\": \"file:///etc/x\"}, \"key\": \"k\"}]}}",
          "tls.certificates[0] 'a': source.uri 'file:///etc/x' is not an http:// or https:// URL." },
        { "{\"tls\": {\"certificates\": [{\"name\": \"a\", \"cert_file\": \"x.pem\", \"key\": \"k\"}]}}",
          "tls.certificates[0] 'a': cert_file 'x.pem' is not an absolute path." },
        { "{\"tls\": {\"certificates\": [{\"name\": \"a\", \"self_signed\": \"yes\"}]}}",
          "tls.certificates[0] 'a': self_signed is not true or false." },
        { "{\"tls\": {\"certificates\": [{\"name\": \"a\", \"acme\": {\"challenge\": \"dns\"}}]}}",
          "tls.certificates[0] 'a': acme.challenge 'dns' is not one of webroot, nginx and apache." },
        { "{\"tls\": {\"acme\": {\"server\": \"http://acme.example\"}, \"certificates\": []}}",
          "tls: acme.server 'http://acme.example' is not an https:// URL." },
        { "{\"tls\": {\"certificates\": [{\"name\": \"a\", \"self_signed\": true, \"domains\": [\"nodot\"]}]}}",
          "tls.certificates[0] 'a': domains[0]: invalid name 'nodot': it has a single label, and a public name "
          "needs a dot." },
        { "{\"tls\": {\"certificates\": [{\"name\": \"a\", \"cert_file\": \"/missing.pem\", \"key\": \"k\"}]}}",
          "Failed to read cert_file '/missing.pem' of tls.certificates[0] 'a': No such file or directory" },
        { "{\"tls\": []}", "tls is not a mapping with certificates." },
        { "{\"tls\": {\"certificates\": {}}}", "tls.certificates is not a list." },
        { "{\"tls\": {\"certificates\": [3]}}", "tls.certificates[0] is not a mapping with name, cert and key." },
};

static void tls_run_error_messages(void **state) {
        TestRoot *t = *state;

        for (size_t i = 0; i < ELEMENTSOF(error_cases); i++) {
                json_array_clear(t->ctx.errors);
                if (run(state, json_loads(error_cases[i].config, 0, NULL)) >= 0)
                        fail_msg("%s: accepted", error_cases[i].config);
                assert_non_null(first_error(state));
                if (!streq(first_error(state), error_cases[i].message))
                        fail_msg("%s: got '%s'", error_cases[i].config, first_error(state));
        }
}

static void count_report(const SchemaDiagnostic *d, void *userdata) {
        (void) d;
        (void) userdata;
}

/* The configs of error_cases that `kiln validate` can judge without the root: all but the file
 * that is missing at run time. */
static void tls_validate_agrees_with_run(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(error_cases); i++) {
                json_auto_t *config = json_loads(error_cases[i].config, 0, NULL);

                if (strstr(error_cases[i].config, "/missing.pem"))
                        continue;
                if (schema_check(config, NULL, 0, count_report, NULL) <= 0)
                        fail_msg("%s: kiln validate accepts it", error_cases[i].config);
        }
}

static void tls_validate_accepts_tls_acme_default(void **state) {
        json_auto_t *config = json_loads("{\"domains\": [\"shop.example.com\"], \"tls\": {\"acme\": "
                                         "{\"email\": \"a@example.com\"}, \"certificates\": [{\"name\": \"a\"}]}}",
                                         0, NULL);

        (void) state;
        assert_int_equal(schema_check(config, NULL, 0, count_report, NULL), 0);
}

static void tls_run_duplicate_name(void **state) {
        assert_true(run(state, json_pack("{s:[s], s:{s:[{s:s, s:b}, {s:s, s:b}]}}", "domains", "shop.example.com",
                                         "tls", "certificates", "name", "shop", "self_signed", 1, "name", "shop",
                                         "self_signed", 1)) < 0);
        assert_string_equal(first_error(state), "tls.certificates[1] 'shop': an earlier entry has the same name.");
}

static void tls_run_failure_does_not_stop_others(void **state) {
        TestRoot *t = *state;

        assert_true(run(state, json_pack("{s:[s], s:{s:[{s:s}, {s:s, s:b}]}}", "domains", "shop.example.com", "tls",
                                         "certificates", "name", "bad", "name", "good", "self_signed", 1)) < 0);
        assert_int_equal(root_exists(t->ctx.root_fd, "/etc/ssl/kiln/good/fullchain.pem"), 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(tls_pair_check_valid),
                cmocka_unit_test(tls_pair_check_expired),
                cmocka_unit_test(tls_pair_check_not_yet_valid),
                cmocka_unit_test(tls_pair_check_expiring_soon_warns),
                cmocka_unit_test(tls_pair_check_wrong_key),
                cmocka_unit_test(tls_pair_check_san_mismatch),
                cmocka_unit_test(tls_pair_check_common_name_ignored_with_sans),
                cmocka_unit_test(tls_pair_check_wildcard_coverage),
                cmocka_unit_test(tls_pair_check_chain_in_order),
                cmocka_unit_test(tls_pair_check_chain_out_of_order_warns),
                cmocka_unit_test(tls_pair_check_rsa_1024_rejected),
                cmocka_unit_test(tls_pair_check_rsa_2048_accepted),
                cmocka_unit_test(tls_pair_check_sha1_signature_rejected),
                cmocka_unit_test(tls_pair_check_weak_chain_key_rejected),
                cmocka_unit_test(tls_pair_check_leaf_not_first),
                cmocka_unit_test(tls_pair_check_garbage),
                cmocka_unit_test(tls_pair_check_broken_block),
                cmocka_unit_test(tls_pair_check_key_in_certificate_text),
                cmocka_unit_test(tls_pair_check_encrypted_key),
                cmocka_unit_test(tls_self_signed_make_checks),
                cmocka_unit_test(tls_self_signed_make_no_names),
                cmocka_unit_test(tls_name_is_valid_rules),
                cmocka_unit_test(tls_certificate_paths_layout),
                T(tls_run_installs_given_pair),
                T(tls_run_second_run_unchanged),
                T(tls_run_replacement_removes_old_version),
                T(tls_run_wrong_key_keeps_old_pair),
                T(tls_run_weak_key_keeps_old_pair),
                T(tls_run_weak_installed_pair_replaced),
                T(tls_run_key_never_in_messages),
                T(tls_run_uncovered_domain_error),
                T(tls_run_entry_domains_override),
                T(tls_run_self_signed_once),
                T(tls_run_self_signed_new_domains),
                T(tls_run_self_signed_without_names),
                T(tls_run_certbot_missing),
                T(tls_run_error_messages),
                cmocka_unit_test(tls_validate_agrees_with_run),
                cmocka_unit_test(tls_validate_accepts_tls_acme_default),
                T(tls_run_duplicate_name),
                T(tls_run_failure_does_not_stop_others),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
