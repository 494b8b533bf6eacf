/* SPDX-License-Identifier: Apache-2.0 */
/* The etc_hosts module: maps the machine's own names in /etc/hosts at every boot, as cloud-init's
 * update_etc_hosts module does with manage_etc_hosts. */

#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domains.h"
#include "etc_hosts.h"
#include "hostname.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "userdata/jinja.h"

#define HOSTS_FILE "/etc/hosts"
/* A site's own content for manage_etc_hosts: true, in place of the built-in one. */
#define HOSTS_TEMPLATE_FILE "/etc/kiln/templates/hosts.tmpl"

/* Caps on reading /etc/hosts and the template: both are short text files. */
#define HOSTS_FILE_MAX (1024U * 1024U)
#define HOSTS_TEMPLATE_MAX (1024U * 1024U)

typedef enum ManageHosts {
        MANAGE_HOSTS_NO,
        MANAGE_HOSTS_TEMPLATE,   /* true: render the whole file */
        MANAGE_HOSTS_LOCALHOST,  /* edit only the ETC_HOSTS_LOCAL_ADDRESS line */
        _MANAGE_HOSTS_MAX,
        _MANAGE_HOSTS_INVALID = -EINVAL,
} ManageHosts;

/* Write "fqdn hostname" to f, or the one name when they are equal or one is NULL. */
static void names_write(FILE *f, const char *hostname, const char *fqdn) {
        const char *first = fqdn ?: hostname;

        fputs(first, f);
        if (hostname && !streq(hostname, first))
                fprintf(f, " %s", hostname);
}

/* Finish a memstream into *ret. */
static int memstream_finish(FILE *f, char **buf, char **ret) {
        int r = ferror(f) ? -ENOMEM : 0;

        if (fclose(f) != 0)
                r = -ENOMEM;
        if (r < 0) {
                free(*buf);
                *buf = NULL;
                return r;
        }
        *ret = *buf;
        return 0;
}

int etc_hosts_render_builtin(const char *hostname, const char *fqdn, char **ret) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        assert(hostname || fqdn);

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        fputs("# kiln manages this file because manage_etc_hosts is true in the cloud-config, and\n"
              "# rewrites it at every boot, so changes made here are lost. To change the content,\n"
              "# put a template in " HOSTS_TEMPLATE_FILE ". To edit the file by hand, set\n"
              "# manage_etc_hosts to false.\n", f);
        fputs(ETC_HOSTS_LOCAL_ADDRESS " ", f);
        names_write(f, hostname, fqdn);
        fputs("\n127.0.0.1 localhost\n"
              "\n"
              "# The following lines are desirable for IPv6 capable hosts\n"
              "::1 localhost ip6-localhost ip6-loopback\n"
              "ff02::1 ip6-allnodes\n"
              "ff02::2 ip6-allrouters\n", f);
        return memstream_finish(f, &buf, ret);
}

/* The renderer that the template's first line names: "jinja", "basic", or NULL without one. The
 * line is "## template:NAME", blanks allowed around NAME, letters in any case. */
static const char *template_kind(const char *template, size_t size, size_t *ret_header_size) {
        static const char *const kinds[] = { "jinja", "basic" };
        const char *end = memchr(template, '\n', size);
        size_t n = end ? (size_t) (end - template) : size, prefix = strlen("## template:");

        *ret_header_size = 0;
        if (n < prefix || strncasecmp(template, "## template:", prefix) != 0)
                return NULL;

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                const char *p = template + prefix, *line_end = template + n;

                while (p < line_end && isblank((unsigned char) *p))
                        p++;
                if ((size_t) (line_end - p) < strlen(kinds[i]) || strncasecmp(p, kinds[i], strlen(kinds[i])) != 0)
                        continue;
                p += strlen(kinds[i]);
                while (p < line_end && isspace((unsigned char) *p))
                        p++;
                if (p != line_end)
                        continue;
                *ret_header_size = end ? n + 1 : n;
                return kinds[i];
        }
        return NULL;
}

