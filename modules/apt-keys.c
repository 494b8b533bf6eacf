/* SPDX-License-Identifier: Apache-2.0 */
/* OpenPGP public keys for apt sources: decoding the armor, v4 fingerprints, key ids, and the HKP
 * lookup of a key by id on a keyserver. */

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "apt-internal.h"
#include "lib/curl-util.h"
#include "lib/macro.h"

#define PGP_ARMOR_BEGIN "-----BEGIN PGP PUBLIC KEY BLOCK-----"
#define PGP_ARMOR_END "-----END PGP PUBLIC KEY BLOCK-----"

/* OpenPGP packet tags (RFC 4880 section 4.3). */
#define PGP_TAG_PUBLIC_KEY 6
#define PGP_TAG_PUBLIC_SUBKEY 14

/* Maximum length of a keyserver address. */
#define HKP_KEYSERVER_MAX 255U
/* The port of hkp:// keyservers (draft-shaw-openpgp-hkp-00, section 2). */
#define HKP_DEFAULT_PORT "11371"

/* Collect the base64 characters of the armor body, between the empty line after the armor
 * headers and the checksum line that starts with '='. Padding '=' at the end of the data is
 * kept. Returns 0 with *ret (caller owns) and *ret_pad, or -EINVAL with the reason. */
static int armor_body_collect(const char *text, char **ret, size_t *ret_pad, char *reason, size_t reason_size) {
        _cleanup_free_ char *body = NULL;
        const char *begin, *end, *p;
        size_t n = 0, pad = 0;

        begin = strstr(text, PGP_ARMOR_BEGIN);
        end = begin ? strstr(begin, PGP_ARMOR_END) : NULL;
        if (!begin || !end) {
                (void) snprintf(reason, reason_size, "is not an armored OpenPGP public key (no '%s' ... '%s' lines)",
                                PGP_ARMOR_BEGIN, PGP_ARMOR_END);
                return -EINVAL;
        }

        p = strstr(begin, "\n\n");
        if (!p || p > end) {
                (void) snprintf(reason, reason_size, "has no empty line after the armor header");
                return -EINVAL;
        }
        body = malloc(end - p + 1);
        if (!body)
                return -ENOMEM;
        for (p += 2; p < end && *p != '='; p++) {
                if (*p == '\n' || *p == '\r' || *p == ' ')
                        continue;
                if (!isalnum((unsigned char) *p) && *p != '+' && *p != '/') {
                        (void) snprintf(reason, reason_size, "contains '%c' in its base64 data",
                                        isprint((unsigned char) *p) ? *p : '?');
                        return -EINVAL;
                }
                body[n++] = *p;
        }
        while (p < end && *p == '=' && n % 4 != 0) {
                body[n++] = '=';
                pad++;
                p++;
        }
        body[n] = '\0';
        if (n == 0 || n % 4 != 0) {
                (void) snprintf(reason, reason_size, "has base64 data of invalid length");
                return -EINVAL;
        }
        *ret = TAKE_PTR(body);
        *ret_pad = pad;
        return 0;
}

/* Read the header of the packet at data: its tag, and where its body starts and ends.
 * Old format: bits 5-2 are the tag and bits 1-0 the length type. New format (bit 6 set): bits 5-0
 * are the tag and the length follows as RFC 4880 section 4.2.2 describes. Partial and
 * indeterminate lengths do not occur in key blocks and are rejected. Returns 0 or -EINVAL. */
