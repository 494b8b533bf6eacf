/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding and classifying user data.
 *
 * Accepted input: optional UTF-8 byte-order mark; a whole-body gzip stream (magic 1f 8b); a
 * whole-body base64 text whose one decoding is gzip or starts with a known header (decoded once,
 * with a warning). After decoding, the first non-blank line decides the type: "#cloud-config"
 * (trailing blanks allowed) or "#!" (leading blanks allowed). Empty or whitespace-only data means
 * no user data. */

#include <ctype.h>
#include <openssl/evp.h>
#include <string.h>
#include <zlib.h>

#include "lib/macro.h"
#include "lib/string-util.h"
#include "log.h"
#include "report.h"
#include "userdata.h"

static const char utf8_bom[] = "\xef\xbb\xbf";

/* Headers of user data types that exist in cloud-init but that this version does not handle. */
static const char *const unsupported_headers[] = {
        "#include-once", "#include", "#cloud-boothook", "#cloud-config-archive",
        "#cloud-config-jsonp", "#part-handler", "## template: jinja", "Content-Type:",
};

static const char *const part_type_table[_PART_TYPE_MAX] = {
        [PART_CLOUD_CONFIG] = "cloud-config",
        [PART_SCRIPT] = "script",
        [PART_SCRIPT_PER_BOOT] = "script-per-boot",
        [PART_SCRIPT_PER_INSTANCE] = "script-per-instance",
        [PART_SCRIPT_PER_ONCE] = "script-per-once",
        [PART_BOOTHOOK] = "boothook",
        [PART_OTHER] = "other",
        [PART_CLOUD_CONFIG_JSONP] = "cloud-config-jsonp",
};

const char *part_type_to_string(PartType t) {
        if (t < 0 || t >= _PART_TYPE_MAX)
                return NULL;
        return part_type_table[t];
}

void parts_free(Part *parts, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(parts[i].name);
                free(parts[i].content_type);
                free(parts[i].data);
                free(parts[i].filename);
                free(parts[i].merge_how);
        }
        free(parts);
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r';
}

/* Offset of the first line that is not whitespace only. */
static size_t skip_blank_lines(const char *data, size_t size) {
        size_t line = 0;

        for (size_t i = 0; i < size; i++) {
                if (data[i] == '\n') {
                        line = i + 1;
                        continue;
                }
                if (!is_blank(data[i]))
                        return line;
        }
        return size;
}

/* The first line from offset with trailing blanks removed, at most max-1 bytes (for messages). */
static void first_line(const char *data, size_t size, char *buf, size_t max) {
        size_t n = 0;

        while (n < size && data[n] != '\n' && n < max - 1)
                n++;
        while (n > 0 && is_blank(data[n - 1]))
                n--;
        memcpy(buf, data, n);
        buf[n] = '\0';
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) buf[i] < 0x20)
                        buf[i] = '?';
}

static bool line_is(const char *data, size_t size, const char *header) {
        size_t n = strlen(header);

        if (size < n || memcmp(data, header, n) != 0)
                return false;
        for (size_t i = n; i < size && data[i] != '\n'; i++)
                if (!is_blank(data[i]))
                        return false;
        return true;
}

static bool starts_with(const char *data, size_t size, const char *prefix) {
        size_t n = strlen(prefix);
        return size >= n && memcmp(data, prefix, n) == 0;
}

static int add_part(Context *ctx, PartType type, const char *source, const char *data, size_t size) {
        Part *parts, *p;

        if (ctx->n_parts >= USERDATA_PARTS_MAX)
                return report_error(ctx, -1, 0, "More than %d parts in %s, ignoring the rest", USERDATA_PARTS_MAX, source);
        parts = realloc(ctx->parts, (ctx->n_parts + 1) * sizeof(Part));
        if (!parts)
                return -ENOMEM;
        ctx->parts = parts;
        p = &parts[ctx->n_parts];
        *p = (Part) { .type = type, .size = size };
        if (asprintf(&p->name, "%s%s%03zu", streq(source, "vendor-data") ? "vendor-" : "", "part-",
                     ctx->n_parts + 1) < 0)
                return -ENOMEM;
        p->content_type = strdup(part_type_to_string(type));
        p->data = malloc(size + 1);
        if (!p->content_type || !p->data) {
                free(p->name);
                free(p->content_type);
                free(p->data);
                return -ENOMEM;
        }
        memcpy(p->data, data, size);
        p->data[size] = '\0';
        ctx->n_parts++;
        return 0;
}

/* Inflate gzip data, every member of it as gzip(1) and Python's gzip module do, failing with
 * -EFBIG past USERDATA_INFLATED_MAX and -EBADMSG on bad data or bytes after the last member.
 * Caller owns *ret. */