/* Replace $NAME and ${NAME} for hostname and fqdn, as cloud-init's basic renderer does. Other
 * '$' signs stay as they are. */
static int render_basic(const char *template, size_t size, const char *hostname, const char *fqdn, char **ret) {
        const struct {
                const char *name;
                const char *value;
        } vars[] = { { "hostname", hostname }, { "fqdn", fqdn } };
        char *buf = NULL;
        size_t buf_size = 0;
        FILE *f;

        f = open_memstream(&buf, &buf_size);
        if (!f)
                return -ENOMEM;

        for (size_t i = 0; i < size;) {
                bool replaced = false;

                for (size_t v = 0; template[i] == '$' && v < ELEMENTSOF(vars) && !replaced; v++) {
                        size_t len = strlen(vars[v].name);
                        const char *p = template + i + 1;
                        size_t left = size - i - 1;
                        bool braced = left > 0 && *p == '{';

                        if (braced) {
                                p++;
                                left--;
                        }
                        if (left < len + braced || strncmp(p, vars[v].name, len) != 0)
                                continue;
                        if (braced && p[len] != '}')
                                continue;
                        /* $hostnames is another variable, not $hostname followed by 's'. */
                        if (!braced && left > len && (isalnum((unsigned char) p[len]) || p[len] == '_'))
                                continue;
                        fputs(vars[v].value ?: "", f);
                        i += 1 + braced + len + braced;
                        replaced = true;
                }
                if (!replaced)
                        fputc(template[i++], f);
        }
        return memstream_finish(f, &buf, ret);
}

int etc_hosts_render_template(const char *template, size_t size, const char *hostname, const char *fqdn,
                              char **ret, char **reterr_message) {
        _cleanup_(json_decrefp) json_t *vars = NULL;
        JinjaError error = {};
        size_t header_size, out_size;
        const char *kind;
        int r;

        kind = template_kind(template, size, &header_size);
        if (!kind || streq(kind, "basic"))
                return render_basic(template + header_size, size - header_size, hostname, fqdn, ret);

        vars = json_pack("{s:s?, s:s?}", "hostname", hostname, "fqdn", fqdn);
        if (!vars)
                return -ENOMEM;
        r = jinja_render(template + header_size, size - header_size, vars, ret, &out_size,
                         /* ret_warnings= */ NULL, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* Line numbers count from the line after the header. */
                if (asprintf(reterr_message, "line %u: %s", error.line + 1, error.message) < 0) {
                        *reterr_message = NULL;
                        return -ENOMEM;
                }
                return -EINVAL;
        }
        return 0;
}

/* Split the whitespace-separated fields of one hosts line, up to a '#' comment, into fields (at
 * most max). Returns the number found. The line is not changed: fields point into it, with
 * lengths in lens. */
static size_t line_fields(const char *line, size_t line_len, const char **fields, size_t *lens, size_t max) {
        size_t n = 0, i = 0;

        while (i < line_len && line[i] != '#' && n < max) {
                size_t start;

                while (i < line_len && isblank((unsigned char) line[i]))
                        i++;
                if (i >= line_len || line[i] == '#')
                        break;
                start = i;
                while (i < line_len && line[i] != '#' && !isspace((unsigned char) line[i]))
                        i++;
                fields[n] = line + start;
                lens[n++] = i - start;
        }
        return n;
}

static bool field_is(const char *field, size_t len, const char *s) {
        return s && strlen(s) == len && strncmp(field, s, len) == 0;
}

/* The maximum number of fields read from a hosts line: the address and the names after it. */
#define HOSTS_LINE_FIELDS_MAX 64U