static int pgp_packet_read(const unsigned char *data, size_t size, int *ret_tag, size_t *ret_header,
                           size_t *ret_length) {
        size_t header, length;

        if (size < 2 || !(data[0] & 0x80))
                return -EINVAL;

        if (data[0] & 0x40) {
                unsigned first = data[1];

                *ret_tag = data[0] & 0x3f;
                if (first < 192) {
                        header = 2;
                        length = first;
                } else if (first < 224) {
                        if (size < 3)
                                return -EINVAL;
                        header = 3;
                        length = ((size_t) (first - 192) << 8) + data[2] + 192;
                } else if (first == 255) {
                        if (size < 6)
                                return -EINVAL;
                        header = 6;
                        length = (size_t) data[2] << 24 | (size_t) data[3] << 16 | (size_t) data[4] << 8 | data[5];
                } else
                        return -EINVAL;
        } else {
                unsigned type = data[0] & 0x03;

                *ret_tag = (data[0] >> 2) & 0x0f;
                if (type == 3)
                        return -EINVAL;
                header = 1 + (1U << type);
                if (size < header)
                        return -EINVAL;
                length = 0;
                for (size_t i = 1; i < header; i++)
                        length = length << 8 | data[i];
        }
        if (length > size - header)
                return -EINVAL;
        *ret_header = header;
        *ret_length = length;
        return 0;
}

int pgp_armor_decode(const char *text, size_t length, unsigned char **ret_data, size_t *ret_size,
                     char *reason, size_t reason_size) {
        _cleanup_free_ char *body = NULL;
        _cleanup_free_ unsigned char *data = NULL;
        size_t n, pad = 0, header, packet_length;
        int decoded, tag, r;

        assert(text);
        assert(ret_data);
        assert(ret_size);

        if (strlen(text) != length || length > APT_KEY_TEXT_MAX) {
                (void) snprintf(reason, reason_size, "is larger than %u bytes or contains a NUL byte", APT_KEY_TEXT_MAX);
                return -EINVAL;
        }
        r = armor_body_collect(text, &body, &pad, reason, reason_size);
        if (r < 0)
                return r;

        n = strlen(body);
        data = malloc(n / 4 * 3 + 1);
        if (!data)
                return -ENOMEM;
        decoded = EVP_DecodeBlock(data, (const unsigned char *) body, (int) n);
        if (decoded <= 0 || (size_t) decoded <= pad) {
                (void) snprintf(reason, reason_size, "has base64 data that does not decode");
                return -EINVAL;
        }
        /* EVP_DecodeBlock() counts the padding as decoded zero bytes. */
        decoded -= (int) pad;

        r = pgp_packet_read(data, (size_t) decoded, &tag, &header, &packet_length);
        if (r < 0 || tag != PGP_TAG_PUBLIC_KEY) {
                (void) snprintf(reason, reason_size, "does not start with an OpenPGP public key packet");
                return -EINVAL;
        }
        *ret_data = TAKE_PTR(data);
        *ret_size = (size_t) decoded;
        return 0;
}

int pgp_fingerprint_v4(const unsigned char *body, size_t size, char ret[PGP_FINGERPRINT_HEX_SIZE]) {
        unsigned char prefix[3], digest[EVP_MAX_MD_SIZE];
        unsigned digest_size = 0;
        EVP_MD_CTX *md;
        int ok;

        if (size < 1 || body[0] != 4 || size > 0xffff)
                return -EINVAL;

        prefix[0] = 0x99;
        prefix[1] = (unsigned char) (size >> 8);
        prefix[2] = (unsigned char) (size & 0xff);
        md = EVP_MD_CTX_new();
        if (!md)
                return -EIO;
        ok = EVP_DigestInit_ex(md, EVP_sha1(), /* impl= */ NULL) &&
             EVP_DigestUpdate(md, prefix, sizeof(prefix)) &&
             EVP_DigestUpdate(md, body, size) &&
             EVP_DigestFinal_ex(md, digest, &digest_size);
        EVP_MD_CTX_free(md);
        if (!ok || digest_size != 20)
                return -EIO;

        for (unsigned i = 0; i < digest_size; i++)
                (void) snprintf(ret + 2 * i, 3, "%02X", digest[i]);
        return 0;
}

