/* SPDX-License-Identifier: Apache-2.0 */
/* Splitting MIME messages into their parts, read the way Python's email package reads them for
 * cloud-init.
 *
 * Grammar accepted. A header block is a run of fields "Name: value" (Name is printable ASCII
 * without ':' or space), each optionally continued on lines that start with a space or tab. It
 * ends at an empty line, which is dropped, or at the first line that is not a field, which starts
 * the body. Lines end in LF or CRLF. Field names are case-insensitive, and the first field of a
 * name counts. A Content-Type value is "type/subtype" followed by "; name=value" parameters, each
 * value a token or a quoted string, with RFC 2231's "name*" and "name*0", "name*1"... forms. A
 * multipart body is split at lines that are exactly "--BOUNDARY", optionally followed by "--"
 * (the last one) and blanks. The line break before such a line belongs to it, and text before
 * the first and after the last boundary line is ignored. */

#include <ctype.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "lib/macro.h"
#include "mime.h"
#include "userdata.h"

/* The text of a macro's value, for limits in constant messages. */
#define STRINGIFY_VALUE(x) #x
#define STRINGIFY(x) STRINGIFY_VALUE(x)

/* Pieces of one RFC 2231 continued parameter ("name*0", "name*1", ...) that are joined. */
#define MIME_PARAM_PIECES_MAX 64
/* Bytes of one unfolded header field that are kept; continuation lines past it are dropped, which
 * keeps unfolding linear. Real fields are far shorter. */
#define MIME_FIELD_MAX (16U * 1024U)

/* The fields of one header block that kiln reads. Values are unfolded, owned by the struct. */
typedef struct Headers {
        char *content_type;
        char *encoding;
        char *disposition;
        char *merge_type;
        char *x_merge_type;
        char *launch_index;
        bool mime_version;
        size_t body;             /* offset of the body after the block */
} Headers;

static void headers_done(Headers *h) {
        free(h->content_type);
        free(h->encoding);
        free(h->disposition);
        free(h->merge_type);
        free(h->x_merge_type);
        free(h->launch_index);
        *h = (Headers) {};
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* End of the line at off, without its line break; *ret_next is the offset after the break. */
static size_t line_end(const char *data, size_t size, size_t off, size_t *ret_next) {
        const char *nl = memchr(data + off, '\n', size - off);
        size_t end;

        if (!nl) {
                *ret_next = size;
                return size;
        }
        end = (size_t) (nl - data);
        *ret_next = end + 1;
        if (end > off && data[end - 1] == '\r')
                end--;
        return end;
}

/* Length of the field name that starts line, when the line is a header field; 0 otherwise. */
static size_t field_name_length(const char *line, size_t len) {
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) line[i];

                if (c == ':')
                        return i;
                if (c < 33 || c > 126)
                        return 0;
        }
        return 0;
}

static char *strndup_trimmed(const char *s, size_t n) {
        while (n > 0 && isspace((unsigned char) *s))
                s++, n--;
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                n--;
        return strndup(s, n);
}

/* The slot of h that keeps the field name, or NULL when kiln does not read that field. */
static char **field_slot(Headers *h, const char *name, size_t n) {
        static const struct {
                const char *name;
                size_t offset;
        } fields[] = {
                { "content-type", offsetof(Headers, content_type) },
                { "content-transfer-encoding", offsetof(Headers, encoding) },
                { "content-disposition", offsetof(Headers, disposition) },
                { "merge-type", offsetof(Headers, merge_type) },
                { "x-merge-type", offsetof(Headers, x_merge_type) },
                { "launch-index", offsetof(Headers, launch_index) },
        };

        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (strlen(fields[i].name) == n && strncasecmp(fields[i].name, name, n) == 0)
                        return (char **) ((char *) h + fields[i].offset);
        return NULL;
}