typedef enum LineKind {
        LINE_OTHER,
        LINE_LOCAL,          /* the ETC_HOSTS_LOCAL_ADDRESS line, not yet right */
        LINE_LOCAL_RIGHT,    /* the ETC_HOSTS_LOCAL_ADDRESS line with fqdn first and hostname after */
        LINE_LOOPBACK,       /* 127.0.0.1 */
} LineKind;

static LineKind line_kind(const char *line, size_t len, const char *hostname, const char *fqdn) {
        const char *fields[HOSTS_LINE_FIELDS_MAX];
        size_t lens[HOSTS_LINE_FIELDS_MAX], n;
        const char *first = fqdn ?: hostname;

        n = line_fields(line, len, fields, lens, ELEMENTSOF(fields));
        if (n == 0)
                return LINE_OTHER;
        if (field_is(fields[0], lens[0], "127.0.0.1"))
                return LINE_LOOPBACK;
        if (!field_is(fields[0], lens[0], ETC_HOSTS_LOCAL_ADDRESS))
                return LINE_OTHER;

        if (n < 2 || !field_is(fields[1], lens[1], first))
                return LINE_LOCAL;
        if (!hostname || streq(hostname, first))
                return LINE_LOCAL_RIGHT;
        for (size_t i = 2; i < n; i++)
                if (field_is(fields[i], lens[i], hostname))
                        return LINE_LOCAL_RIGHT;
        return LINE_LOCAL;
}

static void local_line_write(FILE *f, const char *hostname, const char *fqdn) {
        fputs(ETC_HOSTS_LOCAL_ADDRESS " ", f);
        names_write(f, hostname, fqdn);
        fputc('\n', f);
}

int etc_hosts_update_local(const char *content, const char *hostname, const char *fqdn, char **ret) {
        const char *replace = NULL, *insert_after = NULL;
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        assert(hostname || fqdn);

        /* Find the line to replace, or the line to add after. */
        for (const char *line = content; line && *line;) {
                const char *next = strchr(line, '\n');
                size_t len = next ? (size_t) (next - line) : strlen(line);

                switch (line_kind(line, len, hostname, fqdn)) {
                case LINE_LOCAL_RIGHT:
                        return 0;
                case LINE_LOCAL:
                        if (!replace)
                                replace = line;
                        break;
                case LINE_LOOPBACK:
                        if (!insert_after)
                                insert_after = line;
                        break;
                case LINE_OTHER:
                        break;
                }
                line = next ? next + 1 : line + len;
        }

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        if (!content) {
                fputs("# Created by kiln for manage_etc_hosts: localhost.\n127.0.0.1 localhost\n", f);
                local_line_write(f, hostname, fqdn);
                fputs("::1 localhost ip6-localhost ip6-loopback\n", f);
        }

        for (const char *line = content; line && *line;) {
                const char *next = strchr(line, '\n');
                size_t len = next ? (size_t) (next - line) : strlen(line);

                if (line == replace)
                        local_line_write(f, hostname, fqdn);
                else {
                        fwrite(line, 1, len, f);
                        fputc('\n', f);
                }
                if (!replace && line == insert_after)
                        local_line_write(f, hostname, fqdn);
                line = next ? next + 1 : line + len;
        }
        if (content && !replace && !insert_after)
                local_line_write(f, hostname, fqdn);

        return memstream_finish(f, &buf, ret) ?: 1;
}

/* Read manage_etc_hosts. Strings that cloud-init reads as booleans ("yes", "off") are accepted
 * with a warning, as for the other boolean keys. "template" is a deprecated name of true. */