int pgp_key_match(const unsigned char *packets, size_t size, const char *keyid, char *reason, size_t reason_size) {
        char fingerprint[PGP_FINGERPRINT_HEX_SIZE], primary[PGP_FINGERPRINT_HEX_SIZE] = "";
        size_t keyid_length = strlen(keyid), primaries = 0;
        bool matched = false;

        for (size_t offset = 0; offset < size;) {
                size_t header, length;
                int tag, r;

                r = pgp_packet_read(packets + offset, size - offset, &tag, &header, &length);
                if (r < 0) {
                        (void) snprintf(reason, reason_size, "contains a malformed OpenPGP packet at byte %zu", offset);
                        return -EINVAL;
                }
                if (tag == PGP_TAG_PUBLIC_KEY)
                        primaries++;
                if (tag == PGP_TAG_PUBLIC_KEY || tag == PGP_TAG_PUBLIC_SUBKEY) {
                        r = pgp_fingerprint_v4(packets + offset + header, length, fingerprint);
                        if (r == -EIO)
                                return r;
                        /* Keys of other versions have other fingerprints and cannot match a v4 id. */
                        if (r >= 0 && keyid_length <= strlen(fingerprint) &&
                            streq(fingerprint + strlen(fingerprint) - keyid_length, keyid))
                                matched = true;
                        if (r >= 0 && tag == PGP_TAG_PUBLIC_KEY && primaries == 1)
                                memcpy(primary, fingerprint, sizeof(primary));
                }
                offset += header + length;
        }

        if (primaries != 1) {
                (void) snprintf(reason, reason_size, "contains %zu public keys instead of one", primaries);
                return -EINVAL;
        }
        if (!matched) {
                (void) snprintf(reason, reason_size, "is the key with fingerprint '%s', which does not match the id '%s'",
                                primary[0] ? primary : "unknown", keyid);
                return -EINVAL;
        }
        return 0;
}

int apt_keyid_normalize(const char *keyid, char **ret, char *reason, size_t reason_size) {
        _cleanup_free_ char *hex = NULL;
        const char *p = keyid;
        size_t n = 0;

        assert(keyid);
        assert(ret);

        if (strneq(p, "0x", 2) || strneq(p, "0X", 2))
                p += 2;
        hex = malloc(strlen(p) + 1);
        if (!hex)
                return -ENOMEM;
        for (; *p; p++) {
                if (*p == ' ' || *p == '\t')
                        continue;
                if (!isxdigit((unsigned char) *p)) {
                        (void) snprintf(reason, reason_size, "contains '%c', but a key id is hexadecimal",
                                        isprint((unsigned char) *p) ? *p : '?');
                        return -EINVAL;
                }
                hex[n++] = (char) toupper((unsigned char) *p);
        }
        hex[n] = '\0';
        if (n != 8 && n != 16 && n != 40) {
                (void) snprintf(reason, reason_size, "has %zu hex digits, but a key id has 8 or 16 and a fingerprint 40", n);
                return -EINVAL;
        }
        *ret = TAKE_PTR(hex);
        return 0;
}

/* Whether host[:port] is a plain address: a name or IPv4 address, or an IPv6 address in
 * brackets, and an optional port of digits. */
static bool hkp_host_valid(const char *host, size_t n) {
        size_t i = 0;

        if (n == 0)
                return false;
        if (host[0] == '[') {
                while (i < n && host[i] != ']')
                        if (!isxdigit((unsigned char) host[i]) && host[i] != ':' && host[i] != '.' && host[i] != '[')
                                return false;
                        else
                                i++;
                if (i == n)
                        return false;
                i++;
        } else
                for (; i < n && host[i] != ':'; i++)
                        if (!isalnum((unsigned char) host[i]) && host[i] != '.' && host[i] != '-')
                                return false;
        if (i == 0 || (host[0] == '[' && i == 2))
                return false;
        if (i == n)
                return true;
        if (host[i] != ':' || i + 1 == n)
                return false;
        for (i++; i < n; i++)
                if (!isdigit((unsigned char) host[i]))
                        return false;
        return true;
}

