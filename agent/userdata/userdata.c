/* SPDX-License-Identifier: Apache-2.0 */
/* Decoding user data into parts, with the semantics of cloud-init's user_data.py and its part
 * handlers.
 *
 * Accepted input, in the order it is checked:
 *   - an optional UTF-8 byte-order mark, which is removed;
 *   - a whole-body gzip stream (magic 1f 8b), which is inflated;
 *   - a MIME message, whose header block may follow blank lines (grammar in mime.c);
 *   - a first line that names the type, matched without regard to case as cloud-init matches it.
 *     "#!" after optional blanks is a script. "#cloud-config", "#cloud-config-archive",
 *     "#cloud-config-jsonp", "#cloud-boothook", "#part-handler" and "## template: jinja" fill
 *     their line, trailing blanks allowed. "#include" and "#include-once" end at a blank or the
 *     line end, because a URL may follow on the same line;
 *   - a whole-body base64 text whose one decoding is gzip or starts with a known header, which is
 *     decoded once, with a warning.
 * Empty or whitespace-only data means no user data.
 *
 * A MIME part's declared Content-Type decides its type. The exceptions are text/plain,
 * text/x-not-multipart and text/x-shellscript parts, which are typed by their first line as in
 * cloud-init. Gzip parts (application/x-gzip and the other names cloud-init accepts) are inflated
 * and then typed by their first line. A part of a type kiln does not act on is kept as PART_OTHER
 * for other programs. An entry of a #cloud-config-archive has its declared type, else the type
 * of its first line, else cloud-config. */

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "include.h"
#include "instance-data.h"
#include "jinja.h"
#include "lib/macro.h"
#include "lib/string-util.h"
#include "lib/yaml-util.h"
#include "log.h"
#include "mime.h"
#include "report.h"
#include "userdata.h"

static const char utf8_bom[] = "\xef\xbb\xbf";

/* What kiln does with a part of a known type. */
typedef enum Kind {
        KIND_CLOUD_CONFIG,
        KIND_ARCHIVE,
        KIND_JSONP,
        KIND_SCRIPT,
        KIND_SCRIPT_PER_BOOT,
        KIND_SCRIPT_PER_INSTANCE,
        KIND_SCRIPT_PER_ONCE,
        KIND_BOOTHOOK,
        KIND_INCLUDE,
        KIND_INCLUDE_ONCE,
        KIND_JINJA,
        KIND_PART_HANDLER,
        KIND_UNTYPED,            /* typed by its first line */
        KIND_GZIP,               /* inflated, then typed by its first line */
} Kind;

/* How a header line is matched: as a prefix, as the first word, or as the whole line. */
typedef enum HeaderMatch {
        MATCH_NONE,
        MATCH_PREFIX,
        MATCH_WORD,
        MATCH_LINE,
} HeaderMatch;

typedef struct KnownType {
        const char *content_type;
        const char *header;      /* first line that selects the type outside MIME, or NULL */
        HeaderMatch match;
        Kind kind;
} KnownType;