static ManageHosts manage_hosts_parse(Context *ctx, const json_t *config) {
        const json_t *v = json_object_get(config, "manage_etc_hosts");
        _cleanup_free_ char *text = NULL;
        const char *s;
        int b;

        if (!v || json_is_null(v) || json_is_false(v))
                return MANAGE_HOSTS_NO;
        if (json_is_true(v))
                return MANAGE_HOSTS_TEMPLATE;

        if (json_is_string(v)) {
                s = json_string_value(v);
                if (streq(s, "localhost"))
                        return MANAGE_HOSTS_LOCALHOST;
                if (streq(s, "template")) {
                        report_warning(ctx, -1, "manage_etc_hosts: 'template' is deprecated, write true instead.");
                        return MANAGE_HOSTS_TEMPLATE;
                }
                b = parse_boolean(s);
                if (b >= 0) {
                        report_warning(ctx, -1, "manage_etc_hosts: expected a boolean, got the string '%s', which "
                                       "is read as %s. Write %s without quotes.", s, b ? "true" : "false",
                                       b ? "true" : "false");
                        return b ? MANAGE_HOSTS_TEMPLATE : MANAGE_HOSTS_NO;
                }
                return report_error(ctx, -1, 0, "manage_etc_hosts: expected true, false or 'localhost', got '%s'.",
                                    s);
        }

        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        return report_error(ctx, -1, 0, "manage_etc_hosts: expected true, false or 'localhost', got %s.",
                            text ?: "a value of another type");
}

/* Render the whole file from the site's template, or from the built-in content without one. */
static int hosts_render(Context *ctx, const HostnameChoice *names, char **ret) {
        _cleanup_free_ char *template = NULL, *message = NULL;
        size_t size = 0;
        int r;

        r = read_file_at(ctx->root_fd, HOSTS_TEMPLATE_FILE, HOSTS_TEMPLATE_MAX, &template, &size);
        if (r == -ENOENT) {
                r = etc_hosts_render_builtin(names->hostname, names->fqdn, ret);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to render %s: %m", HOSTS_FILE);
                return 0;
        }
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read the template %s: %m", HOSTS_TEMPLATE_FILE);

        r = etc_hosts_render_template(template, size, names->hostname, names->fqdn, ret, &message);
        if (r == -EINVAL)
                return report_error(ctx, -1, 0, "Failed to render the template %s: %s", HOSTS_TEMPLATE_FILE,
                                    message);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to render the template %s: %m", HOSTS_TEMPLATE_FILE);
        return 0;
}

/* Write content to /etc/hosts unless it is already there, keeping the file's mode and owner
 * (0644 and root for a new file). Returns 1 when written, 0 when unchanged. */