int hkp_lookup_url(const char *keyserver, const char *keyid, char **ret, char *reason, size_t reason_size) {
        static const struct {
                const char *prefix;
                const char *scheme;
                const char *default_port;    /* added when the address has none, or NULL */
        } schemes[] = {
                { "hkp://", "http", HKP_DEFAULT_PORT },
                { "hkps://", "https", NULL },
                { "http://", "http", NULL },
                { "https://", "https", NULL },
        };
        const char *scheme = "https", *default_port = NULL, *host = keyserver, *bracket;
        bool has_port;
        size_t n;

        assert(keyserver);
        assert(keyid);
        assert(ret);

        for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
                if (strneq(keyserver, schemes[i].prefix, strlen(schemes[i].prefix))) {
                        scheme = schemes[i].scheme;
                        default_port = schemes[i].default_port;
                        host = keyserver + strlen(schemes[i].prefix);
                        break;
                }

        n = strlen(host);
        if (n > 0 && host[n - 1] == '/')
                n--;
        if (n > HKP_KEYSERVER_MAX || !hkp_host_valid(host, n)) {
                (void) snprintf(reason, reason_size, "is not a keyserver address such as 'keyserver.ubuntu.com', "
                                "'hkp://HOST:PORT' or 'hkps://HOST'");
                return -EINVAL;
        }

        /* An IPv6 address has a port only after its closing bracket. */
        bracket = host[0] == '[' ? memchr(host, ']', n) : NULL;
        has_port = bracket ? bracket + 1 < host + n : memchr(host, ':', n) != NULL;
        if (has_port)
                default_port = NULL;

        if (asprintf(ret, "%s://%.*s%s%s/pks/lookup?op=get&options=mr&search=0x%s", scheme, (int) n, host,
                     default_port ? ":" : "", default_port ?: "", keyid) < 0)
                return -ENOMEM;
        return 0;
}

int apt_key_fetch(const char *keyserver, const char *keyid, char **ret_key, char **reterr_message) {
        _cleanup_http_client_free_ HttpClient *client = NULL;
        _cleanup_(http_response_done) HttpResponse response = {};
        _cleanup_free_ char *url = NULL;
        _cleanup_free_ unsigned char *packets = NULL;
        char reason[256] = "";
        size_t size = 0;
        int r;

        assert(keyserver);
        assert(keyid);
        assert(ret_key);
        assert(reterr_message);

        r = hkp_lookup_url(keyserver, keyid, &url, reason, sizeof(reason));
        if (r < 0)
                return r;
        r = http_client_new(HTTP_CLIENT_ALLOW_HTTPS, &client, reterr_message);
        if (r < 0)
                return r;
        r = http_request(client, HTTP_METHOD_GET, url, /* headers= */ NULL, APT_KEY_FETCH_TIMEOUT_USEC,
                         APT_KEY_TEXT_MAX, &response, reterr_message);
        if (r < 0)
                return r;

        /* An HKP server answers 404 for a key it does not have (draft-shaw-openpgp-hkp-00, 3.1.2.1). */
        if (response.status == 404)
                return -ENOENT;
        if (response.status != 200)
                return asprintf(reterr_message, "the keyserver returned HTTP status %ld", response.status) < 0 ?
                        -ENOMEM : -EBADMSG;

        r = pgp_armor_decode(response.body, response.body_size, &packets, &size, reason, sizeof(reason));
        if (r == -EINVAL)
                return asprintf(reterr_message, "the response %s", reason) < 0 ? -ENOMEM : -EBADMSG;
        if (r < 0)
                return r;
        r = pgp_key_match(packets, size, keyid, reason, sizeof(reason));
        if (r == -EINVAL)
                return asprintf(reterr_message, "the response %s", reason) < 0 ? -ENOMEM : -EBADMSG;
        if (r < 0)
                return r;

        *ret_key = TAKE_PTR(response.body);
        return 0;
}