/* The MIME types of cloud-init's part handlers, and the first lines that stand for them. */
static const KnownType known_types[] = {
        { "text/cloud-config", "#cloud-config", MATCH_LINE, KIND_CLOUD_CONFIG },
        { "text/cloud-config-archive", "#cloud-config-archive", MATCH_LINE, KIND_ARCHIVE },
        { "text/cloud-config-jsonp", "#cloud-config-jsonp", MATCH_LINE, KIND_JSONP },
        { "text/x-shellscript", "#!", MATCH_PREFIX, KIND_SCRIPT },
        { "text/x-shellscript-per-boot", NULL, MATCH_NONE, KIND_SCRIPT_PER_BOOT },
        { "text/x-shellscript-per-instance", NULL, MATCH_NONE, KIND_SCRIPT_PER_INSTANCE },
        { "text/x-shellscript-per-once", NULL, MATCH_NONE, KIND_SCRIPT_PER_ONCE },
        { "text/cloud-boothook", "#cloud-boothook", MATCH_LINE, KIND_BOOTHOOK },
        { "text/x-include-url", "#include", MATCH_WORD, KIND_INCLUDE },
        { "text/x-include-once-url", "#include-once", MATCH_WORD, KIND_INCLUDE_ONCE },
        { "text/jinja2", "## template: jinja", MATCH_LINE, KIND_JINJA },
        { "text/part-handler", "#part-handler", MATCH_LINE, KIND_PART_HANDLER },
        { "text/plain", NULL, MATCH_NONE, KIND_UNTYPED },
        { "text/x-not-multipart", NULL, MATCH_NONE, KIND_UNTYPED },
        { "application/gzip", NULL, MATCH_NONE, KIND_GZIP },
        { "application/gzip-compressed", NULL, MATCH_NONE, KIND_GZIP },
        { "application/gzipped", NULL, MATCH_NONE, KIND_GZIP },
        { "application/x-compress", NULL, MATCH_NONE, KIND_GZIP },
        { "application/x-compressed", NULL, MATCH_NONE, KIND_GZIP },
        { "application/x-gunzip", NULL, MATCH_NONE, KIND_GZIP },
        { "application/x-gzip", NULL, MATCH_NONE, KIND_GZIP },
        { "application/x-gzip-compressed", NULL, MATCH_NONE, KIND_GZIP },
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

/* Where a piece of data being decoded came from. */
typedef enum OriginFlags {
        ORIGIN_ARCHIVE = 1 << 0,  /* an entry of a cloud-config-archive */
        ORIGIN_RENDERED = 1 << 1, /* the output of a Jinja template */
} OriginFlags;

typedef struct Origin {
        const char *source;      /* "user-data" or "vendor-data": names the parts */
        const char *label;       /* where the data is, for messages */
        const char *filename;    /* MIME filename or archive filename, or NULL */
        const char *merge_how;   /* Merge-Type header, or NULL */
        unsigned depth;          /* #include nesting */
        size_t *inflated;        /* gzip output of this blob so far, against USERDATA_INFLATED_MAX */
        OriginFlags flags;
} Origin;

static bool is_vendor(const Origin *o) {
        return streq(o->source, "vendor-data");
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

/* Offset of the first byte that is neither blank nor part of a whitespace-only line. */
static size_t skip_blanks(const char *data, size_t size) {
        size_t off = skip_blank_lines(data, size);

        while (off < size && is_blank(data[off]))
                off++;
        return off;
}

/* Offset just after the line that starts at off. */
static size_t next_line(const char *data, size_t size, size_t off) {
        const char *nl = memchr(data + off, '\n', size - off);

        return nl ? (size_t) (nl - data) + 1 : size;
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

static bool rest_of_line_blank(const char *data, size_t size) {
        for (size_t i = 0; i < size && data[i] != '\n'; i++)
                if (!is_blank(data[i]))
                        return false;
        return true;
}

static bool starts_with(const char *data, size_t size, const char *prefix) {
        size_t n = strlen(prefix);
        return size >= n && memcmp(data, prefix, n) == 0;
}

static bool header_matches(const KnownType *t, const char *p, size_t left) {
        size_t n = t->header ? strlen(t->header) : 0;

        if (!t->header || left < n || strncasecmp(p, t->header, n) != 0)
                return false;
        /* Exhaustive: no default, so the compiler flags a new match kind. */
        switch (t->match) {
        case MATCH_NONE:
                return false;
        case MATCH_PREFIX:
                return true;
        case MATCH_WORD:
                return left == n || is_blank(p[n]) || p[n] == '\n';
        case MATCH_LINE:
                return rest_of_line_blank(p + n, left - n);
        }
        return false;
}

/* The known type whose header starts data (after blank lines and blanks), or NULL. */
static const KnownType *sniff_type(const char *data, size_t size) {
        size_t off = skip_blanks(data, size);

        for (size_t i = 0; i < ELEMENTSOF(known_types); i++)
                if (header_matches(&known_types[i], data + off, size - off))
                        return &known_types[i];
        return NULL;
}

static const KnownType *known_type_by_name(const char *content_type) {
        for (size_t i = 0; i < ELEMENTSOF(known_types); i++)
                if (strcasecmp(known_types[i].content_type, content_type) == 0)
                        return &known_types[i];
        return NULL;
}

/* When the header of type t starts data (after blank lines and blanks), the offset after its
 * line; otherwise 0. */
static size_t after_header(const KnownType *t, const char *data, size_t size) {
        size_t off = skip_blanks(data, size);

        if (!header_matches(t, data + off, size - off))
                return 0;
        return next_line(data, size, off);
}

static bool has_gzip_magic(const char *data, size_t size) {
        return size >= 2 && (unsigned char) data[0] == 0x1f && (unsigned char) data[1] == 0x8b;
}

static int add_part(Context *ctx, const Origin *o, PartType type, const char *content_type, const char *data,
                    size_t size) {
        _cleanup_free_ char *name = NULL, *type_copy = NULL, *copy = NULL;
        _cleanup_free_ char *filename = NULL, *merge_how = NULL;
        Part *parts;

        if (ctx->n_parts >= USERDATA_PARTS_MAX) {
                (void) report_error(ctx, -1, 0, "More than %d parts in %s, ignoring the rest",
                                    USERDATA_PARTS_MAX, o->label);
                return -E2BIG;
        }
        if (asprintf(&name, "%spart-%03zu", is_vendor(o) ? "vendor-" : "", ctx->n_parts + 1) < 0) {
                name = NULL;
                return -ENOMEM;
        }
        type_copy = strdup(content_type);
        copy = malloc(size + 1);
        if (!type_copy || !copy)
                return -ENOMEM;
        if (o->filename && !(filename = strdup(o->filename)))
                return -ENOMEM;
        if (o->merge_how && !(merge_how = strdup(o->merge_how)))
                return -ENOMEM;
        memcpy(copy, data, size);
        copy[size] = '\0';

        parts = realloc(ctx->parts, (ctx->n_parts + 1) * sizeof(Part));
        if (!parts)
                return -ENOMEM;
        ctx->parts = parts;
        parts[ctx->n_parts++] = (Part) {
                .type = type,
                .name = TAKE_PTR(name),
                .content_type = TAKE_PTR(type_copy),
                .data = TAKE_PTR(copy),
                .size = size,
                .filename = TAKE_PTR(filename),
                .merge_how = TAKE_PTR(merge_how),
                .vendor = is_vendor(o),
        };
        return 0;
}

/* Inflate gzip data of o within what is left of USERDATA_INFLATED_MAX. Returns 0, or -errno after
 * reporting. */
static int inflate_reported(Context *ctx, const Origin *o, const char *data, size_t size, char **ret,
                            size_t *ret_size) {
        int r;

        r = mime_gunzip(data, size, USERDATA_INFLATED_MAX - *o->inflated, ret, ret_size);
        if (r == -EFBIG)
                return report_error(ctx, -1, r, "Failed to decompress %s: it inflates to more than the "
                                    "limit of %u MiB", o->label, USERDATA_INFLATED_MAX / 1024 / 1024);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to decompress %s: invalid gzip data", o->label);
        *o->inflated += *ret_size;
        log_info("Decompressed %s (%zu bytes to %zu).", o->label, size, *ret_size);
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

static bool has_known_start(const char *data, size_t size) {
        size_t off;

        if (has_gzip_magic(data, size))
                return true;
        off = skip_blank_lines(data, size);
        return mime_is_message(data + off, size - off) || sniff_type(data, size);
}

static int report_unknown(Context *ctx, const Origin *o, bool declared, const char *data, size_t size) {
        static const char *const known[] = {
                "#cloud-config", "#!", "#include", "#include-once", "#cloud-boothook",
                "#cloud-config-archive", "#cloud-config-jsonp", "## template: jinja", NULL,
        };
        size_t off = skip_blanks(data, size);
        const char *best;
        char line[80];

        first_line(data + off, size - off, line, sizeof(line));
        /* Only a line starting with '#' is an attempt at a header worth correcting. */
        best = line[0] == '#' ? nearest_word(line, known, 3) : NULL;
        if (best)
                report_warning(ctx, -1, "Unrecognised first line '%s' in %s, ignoring it. Did you mean "
                               "'%s'?", line, o->label, best);
        else if (declared)
                report_warning(ctx, -1,
                               "Unrecognised first line '%s' in %s, ignoring it. A part of this type must "
                               "start with '#!' (a script), '#cloud-config', '#include' or "
                               "'#cloud-boothook', or declare its type in its Content-Type header (for "
                               "example text/x-shellscript); to run it as a shell script, add '#!/bin/sh' "
                               "as its first line.",
                               line, o->label);
        else
                report_warning(ctx, -1,
                               "Unrecognised first line '%s' in %s, ignoring it. User data must start with "
                               "'#!' (a script), '#cloud-config', '#include', '#cloud-boothook', "
                               "'Content-Type:' (MIME) or be gzip data; to run it as a shell script, add "
                               "'#!/bin/sh' as its first line.",
                               line, o->label);
        return 0;
}

/* Executable parts of vendor data are not run: cloud-init runs vendor scripts in a module of its
 * own (scripts_vendor) that the user can turn off, and kiln does not have that module yet. */
static bool skip_vendor_executable(Context *ctx, const Origin *o, const char *description) {
        if (!is_vendor(o))
                return false;
        report_warning(ctx, -1, "%s contains %s, which this version of kiln does not run for vendor data, "
                       "skipping it.", o->label, description);
        return true;
}

/* A script or boothook body from its '#!' on, with CRLF turned into LF when its first line ends
 * in CRLF, because the kernel would otherwise look for an interpreter whose name ends in '\r'. */
static int add_executable(Context *ctx, const Origin *o, PartType type, const char *content_type,
                          const char *data, size_t size) {
        _cleanup_free_ char *copy = NULL;
        size_t n = 0;
        const char *eol = memchr(data, '\n', size);

        if (!eol || eol == data || eol[-1] != '\r')
                return add_part(ctx, o, type, content_type, data, size);

        copy = malloc(size + 1);
        if (!copy)
                return -ENOMEM;
        for (size_t i = 0; i < size; i++) {
                if (data[i] == '\r' && i + 1 < size && data[i + 1] == '\n')
                        continue;
                copy[n++] = data[i];
        }
        log_warning("Converted CRLF line ends to LF in script part %zu of %s.", ctx->n_parts + 1, o->label);
        return add_part(ctx, o, type, content_type, copy, n);
}

/* A script: stored from its '#!' on, so the bytes that were classified are the bytes that run. */
static int add_script(Context *ctx, const Origin *o, const KnownType *t, PartType type, const char *data,
                      size_t size) {
        size_t off = skip_blanks(data, size);

        if (!starts_with(data + off, size - off, "#!"))
                return report_error(ctx, -1, 0, "%s is a shell script by its type %s but does not start "
                                    "with '#!', so it cannot run; add '#!/bin/sh' as its first line",
                                    o->label, t->content_type);
        if (skip_vendor_executable(ctx, o, "a script"))
                return 0;
        return add_executable(ctx, o, type, t->content_type, data + off, size - off);
}

/* A boothook: the "#cloud-boothook" line is removed, as cloud-init's boothook handler does, and
 * the rest must be a script. */
static int add_boothook(Context *ctx, const Origin *o, const KnownType *t, const char *data, size_t size) {
        size_t off = after_header(t, data, size);

        off += skip_blanks(data + off, size - off);
        if (!starts_with(data + off, size - off, "#!"))
                return report_error(ctx, -1, 0, "The boothook in %s does not start with '#!' after its "
                                    "'#cloud-boothook' line, so it cannot run; add '#!/bin/sh'", o->label);
        if (skip_vendor_executable(ctx, o, "a boothook"))
                return 0;
        return add_executable(ctx, o, PART_BOOTHOOK, t->content_type, data + off, size - off);
}

/* A JSON patch: the part's data is the text after the "#cloud-config-jsonp" line. */
static int add_jsonp(Context *ctx, const Origin *o, const KnownType *t, const char *data, size_t size) {
        size_t off = after_header(t, data, size);

        return add_part(ctx, o, PART_CLOUD_CONFIG_JSONP, t->content_type, data + off, size - off);
}

static int add_other(Context *ctx, const Origin *o, const char *content_type, const char *data,
                     size_t size) {
        int r;

        r = add_part(ctx, o, PART_OTHER, content_type, data, size);
        if (r < 0)
                return r;
        log_info("%s is not for kiln; it is kept as %s for other programs.", o->label,
                 ctx->parts[ctx->n_parts - 1].name);
        return 0;
}

static int decode_included_user(Context *ctx, const char *label, const char *data, size_t size,
                                unsigned depth);
static int decode_included_vendor(Context *ctx, const char *label, const char *data, size_t size,
                                  unsigned depth);

static int decode_include(Context *ctx, const Origin *o, const char *data, size_t size, bool once) {
        /* Nothing before `kiln run` touches the network: `kiln validate` has no instance. */
        if (!ctx->instance) {
                report_warning(ctx, -1, "%s lists URLs to include, which only 'kiln run' fetches, "
                               "skipping them.", o->label);
                return 0;
        }
        return include_process(ctx, o->label, data, size, once, o->depth,
                               is_vendor(o) ? decode_included_vendor : decode_included_user);
}

static int decode_known(Context *ctx, const Origin *o, const KnownType *t, const char *data, size_t size);

/* NOTE: cloud-init applies a part that names a launch index only on the instance of that
 * ami-launch-index, and kiln does not read the launch index yet, so it applies the part everywhere
 * and says so. */
static void report_launch_index(Context *ctx, const Origin *o) {
        report_warning(ctx, -1, "%s names a launch index, which kiln does not filter parts by; applying it "
                       "on every instance.", o->label);
}

static int decode_archive_entry(Context *ctx, const Origin *o, const json_t *entry, size_t number) {
        _cleanup_free_ char *label = NULL;
        const json_t *content = entry, *type = NULL, *filename = NULL, *value;
        const KnownType *t;
        Origin eo = *o;
        const char *key;

        if (asprintf(&label, "entry %zu of the cloud-config-archive in %s", number, o->label) < 0) {
                label = NULL;
                return -ENOMEM;
        }
        eo.label = label;
        eo.flags |= ORIGIN_ARCHIVE;
        if (json_is_object(entry)) {
                content = json_object_get(entry, "content");
                type = json_object_get(entry, "type");
                filename = json_object_get(entry, "filename");
                /* Other keys are MIME headers of the entry, as in cloud-init. */
                json_object_foreach((json_t *) entry, key, value)
                        if ((strcasecmp(key, "Merge-Type") == 0 || strcasecmp(key, "X-Merge-Type") == 0) &&
                            json_is_string(value) && !eo.merge_how)
                                eo.merge_how = json_string_value(value);
                if (json_object_get(entry, "launch-index"))
                        report_launch_index(ctx, &eo);
        }
        if ((content && !json_is_string(content)) || (type && !json_is_string(type)) ||
            (filename && !json_is_string(filename))) {
                report_warning(ctx, -1, "%s is neither a string nor a mapping whose content, type and "
                               "filename are strings, skipping it.", label);
                return 0;
        }
        if (filename)
                eo.filename = json_string_value(filename);
        if (!content || skip_blanks(json_string_value(content), json_string_length(content)) ==
                        json_string_length(content)) {
                log_info("%s is empty.", label);
                return 0;
        }

        /* Without a type, an entry is typed by its first line, and is cloud-config otherwise. */
        if (!type)
                t = sniff_type(json_string_value(content), json_string_length(content)) ?:
                    known_type_by_name("text/cloud-config");
        else
                t = known_type_by_name(json_string_value(type));
        if (!t)
                return add_other(ctx, &eo, json_string_value(type), json_string_value(content),
                                 json_string_length(content));
        return decode_known(ctx, &eo, t, json_string_value(content), json_string_length(content));
}

/* #cloud-config-archive: a YAML list whose entries are strings (the content) or mappings with
 * content, type, filename and header keys such as Merge-Type. */
static int decode_archive(Context *ctx, const Origin *o, const char *data, size_t size) {
        json_auto_t *doc = NULL, *warnings = NULL;
        YamlError err = {};
        const json_t *entry, *w;
        size_t i;
        int r, ret = 0;

        r = yaml_parse_json(data, size, &doc, &warnings, /* ret_positions= */ NULL, &err);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to parse the cloud-config-archive in %s at line %u, "
                                    "column %u: %s; nothing from it is applied", o->label, err.line,
                                    err.column, err.message);
        json_array_foreach(warnings, i, w)
                report_warning(ctx, -1, "cloud-config-archive in %s, line %d: %s", o->label,
                               (int) json_integer_value(json_object_get(w, "line")),
                               json_string_value(json_object_get(w, "message")));
        if (json_is_null(doc)) {
                log_info("The cloud-config-archive in %s is empty.", o->label);
                return 0;
        }
        if (!json_is_array(doc))
                return report_error(ctx, -1, 0, "The cloud-config-archive in %s is not a list of parts; "
                                    "nothing from it is applied", o->label);

        json_array_foreach(doc, i, entry) {
                r = decode_archive_entry(ctx, o, entry, i + 1);
                if (r < 0 && ret == 0)
                        ret = r;
                if (r == -E2BIG)
                        break;
        }
        return ret;
}

static int report_render_warnings(Context *ctx, const Origin *o, const json_t *warnings,
                                  unsigned line_offset) {
        const json_t *w;
        size_t i;

        json_array_foreach(warnings, i, w)
                report_warning(ctx, -1, "Jinja template in %s, line %u: %s", o->label,
                               (unsigned) json_integer_value(json_object_get(w, "line")) + line_offset,
                               json_string_value(json_object_get(w, "message")) ?: "");
        return 0;
}

/* Number of lines before offset off. */
static unsigned lines_before(const char *data, size_t off) {
        unsigned n = 0;

        for (size_t i = 0; i < off; i++)
                if (data[i] == '\n')
                        n++;
        return n;
}

/* The kinds a rendered template may have, as cloud-init's Jinja handler passes them on to the
 * cloud-config, shell script and boothook handlers. */
static bool is_template_output(Kind kind) {
        return kind == KIND_CLOUD_CONFIG || kind == KIND_JSONP || kind == KIND_SCRIPT ||
               kind == KIND_BOOTHOOK;
}

/* A "## template: jinja" part: rendered with the instance data, then decoded by its first line.
 * Line numbers in messages count from the part's first line. */
static int decode_jinja(Context *ctx, const Origin *o, const KnownType *t, const char *data, size_t size) {
        _cleanup_free_ char *rendered = NULL;
        json_auto_t *vars = NULL, *warnings = NULL;
        size_t off = after_header(t, data, size), rendered_size;
        unsigned line_offset = lines_before(data, off);
        const KnownType *rt;
        JinjaError err = {};
        Origin ro = *o;
        char line[80];
        int r;

        if (!ctx->instance) {
                report_warning(ctx, -1, "%s is a Jinja template, which only 'kiln run' renders with the "
                               "instance data, skipping it.", o->label);
                return 0;
        }
        vars = instance_data_build(ctx);
        if (!vars)
                return report_error(ctx, -1, -ENOMEM, "Failed to build the instance data for %s: %m",
                                    o->label);

        r = jinja_render(data + off, size - off, vars, &rendered, &rendered_size, &warnings, &err);
        if (r == -ENOMEM)
                return report_error(ctx, -1, r, "Failed to render the Jinja template in %s: %m", o->label);
        if (r < 0 && err.line > 0)
                return report_error(ctx, -1, r, "Failed to render the Jinja template in %s at line %u: "
                                    "%s; nothing from it is applied", o->label, err.line + line_offset,
                                    err.message);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to render the Jinja template in %s: %s; nothing "
                                    "from it is applied", o->label, err.message);
        (void) report_render_warnings(ctx, o, warnings, line_offset);

        if (skip_blanks(rendered, rendered_size) == rendered_size) {
                log_info("The Jinja template in %s rendered to nothing.", o->label);
                return 0;
        }
        rt = sniff_type(rendered, rendered_size);
        if (!rt || !is_template_output(rt->kind)) {
                size_t start = skip_blanks(rendered, rendered_size);

                first_line(rendered + start, rendered_size - start, line, sizeof(line));
                report_warning(ctx, -1, "The Jinja template in %s renders to text starting with '%s', "
                               "which is not '#cloud-config', '#cloud-config-jsonp', '#cloud-boothook' or a "
                               "'#!' script, ignoring it.", o->label, line);
                return 0;
        }
        ro.flags |= ORIGIN_RENDERED;
        return decode_known(ctx, &ro, rt, rendered, rendered_size);
}

/* A type that has no meaning where it appears: inside an archive or as a template's output. */
static int report_misplaced(Context *ctx, const Origin *o, const KnownType *t) {
        report_warning(ctx, -1, "%s has type %s, which kiln does not act on inside %s, ignoring it.",
                       o->label, t->content_type,
                       o->flags & ORIGIN_ARCHIVE ? "a cloud-config-archive" : "a rendered Jinja template");
        return 0;
}

static int decode_known(Context *ctx, const Origin *o, const KnownType *t, const char *data, size_t size) {
        bool nested = o->flags & (ORIGIN_ARCHIVE | ORIGIN_RENDERED);

        /* Exhaustive: no default, so the compiler flags a new kind. */
        switch (t->kind) {
        case KIND_CLOUD_CONFIG:
                /* The whole text goes to YAML so that line numbers in messages stay right. */
                return add_part(ctx, o, PART_CLOUD_CONFIG, t->content_type, data, size);
        case KIND_JSONP:
                return add_jsonp(ctx, o, t, data, size);
        case KIND_SCRIPT:
                return add_script(ctx, o, t, PART_SCRIPT, data, size);
        case KIND_SCRIPT_PER_BOOT:
                return add_script(ctx, o, t, PART_SCRIPT_PER_BOOT, data, size);
        case KIND_SCRIPT_PER_INSTANCE:
                return add_script(ctx, o, t, PART_SCRIPT_PER_INSTANCE, data, size);
        case KIND_SCRIPT_PER_ONCE:
                return add_script(ctx, o, t, PART_SCRIPT_PER_ONCE, data, size);
        case KIND_BOOTHOOK:
                return add_boothook(ctx, o, t, data, size);
        case KIND_INCLUDE:
        case KIND_INCLUDE_ONCE:
                if (nested)
                        return report_misplaced(ctx, o, t);
                return decode_include(ctx, o, data, size, t->kind == KIND_INCLUDE_ONCE);
        case KIND_ARCHIVE:
                if (nested)
                        return report_misplaced(ctx, o, t);
                return decode_archive(ctx, o, data, size);
        case KIND_JINJA:
                if (o->flags & ORIGIN_RENDERED)
                        return report_misplaced(ctx, o, t);
                return decode_jinja(ctx, o, t, data, size);
        case KIND_PART_HANDLER:
                report_warning(ctx, -1, "%s is a part handler (Python code for cloud-init), which kiln "
                               "does not run, ignoring it.", o->label);
                return 0;
        case KIND_UNTYPED:
                if (nested)
                        return report_misplaced(ctx, o, t);
                return report_unknown(ctx, o, /* declared= */ true, data, size);
        case KIND_GZIP:
                return report_misplaced(ctx, o, t);
        }
        return -EINVAL;
}

static int decode_mime_part(Context *ctx, const Origin *o, const MimePart *mp, size_t number) {
        _cleanup_free_ char *label = NULL, *inflated = NULL;
        const char *data = mp->data;
        size_t size = mp->size;
        const KnownType *t, *sniffed;
        Origin po = *o;
        int r;

        if (asprintf(&label, "part %zu (%s) of the MIME message in %s", number, mp->content_type,
                     o->label) < 0) {
                label = NULL;
                return -ENOMEM;
        }
        po.label = label;
        po.filename = mp->filename;
        po.merge_how = mp->merge_type;

        if (mp->problem != MIME_PROBLEM_NONE)
                return report_error(ctx, -1, 0, "Failed to read %s: %s; nothing from it is applied", label,
                                    mime_problem_to_string(mp->problem));
        if (mp->launch_index)
                report_launch_index(ctx, &po);
        if (size >= 3 && memcmp(data, utf8_bom, 3) == 0) {
                log_info("Removed the UTF-8 byte-order mark at the start of %s.", label);
                data += 3;
                size -= 3;
        }
        if (skip_blanks(data, size) == size) {
                log_info("%s is empty.", label);
                return 0;
        }

        t = known_type_by_name(mp->content_type);
        if (t && t->kind == KIND_GZIP) {
                r = inflate_reported(ctx, &po, data, size, &inflated, &size);
                if (r < 0)
                        return r;
                data = inflated;
                t = known_type_by_name("text/plain");
        }
        if (!t)
                return add_other(ctx, &po, mp->content_type, data, size);

        /* Only these declared types give way to their first line. Doing so for text/x-shellscript
         * is safe because a script starts with '#!', which no other type does. */
        if (t->kind == KIND_UNTYPED || t->kind == KIND_SCRIPT) {
                sniffed = sniff_type(data, size);
                if (sniffed)
                        t = sniffed;
        }
        return decode_known(ctx, &po, t, data, size);
}

static int decode_mime(Context *ctx, const Origin *o, const char *data, size_t size) {
        _cleanup_(mime_message_done) MimeMessage m = {};
        int r, ret = 0;

        r = mime_parse(data, size, USERDATA_PARTS_MAX, &m);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to parse the MIME message in %s: %m", o->label);
        log_info("%s is a MIME message with %zu part%s.", o->label, m.n_parts, m.n_parts == 1 ? "" : "s");
        if (m.unterminated)
                report_warning(ctx, -1, "The MIME message in %s ends without its closing boundary line, so "
                               "it may be cut short; using the parts it has.", o->label);
        if (m.n_parts == 0)
                report_warning(ctx, -1, "The MIME message in %s has no parts, ignoring it.", o->label);

        for (size_t i = 0; i < m.n_parts; i++) {
                r = decode_mime_part(ctx, o, &m.parts[i], i + 1);
                if (r < 0 && ret == 0)
                        ret = r;
                if (r == -E2BIG)
                        return ret;
        }
        if (m.parts_dropped)
                return report_error(ctx, -1, -E2BIG, "The MIME message in %s has more than %d parts, "
                                    "ignoring the rest", o->label, USERDATA_PARTS_MAX);
        return ret;
}

/* The decodings a body went through already. Each is applied at most once, so a gzip stream
 * that inflates to itself or nested base64 cannot recurse. */
typedef enum Decoded {
        DECODED_BASE64 = 1 << 0,
        DECODED_GZIP = 1 << 1,
} Decoded;

static int classify(Context *ctx, const Origin *o, const char *data, size_t size, Decoded done);

static int decode_base64_body(Context *ctx, const Origin *o, const char *data, size_t size, Decoded done) {
        _cleanup_free_ char *decoded = NULL, *again = NULL;
        size_t decoded_size, again_size;

        if (mime_base64_decode(data, size, &decoded, &decoded_size) < 0)
                return -EINVAL;
        if (has_known_start(decoded, decoded_size)) {
                if (done & DECODED_BASE64) {
                        report_warning(ctx, -1, "%s is base64-encoded more than once, ignoring it. Encode "
                                       "it once.", o->label);
                        return 0;
                }
                report_warning(ctx, -1, "%s is base64 text; decoded it once. Pass the raw bytes instead.",
                               o->label);
                return classify(ctx, o, decoded, decoded_size, done | DECODED_BASE64);
        }
        if (looks_like_base64(decoded, decoded_size) &&
            mime_base64_decode(decoded, decoded_size, &again, &again_size) >= 0 &&
            has_known_start(again, again_size)) {
                report_warning(ctx, -1, "%s is base64-encoded more than once, ignoring it. Encode it once.",
                               o->label);
                return 0;
        }
        return report_unknown(ctx, o, /* declared= */ false, data, size);
}

static int classify(Context *ctx, const Origin *o, const char *data, size_t size, Decoded done) {
        const KnownType *t;
        size_t off;

        if (size >= 3 && memcmp(data, utf8_bom, 3) == 0) {
                log_info("Removed the UTF-8 byte-order mark at the start of %s.", o->label);
                data += 3;
                size -= 3;
        }
        if (has_gzip_magic(data, size)) {
                _cleanup_free_ char *inflated = NULL;
                size_t inflated_size;
                int r;

                if (done & DECODED_GZIP)
                        return report_error(ctx, -1, 0, "%s is compressed more than once; compress it once",
                                            o->label);
                r = inflate_reported(ctx, o, data, size, &inflated, &inflated_size);
                if (r < 0)
                        return r;
                return classify(ctx, o, inflated, inflated_size, done | DECODED_GZIP);
        }

        off = skip_blank_lines(data, size);
        if (off == size) {
                log_info("%s is empty.", o->label);
                return 0;
        }
        if (mime_is_message(data + off, size - off))
                return decode_mime(ctx, o, data + off, size - off);

        t = sniff_type(data, size);
        if (t)
                return decode_known(ctx, o, t, data, size);

        off = skip_blanks(data, size);
        if (looks_like_base64(data + off, size - off)) {
                int r = decode_base64_body(ctx, o, data + off, size - off, done);
                if (r != -EINVAL)
                        return r;
        }
        return report_unknown(ctx, o, /* declared= */ false, data, size);
}

static int decode_blob(Context *ctx, const char *source, const char *label, const char *data, size_t size,
                       unsigned depth) {
        size_t inflated = 0;
        Origin o = {
                .source = source,
                .label = label,
                .depth = depth,
                .inflated = &inflated,
        };

        return classify(ctx, &o, data, size, /* done= */ 0);
}

/* The decoders that include_process() hands fetched bodies to, one for each source, so that an
 * included part of vendor data stays vendor data. */
static int decode_included_user(Context *ctx, const char *label, const char *data, size_t size,
                                unsigned depth) {
        return decode_blob(ctx, "user-data", label, data, size, depth);
}

static int decode_included_vendor(Context *ctx, const char *label, const char *data, size_t size,
                                  unsigned depth) {
        return decode_blob(ctx, "vendor-data", label, data, size, depth);
}

int userdata_decode(Context *ctx, const char *source, const char *data, size_t size) {
        return decode_blob(ctx, source, source, data, size, /* depth= */ 0);
}