static int gunzip(const char *data, size_t size, char **ret, size_t *ret_size) {
        _cleanup_free_ char *out = NULL;
        size_t cap = MIN(MAX(size * 4, (size_t) 4096), (size_t) USERDATA_INFLATED_MAX), len = 0;
        z_stream zs = {};
        int z;

        if (size > UINT32_MAX)
                return -EFBIG;
        out = malloc(cap + 1);
        if (!out)
                return -ENOMEM;
        if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
                return -ENOMEM;
        zs.next_in = (Bytef *) data;
        zs.avail_in = (uInt) size;

        for (;;) {
                if (len == cap) {
                        char *n;

                        if (cap >= USERDATA_INFLATED_MAX) {
                                inflateEnd(&zs);
                                return -EFBIG;
                        }
                        cap = MIN(cap * 2, (size_t) USERDATA_INFLATED_MAX);
                        n = realloc(out, cap + 1);
                        if (!n) {
                                inflateEnd(&zs);
                                return -ENOMEM;
                        }
                        out = n;
                }
                zs.next_out = (Bytef *) out + len;
                zs.avail_out = (uInt) (cap - len);
                z = inflate(&zs, Z_NO_FLUSH);
                len = cap - zs.avail_out;
                if (z == Z_STREAM_END) {
                        /* Another member may follow; anything else after a member is an error. */
                        if (zs.avail_in == 0)
                                break;
                        if (zs.avail_in < 2 || zs.next_in[0] != 0x1f || zs.next_in[1] != 0x8b) {
                                inflateEnd(&zs);
                                return -EBADMSG;
                        }
                        if (inflateReset(&zs) != Z_OK) {
                                inflateEnd(&zs);
                                return -EBADMSG;
                        }
                        continue;
                }
                if (z != Z_OK && !(z == Z_BUF_ERROR && len == cap)) {
                        inflateEnd(&zs);
                        return -EBADMSG;
                }
        }
        inflateEnd(&zs);
        out[len] = '\0';
        *ret = TAKE_PTR(out);
        *ret_size = len;
        return 0;
}

/* Whole-body base64: only the alphabet, padding and whitespace, at least one quantum. */
static bool looks_like_base64(const char *data, size_t size) {
        size_t chars = 0;

        for (size_t i = 0; i < size; i++) {
                unsigned char c = (unsigned char) data[i];
                if (isspace(c))
                        continue;
                if (!isalnum(c) && c != '+' && c != '/' && c != '=')
                        return false;
                chars++;
        }
        return chars >= 4 && chars % 4 == 0;
}