static int hosts_write(Context *ctx, const char *current, const char *content) {
        _cleanup_close_ int fd = -EBADF;
        mode_t mode = 0644;
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;
        struct stat st;
        int r;

        if (current && streq(current, content)) {
                log_debug("%s already has the expected content.", HOSTS_FILE);
                return 0;
        }

        fd = root_open(ctx->root_fd, HOSTS_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
        if (fd >= 0 && fstat(fd, &st) >= 0 && S_ISREG(st.st_mode)) {
                mode = st.st_mode & 07777;
                uid = st.st_uid;
                gid = st.st_gid;
        }

        r = write_file_atomic(ctx->root_fd, HOSTS_FILE, content, strlen(content), mode, uid, gid,
                              WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write %s: %m", HOSTS_FILE);
        log_info("Wrote %s.", HOSTS_FILE);
        return 1;
}

static int etc_hosts_run(Context *ctx, const json_t *config) {
        _cleanup_(hostname_choice_done) HostnameChoice names = {};
        _cleanup_free_ char *current = NULL, *content = NULL, *kept = NULL;
        ManageHosts manage;
        size_t size = 0;
        int r;

        manage = manage_hosts_parse(ctx, config);
        if (manage < 0)
                return manage;
        if (manage == MANAGE_HOSTS_NO) {
                log_debug("manage_etc_hosts is not set, leaving %s alone.", HOSTS_FILE);
                return 0;
        }

        /* After an administrator renamed the machine, the hostname module keeps their name, so
         * /etc/hosts must not map kiln's old name again. Here kiln differs from cloud-init, whose
         * update_etc_hosts maps the configured names regardless. */
        r = hostname_kept_by_administrator(ctx, &kept, /* ret_previous= */ NULL);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read the hostname kiln set earlier: %m");
        if (r > 0) {
                _cleanup_free_ char *kept_shown = domain_escape_for_message(kept);

                log_info("/etc/hostname contains '%s', which an administrator set after kiln, so %s is left "
                         "alone.", kept_shown ?: "?", HOSTS_FILE);
                return 0;
        }

        r = hostname_choose_from_config(ctx, config, &names);
        if (r < 0)
                return r;
        if (r == 0) {
                report_warning(ctx, -1, "manage_etc_hosts is set, but neither the config nor the metadata names "
                               "a hostname, so %s is left alone.", HOSTS_FILE);
                return 0;
        }

        r = read_file_at(ctx->root_fd, HOSTS_FILE, HOSTS_FILE_MAX, &current, &size);
        if (r < 0 && r != -ENOENT)
                return report_error(ctx, -1, r, "Failed to read %s: %m", HOSTS_FILE);
        if (current && strlen(current) != size)
                return report_error(ctx, -1, 0, "Failed to read %s: it contains a NUL byte, so it is left alone.",
                                    HOSTS_FILE);

        if (manage == MANAGE_HOSTS_TEMPLATE) {
                r = hosts_render(ctx, &names, &content);
                if (r < 0)
                        return r;
        } else {
                r = etc_hosts_update_local(current, names.hostname, names.fqdn, &content);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to update %s: %m", HOSTS_FILE);
                if (r == 0) {
                        log_debug("%s already maps %s to '%s'.", HOSTS_FILE, ETC_HOSTS_LOCAL_ADDRESS,
                                  names.fqdn ?: names.hostname);
                        return 0;
                }
        }

        return hosts_write(ctx, current, content);
}

/* The rules of manage_hosts_parse() for `kiln validate`. */
static int manage_hosts_check(const json_t *v, const char *source_text, char *message, size_t size) {
        const char *s;
        int b;

        (void) source_text;

        if (json_is_boolean(v) || json_is_null(v))
                return 0;
        if (!json_is_string(v)) {
                (void) snprintf(message, size, "is not true, false or 'localhost'.");
                return -EINVAL;
        }

        s = json_string_value(v);
        if (streq(s, "localhost"))
                return 0;
        if (streq(s, "template")) {
                (void) snprintf(message, size, "is 'template', which is deprecated: write true instead.");
                return SHAPE_CHECK_WARNING;
        }
        b = parse_boolean(s);
        if (b >= 0) {
                (void) snprintf(message, size, "is the string '%s', which is read as %s. Write %s without quotes.",
                                s, b ? "true" : "false", b ? "true" : "false");
                return SHAPE_CHECK_WARNING;
        }
        (void) snprintf(message, size, "is '%s', not true, false or 'localhost'.", s);
        return -EINVAL;
}

static const char *const etc_hosts_config_keys[] = { "manage_etc_hosts", NULL };

static const KeyField etc_hosts_fields[] = {
        { .name = "manage_etc_hosts",
          .shape = { .types = SHAPE_BOOLEAN | SHAPE_STRING | SHAPE_NULL, .check = manage_hosts_check },
          .description = KEY_DESCRIPTION("true: write /etc/hosts at every boot from "
                                         "/etc/kiln/templates/hosts.tmpl, or from kiln's built-in "
                                         "content. 'localhost': only keep the 127.0.1.1 line naming the "
                                         "fqdn and hostname. false: leave the file alone. Default: "
                                         "false.") },
        {}
};

const AgentModule module_etc_hosts = {
        .name = "etc_hosts",
        .config_keys = etc_hosts_config_keys,
        .config_fields = etc_hosts_fields,
        .frequency = FREQUENCY_PER_BOOT,
        .bakeable = false,
        .run = etc_hosts_run,
};