/* Append len bytes to a NUL-terminated value of old bytes. */
static int value_append_at(char **value, size_t old, const char *line, size_t len) {
        char *n = realloc(*value, old + len + 1);

        if (!n)
                return -ENOMEM;
        memcpy(n + old, line, len);
        n[old + len] = '\0';
        *value = n;
        return 0;
}

static int value_append(char **value, const char *line, size_t len) {
        return value_append_at(value, strlen(*value), line, len);
}

/* Read the header block at the start of data into *h. Returns the number of fields, or -ENOMEM. */
static int headers_parse(const char *data, size_t size, Headers *h) {
        char **current = NULL;
        size_t off = 0, next, current_len = 0;
        int n_fields = 0;

        *h = (Headers) {};
        while (off < size) {
                size_t end = line_end(data, size, off, &next), len = end - off, name_len;
                const char *line = data + off;

                if (len == 0) {
                        off = next;
                        break;
                }
                if (is_blank(line[0])) {
                        if (n_fields == 0)
                                break;
                        if (current && current_len + len > MIME_FIELD_MAX)
                                current = NULL;
                        if (current && value_append_at(current, current_len, line, len) < 0)
                                return -ENOMEM;
                        current_len += len;
                        off = next;
                        continue;
                }
                name_len = field_name_length(line, len);
                if (name_len == 0)
                        break;

                n_fields++;
                current = field_slot(h, line, name_len);
                if (current && *current)
                        current = NULL; /* the first field of a name counts */
                if (current) {
                        current_len = MIN(len - name_len - 1, (size_t) MIME_FIELD_MAX);
                        *current = strndup(line + name_len + 1, current_len);
                        if (!*current)
                                return -ENOMEM;
                }
                if (name_len == strlen("mime-version") && strncasecmp(line, "mime-version", name_len) == 0)
                        h->mime_version = true;
                off = next;
        }
        h->body = off;
        return n_fields;
}

bool mime_is_message(const char *data, size_t size) {
        _cleanup_(headers_done) Headers h = {};

        if (headers_parse(data, size, &h) <= 0)
                return false;
        return h.content_type || h.mime_version;
}

/* The media type of a Content-Type value in lower case, "text/plain" when value is NULL or has
 * not exactly one '/' before its parameters. Caller owns the result. */
static char *media_type(const char *value) {
        char *type;
        size_t slashes = 0;

        if (!value)
                return strdup("text/plain");
        type = strndup_trimmed(value, strcspn(value, ";"));
        if (!type)
                return NULL;
        for (char *p = type; *p; p++) {
                *p = (char) tolower((unsigned char) *p);
                if (*p == '/')
                        slashes++;
        }
        if (slashes != 1) {
                free(type);
                return strdup("text/plain");
        }
        return type;
}

/* Length of the parameter at s, up to the next ';' outside a quoted string. */
static size_t param_length(const char *s) {
        bool quoted = false;
        size_t i;

        for (i = 0; s[i]; i++) {
                if (quoted && s[i] == '\\' && s[i + 1]) {
                        i++;
                        continue;
                }
                if (s[i] == '"')
                        quoted = !quoted;
                else if (s[i] == ';' && !quoted)
                        break;
        }
        return i;
}

/* A parameter value without its quotes and backslash escapes, as the email package's unquote()
 * reads it. Caller owns the result. */