static int base64_decode(const char *data, size_t size, char **ret, size_t *ret_size) {
        _cleanup_free_ char *clean = NULL, *out = NULL;
        size_t n = 0, pad = 0;
        int len;

        clean = malloc(size + 1);
        if (!clean)
                return -ENOMEM;
        for (size_t i = 0; i < size; i++)
                if (!isspace((unsigned char) data[i]))
                        clean[n++] = data[i];
        if (n == 0 || n % 4 != 0 || n > INT32_MAX)
                return -EINVAL;
        out = malloc(n / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        len = EVP_DecodeBlock((unsigned char *) out, (const unsigned char *) clean, (int) n);
        if (len < 0)
                return -EINVAL;
        /* EVP_DecodeBlock counts padding as data; take it back off. */
        while (pad < 2 && n > pad && clean[n - 1 - pad] == '=')
                pad++;
        len -= (int) pad;
        out[len] = '\0';
        *ret = TAKE_PTR(out);
        *ret_size = (size_t) len;
        return 0;
}

static bool has_known_start(const char *data, size_t size) {
        size_t off;

        if (size >= 2 && (unsigned char) data[0] == 0x1f && (unsigned char) data[1] == 0x8b)
                return true;
        off = skip_blank_lines(data, size);
        data += off;
        size -= off;
        while (size > 0 && is_blank(*data))
                data++, size--;
        if (line_is(data, size, "#cloud-config") || starts_with(data, size, "#!"))
                return true;
        for (size_t i = 0; i < ELEMENTSOF(unsupported_headers); i++)
                if (starts_with(data, size, unsupported_headers[i]))
                        return true;
        return false;
}

static int report_unknown(Context *ctx, const char *source, const char *line) {
        static const char *const known[] = { "#cloud-config", "#!", "#include", "#cloud-boothook", NULL };
        /* Only a line starting with '#' is an attempt at a header worth correcting. */
        const char *best = line[0] == '#' ? nearest_word(line, known, 3) : NULL;

        if (best) {
                report_warning(ctx, -1, "Unrecognised first line '%s' in %s, ignoring it. Did you mean '%s'?",
                               line, source, best);
                return 0;
        }
        report_warning(ctx, -1,
                       "Unrecognised first line '%s' in %s, ignoring it. User data must start with '#!' (a "
                       "script), '#cloud-config', '#include', '#cloud-boothook', 'Content-Type:' (MIME) or be "
                       "gzip data; to run it as a shell script, add '#!/bin/sh' as its first line.",
                       line, source);
        return 0;
}

/* A script: stored from its '#!' on, with CRLF turned into LF when its first line ends in CRLF,
 * because the kernel would otherwise look for an interpreter whose name ends in '\r'. */
static int add_script(Context *ctx, const char *source, const char *data, size_t size) {
        _cleanup_free_ char *copy = NULL;
        size_t n = 0;
        const char *eol = memchr(data, '\n', size);

        /* NOTE: cloud-init runs vendor scripts in a module of their own (scripts_vendor), which
         * kiln does not have yet; running them as user scripts would let vendor data override the
         * user's opt-out. */
        if (streq(source, "vendor-data")) {
                report_warning(ctx, -1, "vendor-data contains a script, which this version of kiln does not run, skipping it.");
                return 0;
        }
        if (!eol || eol == data || eol[-1] != '\r')
                return add_part(ctx, PART_SCRIPT, source, data, size);

        copy = malloc(size + 1);
        if (!copy)
                return -ENOMEM;
        for (size_t i = 0; i < size; i++) {
                if (data[i] == '\r' && i + 1 < size && data[i + 1] == '\n')
                        continue;
                copy[n++] = data[i];
        }
        log_warning("Converted CRLF line ends to LF in script part %zu of %s.", ctx->n_parts + 1, source);
        return add_part(ctx, PART_SCRIPT, source, copy, n);
}

/* Which decodings a body went through already; each is applied at most once, so a gzip stream
 * that inflates to itself or nested base64 cannot recurse. */
typedef enum Decoded {
        DECODED_BASE64 = 1 << 0,
        DECODED_GZIP = 1 << 1,
} Decoded;

static int classify(Context *ctx, const char *source, const char *data, size_t size, Decoded decoded);

static int decode_base64_body(Context *ctx, const char *source, const char *data, size_t size, Decoded done) {
        _cleanup_free_ char *decoded = NULL, *again = NULL;
        size_t decoded_size, again_size;
        char line[80];

        if (base64_decode(data, size, &decoded, &decoded_size) < 0)
                return -EINVAL;
        if (has_known_start(decoded, decoded_size)) {
                if (done & DECODED_BASE64) {
                        report_warning(ctx, -1, "%s is base64-encoded more than once, ignoring it. Encode it once.", source);
                        return 0;
                }
                report_warning(ctx, -1, "%s is base64 text; decoded it once. Pass the raw bytes instead.", source);
                return classify(ctx, source, decoded, decoded_size, done | DECODED_BASE64);
        }
        if (looks_like_base64(decoded, decoded_size) &&
            base64_decode(decoded, decoded_size, &again, &again_size) >= 0 && has_known_start(again, again_size)) {
                report_warning(ctx, -1, "%s is base64-encoded more than once, ignoring it. Encode it once.", source);
                return 0;
        }
        first_line(data, size, line, sizeof(line));
        return report_unknown(ctx, source, line);
}

static int classify(Context *ctx, const char *source, const char *data, size_t size, Decoded done) {
        size_t off;
        char line[80];

        if (size >= 3 && memcmp(data, utf8_bom, 3) == 0) {
                log_info("Removed the UTF-8 byte-order mark at the start of %s.", source);
                data += 3;
                size -= 3;
        }
        if (size >= 2 && (unsigned char) data[0] == 0x1f && (unsigned char) data[1] == 0x8b) {
                _cleanup_free_ char *inflated = NULL;

                if (done & DECODED_GZIP)
                        return report_error(ctx, -1, 0, "%s is compressed more than once; compress it once", source);
                size_t inflated_size;
                int r = gunzip(data, size, &inflated, &inflated_size);

                if (r == -EFBIG)
                        return report_error(ctx, -1, r, "Failed to decompress %s: it inflates to more than the "
                                            "limit of %u MiB", source, USERDATA_INFLATED_MAX / 1024 / 1024);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to decompress %s: invalid gzip data", source);
                log_info("Decompressed %s (%zu bytes to %zu).", source, size, inflated_size);
                return classify(ctx, source, inflated, inflated_size, done | DECODED_GZIP);
        }

        off = skip_blank_lines(data, size);
        if (off == size) {
                log_info("%s is empty.", source);
                return 0;
        }

        {
                const char *p = data + off;
                size_t left = size - off;

                while (left > 0 && is_blank(*p))
                        p++, left--;
                if (starts_with(p, left, "#!"))
                        return add_script(ctx, source, p, left);
                if (line_is(p, left, "#cloud-config"))
                        /* The whole text goes to YAML so that line numbers in messages stay right. */
                        return add_part(ctx, PART_CLOUD_CONFIG, source, data, size);
                for (size_t i = 0; i < ELEMENTSOF(unsupported_headers); i++)
                        if (starts_with(p, left, unsupported_headers[i])) {
                                report_warning(ctx, -1, "%s starts with '%s', which this version of kiln does not "
                                               "handle yet, ignoring it.", source, unsupported_headers[i]);
                                return 0;
                        }
                if (looks_like_base64(p, left)) {
                        int r = decode_base64_body(ctx, source, p, left, done);
                        if (r != -EINVAL)
                                return r;
                }
                first_line(p, left, line, sizeof(line));
        }
        return report_unknown(ctx, source, line);
}

int userdata_decode(Context *ctx, const char *source, const char *data, size_t size) {
        return classify(ctx, source, data, size, /* done= */ 0);
}