static char *param_unquote(const char *v, size_t n) {
        char *out, *o;

        if (n >= 2 && ((v[0] == '"' && v[n - 1] == '"') || (v[0] == '<' && v[n - 1] == '>'))) {
                bool angle = v[0] == '<';

                v++;
                n -= 2;
                if (angle)
                        return strndup(v, n);
        }
        out = o = malloc(n + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (v[i] == '\\' && i + 1 < n)
                        i++;
                *o++ = v[i];
        }
        *o = '\0';
        return out;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Append an RFC 2231 extended value ("%XX" escapes) to out; with_charset drops the leading
 * "charset'language'" of a first piece. The bytes are kept in their charset. */
static int param_append_extended(char **out, const char *v, size_t n, bool with_charset) {
        _cleanup_free_ char *decoded = malloc(n + 1);
        size_t len = 0;

        if (!decoded)
                return -ENOMEM;
        if (with_charset) {
                const char *q1 = memchr(v, '\'', n);
                const char *q2 = q1 ? memchr(q1 + 1, '\'', n - (size_t) (q1 + 1 - v)) : NULL;

                if (q2) {
                        n -= (size_t) (q2 + 1 - v);
                        v = q2 + 1;
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (v[i] == '%' && i + 2 < n && hex_value(v[i + 1]) >= 0 && hex_value(v[i + 2]) >= 0) {
                        decoded[len++] = (char) (hex_value(v[i + 1]) * 16 + hex_value(v[i + 2]));
                        i += 2;
                        continue;
                }
                decoded[len++] = v[i];
        }
        decoded[len] = '\0';
        if (!*out) {
                *out = TAKE_PTR(decoded);
                return 0;
        }
        return value_append(out, decoded, len);
}

/* Append a token or quoted-string piece to out. */
static int param_append_plain(char **out, const char *v, size_t n) {
        _cleanup_free_ char *unquoted = param_unquote(v, n);

        if (!unquoted)
                return -ENOMEM;
        if (!*out) {
                *out = TAKE_PTR(unquoted);
                return 0;
        }
        return value_append(out, unquoted, strlen(unquoted));
}

typedef struct Param {
        const char *name;        /* points into the header value, not NUL-terminated */
        size_t name_len;
        const char *value;
        size_t value_len;
} Param;

/* The next parameter of a header value at *cursor (after a ';'); false at the end. */
static bool param_next(const char **cursor, Param *ret) {
        const char *s = *cursor, *eq;
        size_t len;

        while (*s == ';')
                s++;
        if (!*s)
                return false;
        len = param_length(s);
        *cursor = s + len;
        eq = memchr(s, '=', len);
        if (!eq) {
                *ret = (Param) { .name = s, .name_len = len, .value = s + len, .value_len = 0 };
                return true;
        }
        *ret = (Param) { .name = s, .name_len = (size_t) (eq - s), .value = eq + 1,
                         .value_len = len - (size_t) (eq + 1 - s) };
        while (ret->name_len > 0 && isspace((unsigned char) *ret->name))
                ret->name++, ret->name_len--;
        while (ret->name_len > 0 && isspace((unsigned char) ret->name[ret->name_len - 1]))
                ret->name_len--;
        while (ret->value_len > 0 && isspace((unsigned char) *ret->value))
                ret->value++, ret->value_len--;
        while (ret->value_len > 0 && isspace((unsigned char) ret->value[ret->value_len - 1]))
                ret->value_len--;
        return true;
}

/* Whether param is name with the suffix (e.g. "*0*"), compared without regard to case. */
static bool param_is(const Param *p, const char *name, const char *suffix) {
        size_t n = strlen(name), s = strlen(suffix);

        return p->name_len == n + s && strncasecmp(p->name, name, n) == 0 &&
               strncasecmp(p->name + n, suffix, s) == 0;
}

/* Join the pieces "name*0", "name*1", ... of an RFC 2231 continued parameter. */
static int param_continued(const char *params, const char *name, char **ret) {
        _cleanup_free_ char *out = NULL;

        for (unsigned i = 0; i < MIME_PARAM_PIECES_MAX; i++) {
                char plain[16], extended[16];
                const char *cursor = params;
                bool found = false;
                Param p;

                (void) snprintf(plain, sizeof(plain), "*%u", i);
                (void) snprintf(extended, sizeof(extended), "*%u*", i);
                while (!found && param_next(&cursor, &p)) {
                        int r = 0;

                        if (param_is(&p, name, extended))
                                r = param_append_extended(&out, p.value, p.value_len, i == 0);
                        else if (param_is(&p, name, plain))
                                r = param_append_plain(&out, p.value, p.value_len);
                        else
                                continue;
                        if (r < 0)
                                return r;
                        found = true;
                }
                if (!found)
                        break;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* The parameter name of a header value ("text/plain; charset=utf-8"), or NULL in *ret when it
 * is absent. Returns 0 or -ENOMEM. */
static int header_param(const char *value, const char *name, char **ret) {
        const char *params, *cursor;
        Param p;

        *ret = NULL;
        if (!value)
                return 0;
        params = value + strcspn(value, ";");
        cursor = params;
        while (param_next(&cursor, &p)) {
                if (param_is(&p, name, "")) {
                        *ret = param_unquote(p.value, p.value_len);
                        return *ret ? 0 : -ENOMEM;
                }
                if (param_is(&p, name, "*"))
                        return param_append_extended(ret, p.value, p.value_len, /* with_charset= */ true);
                if (param_is(&p, name, "*0") || param_is(&p, name, "*0*"))
                        return param_continued(params, name, ret);
        }
        return 0;
}

int mime_base64_decode(const char *text, size_t size, char **ret, size_t *ret_size) {
        _cleanup_free_ char *clean = NULL, *out = NULL;
        size_t n = 0, pad = 0;
        int len;

        clean = malloc(size + 1);
        if (!clean)
                return -ENOMEM;
        for (size_t i = 0; i < size; i++)
                if (!isspace((unsigned char) text[i]))
                        clean[n++] = text[i];
        if (n % 4 != 0 || n > INT32_MAX)
                return -EINVAL;
        out = malloc(n / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        len = n == 0 ? 0 : EVP_DecodeBlock((unsigned char *) out, (const unsigned char *) clean, (int) n);
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

/* Whether text[i..] is blanks up to a line end or the end of text; *ret_next is where the blanks
 * end. */
static bool blanks_to_line_end(const char *text, size_t size, size_t i, size_t *ret_next) {
        while (i < size && is_blank(text[i]))
                i++;
        *ret_next = i;
        return i == size || text[i] == '\n' || (text[i] == '\r' && i + 1 < size && text[i + 1] == '\n');
}

int mime_qp_decode(const char *text, size_t size, char **ret, size_t *ret_size) {
        _cleanup_free_ char *out = malloc(size + 1);
        size_t n = 0, i = 0, next;

        if (!out)
                return -ENOMEM;
        while (i < size) {
                char c = text[i];

                if (c == '=' && i + 2 < size && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
                        out[n++] = (char) (hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
                        i += 3;
                        continue;
                }
                if (c == '=' && blanks_to_line_end(text, size, i + 1, &next)) {
                        /* A soft line break: the '=', its blanks and the line break all go. */
                        i = next;
                        if (i < size && text[i] == '\r')
                                i++;
                        if (i < size && text[i] == '\n')
                                i++;
                        continue;
                }
                if (is_blank(c) && blanks_to_line_end(text, size, i, &next)) {
                        i = next;
                        continue;
                }
                out[n++] = c;
                i++;
        }
        out[n] = '\0';
        *ret = TAKE_PTR(out);
        *ret_size = n;
        return 0;
}

int mime_gunzip(const char *data, size_t size, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *out = NULL;
        size_t cap = MIN(MAX(size * 4, (size_t) 4096), max), len = 0;
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

                        if (cap >= max) {
                                inflateEnd(&zs);
                                return -EFBIG;
                        }
                        cap = MIN(cap * 2, max);
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

const char *mime_problem_to_string(MimeProblem problem) {
        /* Exhaustive: no default, so the compiler flags a new problem. */
        switch (problem) {
        case MIME_PROBLEM_NONE:
                return "no problem";
        case MIME_PROBLEM_NO_BOUNDARY:
                return "its Content-Type has no boundary parameter";
        case MIME_PROBLEM_BOUNDARY_NOT_FOUND:
                return "no line of its body is its boundary";
        case MIME_PROBLEM_TOO_DEEP:
                return "it is nested in more multiparts than the limit of "
                       STRINGIFY(USERDATA_MIME_DEPTH_MAX);
        case MIME_PROBLEM_INVALID_BASE64:
                return "its body is not valid base64";
        case MIME_PROBLEM_UNKNOWN_ENCODING:
                return "kiln does not decode its Content-Transfer-Encoding (only 7bit, 8bit, binary, "
                       "base64 and quoted-printable)";
        case _MIME_PROBLEM_MAX:
                break;
        }
        return "unknown problem";
}

typedef struct Parser {
        MimeMessage *msg;
        size_t max_parts;
} Parser;

static void mime_part_done(MimePart *p) {
        free(p->content_type);
        free(p->encoding);
        free(p->filename);
        free(p->merge_type);
        free(p->launch_index);
        free(p->data);
}

void mime_message_done(MimeMessage *m) {
        for (size_t i = 0; i < m->n_parts; i++)
                mime_part_done(&m->parts[i]);
        free(m->parts);
        *m = (MimeMessage) {};
}

/* Decode body by the part's transfer encoding into part->data, or set part->problem.
 * NOTE: a charset parameter is not applied. The bytes are kept as sent, which is right for UTF-8
 * and ASCII, while cloud-init would convert text in another charset to UTF-8. */
static int part_decode_body(MimePart *part, const char *body, size_t size) {
        const char *e = part->encoding;
        int r;

        if (!e || streq(e, "") || streq(e, "7bit") || streq(e, "8bit") || streq(e, "binary")) {
                part->data = malloc(size + 1);
                if (!part->data)
                        return -ENOMEM;
                memcpy(part->data, body, size);
                part->data[size] = '\0';
                part->size = size;
                return 0;
        }
        if (streq(e, "quoted-printable"))
                return mime_qp_decode(body, size, &part->data, &part->size);
        if (!streq(e, "base64")) {
                part->problem = MIME_PROBLEM_UNKNOWN_ENCODING;
                return 0;
        }
        r = mime_base64_decode(body, size, &part->data, &part->size);
        if (r == -EINVAL) {
                part->problem = MIME_PROBLEM_INVALID_BASE64;
                return 0;
        }
        return r;
}

/* Add a leaf with the fields of h. It takes type; body is NULL for a part with a problem. */
static int parser_add_leaf(Parser *p, const Headers *h, char *type, const char *body, size_t size,
                           MimeProblem problem) {
        _cleanup_free_ char *owned_type = type;
        MimeMessage *m = p->msg;
        MimePart *parts, *part;
        const char *merge_type = h->merge_type ?: h->x_merge_type;
        int r;

        if (m->n_parts >= p->max_parts) {
                m->parts_dropped = true;
                return 0;
        }
        parts = realloc(m->parts, (m->n_parts + 1) * sizeof(MimePart));
        if (!parts)
                return -ENOMEM;
        m->parts = parts;
        part = &parts[m->n_parts];
        *part = (MimePart) { .content_type = TAKE_PTR(owned_type), .problem = problem };
        m->n_parts++;

        if (h->encoding) {
                part->encoding = strndup_trimmed(h->encoding, strlen(h->encoding));
                if (!part->encoding)
                        return -ENOMEM;
                for (char *c = part->encoding; *c; c++)
                        *c = (char) tolower((unsigned char) *c);
        }
        if (merge_type && !(part->merge_type = strndup_trimmed(merge_type, strlen(merge_type))))
                return -ENOMEM;
        if (h->launch_index &&
            !(part->launch_index = strndup_trimmed(h->launch_index, strlen(h->launch_index))))
                return -ENOMEM;

        r = header_param(h->disposition, "filename", &part->filename);
        if (r >= 0 && !part->filename)
                r = header_param(h->content_type, "name", &part->filename);
        if (r < 0)
                return r;
        if (part->filename) {
                char *trimmed = strndup_trimmed(part->filename, strlen(part->filename));

                free(part->filename);
                part->filename = trimmed;
                if (!trimmed)
                        return -ENOMEM;
        }

        if (problem != MIME_PROBLEM_NONE)
                return 0;
        return part_decode_body(part, body, size);
}

/* Whether line is the boundary line "--BOUNDARY" or, setting *ret_last, "--BOUNDARY--". */
static bool is_boundary_line(const char *line, size_t len, const char *boundary, bool *ret_last) {
        size_t b = strlen(boundary), i;

        if (len < b + 2 || line[0] != '-' || line[1] != '-' || memcmp(line + 2, boundary, b) != 0)
                return false;
        i = b + 2;
        *ret_last = len >= i + 2 && line[i] == '-' && line[i + 1] == '-';
        if (*ret_last)
                i += 2;
        for (; i < len; i++)
                if (!is_blank(line[i]) && line[i] != '\r')
                        return false;
        return true;
}

static int parse_entity(Parser *p, const char *data, size_t size, unsigned depth);

/* Parse each part of a multipart body in turn. Returns 1 when no boundary line was found. */
static int parse_multipart_body(Parser *p, const char *body, size_t size, const char *boundary,
                                unsigned depth) {
        size_t off = 0, next, start = 0;
        bool in_part = false, found = false;

        while (off < size) {
                size_t end = line_end(body, size, off, &next), part_end = off;
                bool last;
                int r;

                if (!is_boundary_line(body + off, end - off, boundary, &last)) {
                        off = next;
                        continue;
                }
                found = true;
                if (in_part) {
                        /* The line break before the boundary line is part of the delimiter. */
                        if (part_end > start && body[part_end - 1] == '\n')
                                part_end--;
                        if (part_end > start && body[part_end - 1] == '\r')
                                part_end--;
                        r = parse_entity(p, body + start, part_end - start, depth + 1);
                        if (r < 0)
                                return r;
                }
                if (last || p->msg->parts_dropped)
                        return 0;
                in_part = true;
                start = next;
                off = next;
        }
        if (!found)
                return 1;
        if (in_part) {
                p->msg->unterminated = true;
                return parse_entity(p, body + start, size - start, depth + 1);
        }
        return 0;
}

/* Parse one entity: its header block, then its body as a leaf or as a multipart. */
static int parse_entity(Parser *p, const char *data, size_t size, unsigned depth) {
        _cleanup_(headers_done) Headers h = {};
        _cleanup_free_ char *type = NULL, *boundary = NULL;
        int r;

        r = headers_parse(data, size, &h);
        if (r < 0)
                return r;
        type = media_type(h.content_type);
        if (!type)
                return -ENOMEM;

        if (!strneq(type, "multipart/", strlen("multipart/")))
                return parser_add_leaf(p, &h, TAKE_PTR(type), data + h.body, size - h.body,
                                       MIME_PROBLEM_NONE);

        if (depth >= USERDATA_MIME_DEPTH_MAX)
                return parser_add_leaf(p, &h, TAKE_PTR(type), NULL, 0, MIME_PROBLEM_TOO_DEEP);
        r = header_param(h.content_type, "boundary", &boundary);
        if (r < 0)
                return r;
        if (boundary) {
                size_t n = strlen(boundary);

                while (n > 0 && isspace((unsigned char) boundary[n - 1]))
                        boundary[--n] = '\0';
        }
        if (!boundary || boundary[0] == '\0')
                return parser_add_leaf(p, &h, TAKE_PTR(type), NULL, 0, MIME_PROBLEM_NO_BOUNDARY);

        r = parse_multipart_body(p, data + h.body, size - h.body, boundary, depth);
        if (r == 1)
                return parser_add_leaf(p, &h, TAKE_PTR(type), NULL, 0, MIME_PROBLEM_BOUNDARY_NOT_FOUND);
        return r;
}

int mime_parse(const char *data, size_t size, size_t max_parts, MimeMessage *ret) {
        MimeMessage m = {};
        Parser p = { .msg = &m, .max_parts = max_parts };
        int r;

        r = parse_entity(&p, data, size, /* depth= */ 0);
        if (r < 0) {
                mime_message_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}
