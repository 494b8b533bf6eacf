/* SPDX-License-Identifier: Apache-2.0 */
/* The apt_configure module: the apt key of cloud-config, as cloud-init's apt_configure module reads
 * it. It writes extra sources with their signing keys, apt.conf snippets for proxies and other
 * settings, and debconf selections. Package lists are updated later by the packages module. */

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "command.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "log.h"
#include "module.h"
#include "report.h"

/* Maximum size of one armored key, a source entry's lines, or a conf snippet. */
#define APT_TEXT_MAX (256U * 1024U)
/* Maximum size of /etc/os-release that is read for the release codename. */
#define APT_OS_RELEASE_MAX (64U * 1024U)
/* Maximum size of an existing sources file that an entry is appended to. */
#define APT_SOURCES_FILE_MAX (1024U * 1024U)
/* Maximum length of a source name, which names its files. */
#define APT_NAME_MAX 128U
/* Maximum length of a shown value in error messages. */
#define APT_SHOWN_VALUE_MAX 80U
/* Size of the buffer for the reason a value is rejected. */
#define APT_REASON_MAX 256U

#define APT_SOURCES_DIR "/etc/apt/sources.list.d"
#define APT_KEYRINGS_DIR "/etc/apt/keyrings"
#define APT_CONF_FILE "/etc/apt/apt.conf.d/94kiln-config"
#define APT_PROXY_FILE "/etc/apt/apt.conf.d/90kiln-aptproxy"

/* cloud-init's mirrors for Debian when primary and security name none. */
#define DEBIAN_PRIMARY_DEFAULT "http://deb.debian.org/debian"
#define DEBIAN_SECURITY_DEFAULT "http://deb.debian.org/debian-security"

#define PGP_ARMOR_BEGIN "-----BEGIN PGP PUBLIC KEY BLOCK-----"
#define PGP_ARMOR_END "-----END PGP PUBLIC KEY BLOCK-----"

/* The values that $MIRROR, $PRIMARY, $SECURITY, $RELEASE and $KEY_FILE stand for. */
typedef struct AptVars {
        const char *mirror;
        const char *primary;
        const char *security;
        char *release;           /* owned; "" when the image names no codename */
        const char *key_file;    /* the source's key file, or NULL when it has no key */
} AptVars;

/* The Debian architecture that kiln runs on, which picks a primary or security entry.
 * NOTE: an image of another architecture, mounted to be baked, still matches kiln's own. */
static const char *apt_arch(void) {
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#elif defined(__i386__)
        return "i386";
#elif defined(__arm__)
        return "armhf";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        return "ppc64el";
#elif defined(__s390x__)
        return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
        return "riscv64";
#else
        return "";
#endif
}

/* Read VERSION_CODENAME from the root's /etc/os-release, unquoted. Returns a new string, "" when
 * the file or the field is missing, or NULL when out of memory. */
static char *release_codename_read(int root_fd) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        const char *key = "VERSION_CODENAME=";

        if (read_file_at(root_fd, "/etc/os-release", APT_OS_RELEASE_MAX, &data, &size) < 0)
                return strdup("");

        for (char *line = data; line && *line;) {
                char *next = strchr(line, '\n'), *value;
                size_t n;

                if (next)
                        *next++ = '\0';
                if (strneq(line, key, strlen(key))) {
                        value = line + strlen(key);
                        n = strlen(value);
                        if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
                                value[n - 1] = '\0';
                                value++;
                        }
                        return strdup(value);
                }
                line = next;
        }
        return strdup("");
}

/* Pick the mirror of a primary or security list as cloud-init does: the first entry whose arches
 * contain this architecture, else the first whose arches contain "default". Its uri wins; without
 * one the first of its search list is taken.
 * NOTE: cloud-init tries each search URI and search_dns name until one answers. kiln takes the
 * first search URI without checking it and does not look names up. */
static const char *mirror_pick(const json_t *list, const char *fallback) {
        const char *arch = apt_arch();

        for (int pass = 0; pass < 2; pass++) {
                const json_t *entry;
                size_t i;

                json_array_foreach(list, i, entry) {
                        const json_t *arches = json_object_get(entry, "arches"), *a;
                        bool match = false;
                        size_t j;

                        json_array_foreach(arches, j, a)
                                if (json_is_string(a) && streq(json_string_value(a), pass == 0 ? arch : "default"))
                                        match = true;
                        if (!match)
                                continue;
                        if (json_is_string(json_object_get(entry, "uri")))
                                return json_string_value(json_object_get(entry, "uri"));
                        if (json_is_string(json_array_get(json_object_get(entry, "search"), 0)))
                                return json_string_value(json_array_get(json_object_get(entry, "search"), 0));
                }
        }
        return fallback;
}

/* Replace $MIRROR, $PRIMARY, $SECURITY, $RELEASE and $KEY_FILE (also written ${NAME}) in text.
 * Any other '$' stays as it is, such as apt's own $(ARCH). Returns a new string or NULL. */
static char *vars_substitute(const char *text, const AptVars *vars) {
        const struct {
                const char *name;
                const char *value;
        } table[] = {
                { "MIRROR", vars->mirror },
                { "PRIMARY", vars->primary },
                { "SECURITY", vars->security },
                { "RELEASE", vars->release },
                { "KEY_FILE", vars->key_file },
        };
        _cleanup_free_ char *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;

        f = open_memstream(&out, &size);
        if (!f)
                return NULL;

        for (const char *p = text; *p;) {
                bool replaced = false;

                if (*p == '$')
                        for (size_t i = 0; i < ELEMENTSOF(table) && !replaced; i++) {
                                size_t n = strlen(table[i].name);
                                bool braced = p[1] == '{';
                                const char *name = p + 1 + braced;

                                if (!table[i].value || !strneq(name, table[i].name, n))
                                        continue;
                                if (braced ? name[n] != '}' : (isalnum((unsigned char) name[n]) || name[n] == '_'))
                                        continue;
                                fputs(table[i].value, f);
                                p = name + n + braced;
                                replaced = true;
                        }
                if (!replaced)
                        fputc(*p++, f);
        }
        if (ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return NULL;
        return TAKE_PTR(out);
}

/* Check that text is one armored OpenPGP public key block: the armor lines, base64 that decodes,
 * and a first packet that is a public key (tag 6). Returns 0 or -EINVAL with the reason. */
static int pgp_armor_check(const char *text, size_t length, char *reason, size_t reason_size) {
        _cleanup_free_ char *body = NULL;
        _cleanup_free_ unsigned char *der = NULL;
        const char *begin, *end, *p;
        size_t n = 0;
        int decoded, tag;

        if (strlen(text) != length || length > APT_TEXT_MAX) {
                (void) snprintf(reason, reason_size, "is larger than %u bytes or contains a NUL byte", APT_TEXT_MAX);
                return -EINVAL;
        }
        begin = strstr(text, PGP_ARMOR_BEGIN);
        end = begin ? strstr(begin, PGP_ARMOR_END) : NULL;
        if (!begin || !end) {
                (void) snprintf(reason, reason_size, "is not an armored OpenPGP public key (no '%s' ... '%s' lines)",
                                PGP_ARMOR_BEGIN, PGP_ARMOR_END);
                return -EINVAL;
        }

        /* The armor headers end at the first empty line; the line starting with '=' is the CRC. */
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
                        (void) snprintf(reason, reason_size, "contains '%c' in its base64 data", isprint((unsigned char) *p) ? *p : '?');
                        return -EINVAL;
                }
                body[n++] = *p;
        }
        body[n] = '\0';
        while (p < end && *p == '=' && n % 4 != 0) {
                body[n++] = '=';
                body[n] = '\0';
                p++;
        }
        if (n == 0 || n % 4 != 0) {
                (void) snprintf(reason, reason_size, "has base64 data of invalid length");
                return -EINVAL;
        }

        der = malloc(n / 4 * 3 + 1);
        if (!der)
                return -ENOMEM;
        decoded = EVP_DecodeBlock(der, (const unsigned char *) body, (int) n);
        if (decoded <= 0) {
                (void) snprintf(reason, reason_size, "has base64 data that does not decode");
                return -EINVAL;
        }
        /* Old packet format: bits 5-2 are the tag; new format (bit 6 set): bits 5-0. */
        tag = (der[0] & 0x40) ? (der[0] & 0x3f) : ((der[0] >> 2) & 0x0f);
        if (!(der[0] & 0x80) || tag != 6) {
                (void) snprintf(reason, reason_size, "does not start with an OpenPGP public key packet");
                return -EINVAL;
        }
        return 0;
}

/* Check that a source name can name files: [A-Za-z0-9_.:-], not starting with '.'. */
static int source_name_check(const char *name, char *reason, size_t reason_size) {
        size_t n = strlen(name);

        if (n == 0 || n > APT_NAME_MAX || name[0] == '.') {
                (void) snprintf(reason, reason_size, "is empty, longer than %u characters or starts with '.'",
                                APT_NAME_MAX);
                return -EINVAL;
        }
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) name[i]) && !strchr("_.:-", name[i])) {
                        (void) snprintf(reason, reason_size, "contains '%c', but a source name names files and may "
                                        "contain only letters, digits, '_', '.', ':' and '-'",
                                        isprint((unsigned char) name[i]) ? name[i] : '?');
                        return -EINVAL;
                }
        return 0;
}

/* Check the lines of a source after substitution: each is "deb ...", "deb-src ..." or a comment. */
static int source_lines_check(const char *lines, char *reason, size_t reason_size) {
        for (const char *line = lines; *line;) {
                const char *next = strchr(line, '\n');
                size_t n = next ? (size_t) (next - line) : strlen(line);

                if (memchr(line, '\r', n)) {
                        (void) snprintf(reason, reason_size, "contains a carriage return");
                        return -EINVAL;
                }
                if (n > 0 && line[0] != '#' && !strneq(line, "deb ", 4) && !strneq(line, "deb-src ", 8)) {
                        (void) snprintf(reason, reason_size, "has the line '%.*s', which is not a one-line apt source "
                                        "starting with 'deb ' or 'deb-src '", (int) MIN(n, (size_t) APT_SHOWN_VALUE_MAX), line);
                        return -EINVAL;
                }
                line = next ? next + 1 : line + n;
        }
        return 0;
}

/* Add "[signed-by=KEY] " after "deb" or "deb-src" on every source line without options, so that
 * apt trusts the key for this source only. Returns a new string or NULL. */
static char *source_add_signed_by(const char *lines, const char *key_path) {
        _cleanup_free_ char *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;

        f = open_memstream(&out, &size);
        if (!f)
                return NULL;
        for (const char *line = lines; *line;) {
                const char *next = strchr(line, '\n');
                size_t n = next ? (size_t) (next - line) + 1 : strlen(line);
                size_t type = strneq(line, "deb ", 4) ? 3 : strneq(line, "deb-src ", 8) ? 7 : 0;

                if (type > 0 && line[type + 1] != '[')
                        fprintf(f, "%.*s [signed-by=%s]%.*s", (int) type, line, key_path, (int) (n - type), line + type);
                else
                        fwrite(line, 1, n, f);
                line += n;
        }
        if (ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return NULL;
        return TAKE_PTR(out);
}

/* Write data to path unless it already contains exactly data. Returns 1 when written, 0 when it was
 * already there, -errno on failure. */
static int file_update(int root_fd, const char *path, const char *data, size_t max) {
        _cleanup_free_ char *current = NULL;
        size_t current_size = 0;
        int r;

        r = read_file_at(root_fd, path, max, &current, &current_size);
        if (r >= 0 && current_size == strlen(data) && memcmp(current, data, current_size) == 0)
                return 0;
        if (r < 0 && r != -ENOENT && r != -EFBIG)
                return r;

        r = write_file_atomic(root_fd, path, data, strlen(data), 0644, (uid_t) -1, (gid_t) -1,
                              WRITE_MKDIR_PARENTS | WRITE_SYNC);
        return r < 0 ? r : 1;
}

/* Add lines to the sources file at path: appended when append is set and the file does not yet
 * contain them, otherwise the file becomes the lines. Returns 1 when written, 0, or -errno. */
static int sources_file_update(int root_fd, const char *path, const char *lines, bool append) {
        _cleanup_free_ char *current = NULL, *data = NULL;
        size_t size = 0;
        int r;

        if (!append)
                return file_update(root_fd, path, lines, APT_SOURCES_FILE_MAX);

        r = read_file_at(root_fd, path, APT_SOURCES_FILE_MAX, &current, &size);
        if (r == -ENOENT)
                return file_update(root_fd, path, lines, APT_SOURCES_FILE_MAX);
        if (r < 0)
                return r;
        if (strstr(current, lines))
                return 0;
        if (asprintf(&data, "%s%s%s", current, size > 0 && current[size - 1] != '\n' ? "\n" : "", lines) < 0)
                return -ENOMEM;
        return file_update(root_fd, path, data, APT_SOURCES_FILE_MAX);
}

/* A boolean field of a source entry, or def when missing. */
static bool field_bool(const json_t *entry, const char *name, bool def) {
        const json_t *v = json_object_get(entry, name);

        return json_is_boolean(v) ? json_is_true(v) : def;
}

/* Configure one entry of apt.sources. Returns 1 when a file changed, 0, or <0 after reporting. */
static int source_apply(Context *ctx, size_t index, const char *name, const json_t *entry, AptVars *vars) {
        _cleanup_free_ char *key_path = NULL, *key_data = NULL, *lines = NULL, *signed_lines = NULL,
                            *path = NULL, *file = NULL;
        char reason[APT_REASON_MAX] = "";
        const json_t *key = json_object_get(entry, "key"), *source = json_object_get(entry, "source"),
                     *filename = json_object_get(entry, "filename");
        int changed = 0, r;

        r = source_name_check(name, reason, sizeof(reason));
        if (r < 0)
                return report_error(ctx, (int) index, 0, "apt.sources: the name '%s' %s, so the source is not added.",
                                    name, reason);
        if (!json_is_object(entry))
                return report_error(ctx, (int) index, 0, "apt.sources.%s is not a mapping with source and key.", name);

        if (json_object_get(entry, "keyid") && !key)
                report_warning(ctx, (int) index, "apt.sources.%s.keyid: fetching keys from a keyserver is not "
                               "supported, so apt may reject the source's signature. Give the key itself in "
                               "apt.sources.%s.key, ignoring.", name, name);

        if (key) {
                if (!json_is_string(key))
                        return report_error(ctx, (int) index, 0, "apt.sources.%s.key is not a string.", name);
                r = pgp_armor_check(json_string_value(key), json_string_length(key), reason, sizeof(reason));
                if (r == -ENOMEM)
                        return report_error(ctx, (int) index, r, "Failed to check apt.sources.%s.key: %m", name);
                if (r < 0)
                        return report_error(ctx, (int) index, 0, "apt.sources.%s.key %s, so the source is not added.",
                                            name, reason);
                /* apt reads armored keys in signed-by from files ending in .asc, so no gpg is needed. */
                if (asprintf(&key_path, APT_KEYRINGS_DIR "/kiln-%s.asc", name) < 0 ||
                    asprintf(&key_data, "%s%s", json_string_value(key),
                             json_string_value(key)[json_string_length(key) - 1] == '\n' ? "" : "\n") < 0)
                        return report_error(ctx, (int) index, -ENOMEM, "Failed to add apt source '%s': %m", name);
                r = file_update(ctx->root_fd, key_path, key_data, APT_TEXT_MAX + 2);
                if (r < 0)
                        return report_error(ctx, (int) index, r, "Failed to write '%s': %m", key_path);
                if (r > 0) {
                        log_info("Wrote %s.", key_path);
                        changed = 1;
                }
        }

        if (!source)
                return changed;
        if (!json_is_string(source) || strlen(json_string_value(source)) != json_string_length(source))
                return report_error(ctx, (int) index, 0, "apt.sources.%s.source is not a string.", name);
        if (strneq(json_string_value(source), "ppa:", 4))
                return report_error(ctx, (int) index, 0, "apt.sources.%s.source: PPA sources ('%s') are not "
                                    "supported. Write the deb line of the PPA and its key instead.", name,
                                    json_string_value(source));

        vars->key_file = key_path;
        lines = vars_substitute(json_string_value(source), vars);
        vars->key_file = NULL;
        if (!lines)
                return report_error(ctx, (int) index, -ENOMEM, "Failed to add apt source '%s': %m", name);
        r = source_lines_check(lines, reason, sizeof(reason));
        if (r < 0)
                return report_error(ctx, (int) index, 0, "apt.sources.%s.source %s, so it is not added.", name, reason);
        if (key_path && !strstr(json_string_value(source), "KEY_FILE")) {
                signed_lines = source_add_signed_by(lines, key_path);
                if (!signed_lines)
                        return report_error(ctx, (int) index, -ENOMEM, "Failed to add apt source '%s': %m", name);
                free(lines);
                lines = TAKE_PTR(signed_lines);
        }
        if (lines[0] && lines[strlen(lines) - 1] != '\n') {
                char *with_newline = NULL;

                if (asprintf(&with_newline, "%s\n", lines) < 0)
                        return report_error(ctx, (int) index, -ENOMEM, "Failed to add apt source '%s': %m", name);
                free(lines);
                lines = with_newline;
        }

        /* cloud-init names the file after the source, adding ".list" when the name lacks it. */
        file = strdup(json_is_string(filename) ? json_string_value(filename) : name);
        if (!file)
                return report_error(ctx, (int) index, -ENOMEM, "Failed to add apt source '%s': %m", name);
        r = source_name_check(file, reason, sizeof(reason));
        if (r < 0)
                return report_error(ctx, (int) index, 0, "apt.sources.%s.filename '%s' %s.", name, file, reason);
        if (asprintf(&path, APT_SOURCES_DIR "/%s%s", file,
                     strlen(file) > 5 && streq(file + strlen(file) - 5, ".list") ? "" : ".list") < 0)
                return report_error(ctx, (int) index, -ENOMEM, "Failed to add apt source '%s': %m", name);

        r = sources_file_update(ctx->root_fd, path, lines, field_bool(entry, "append", true));
        if (r < 0)
                return report_error(ctx, (int) index, r, "Failed to write '%s': %m", path);
        if (r > 0) {
                log_info("Wrote %s.", path);
                changed = 1;
        }
        return changed;
}

/* Write text as the apt.conf snippet at path, or remove the file when text is NULL. Returns 1
 * when the file changed, 0, or <0 after reporting. */
static int conf_write(Context *ctx, const char *key, const char *path, const char *text) {
        _cleanup_free_ char *data = NULL;
        int r;

        if (!text) {
                r = root_exists(ctx->root_fd, path);
                if (r <= 0)
                        return 0;
                r = root_unlink(ctx->root_fd, path);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to remove '%s': %m", path);
                log_info("Removed %s.", path);
                return 1;
        }

        if (asprintf(&data, "%s%s", text, text[0] && text[strlen(text) - 1] != '\n' ? "\n" : "") < 0)
                return report_error(ctx, -1, -ENOMEM, "Failed to write '%s': %m", path);
        r = file_update(ctx->root_fd, path, data, APT_TEXT_MAX + 2);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write '%s' for %s: %m", path, key);
        if (r > 0)
                log_info("Wrote %s.", path);
        return r;
}

/* Whether a value can go into an apt.conf string: no quote, newline or NUL. */
static bool conf_value_valid(const json_t *v) {
        const char *s = json_string_value(v);

        return s && strlen(s) == json_string_length(v) && !strpbrk(s, "\"\n\r");
}

/* Write the proxy settings: proxy and http_proxy set Acquire::http::Proxy, https_proxy and
 * ftp_proxy their own protocols, as cloud-init writes them. Returns 1, 0 or <0 after reporting. */
static int proxy_apply(Context *ctx, const json_t *apt) {
        static const struct {
                const char *key;
                const char *protocol;
        } table[] = {
                { "proxy", "http" },
                { "http_proxy", "http" },
                { "ftp_proxy", "ftp" },
                { "https_proxy", "https" },
        };
        _cleanup_free_ char *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;
        bool any = false;

        f = open_memstream(&text, &size);
        if (!f)
                return report_error(ctx, -1, -ENOMEM, "Failed to write '%s': %m", APT_PROXY_FILE);
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const json_t *v = json_object_get(apt, table[i].key);

                if (!v || json_is_null(v))
                        continue;
                if (!conf_value_valid(v))
                        return report_error(ctx, -1, 0, "apt.%s is not a URL string without quotes or newlines, so "
                                            "no proxy is set.", table[i].key);
                fprintf(f, "Acquire::%s::Proxy \"%s\";\n", table[i].protocol, json_string_value(v));
                any = true;
        }
        if (ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return report_error(ctx, -1, -ENOMEM, "Failed to write '%s': %m", APT_PROXY_FILE);
        return conf_write(ctx, "apt.proxy", APT_PROXY_FILE, any ? text : NULL);
}

/* Pass the debconf selections (a mapping of names to selection lines) to debconf-set-selections
 * in the root, in one go on its stdin. Returns 1 when it ran, 0 when there are none, <0 after
 * reporting. */
static int debconf_apply(Context *ctx, const json_t *selections) {
        _cleanup_free_ char *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_close_ int fd = -EBADF, output_fd = -EBADF;
        size_t size = 0;
        const char *name;
        const json_t *v;
        int r;

        if (!selections || json_is_null(selections) || json_object_size(selections) == 0)
                return 0;
        if (!json_is_object(selections))
                return report_error(ctx, -1, 0, "apt.debconf_selections is not a mapping of names to selections.");

        f = open_memstream(&text, &size);
        if (!f)
                return report_error(ctx, -1, -ENOMEM, "Failed to prepare the debconf selections: %m");
        json_object_foreach((json_t *) selections, name, v) {
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                        return report_error(ctx, -1, 0, "apt.debconf_selections.%s is not a string.", name);
                fprintf(f, "%s\n", json_string_value(v));
        }
        if (ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return report_error(ctx, -1, -ENOMEM, "Failed to prepare the debconf selections: %m");

        fd = memfd_create("kiln-debconf", MFD_CLOEXEC);
        if (fd < 0 || write(fd, text, size) != (ssize_t) size || lseek(fd, 0, SEEK_SET) < 0)
                return report_error(ctx, -1, negative_errno(), "Failed to prepare the debconf selections: %m");

        output_fd = command_output_open(ctx, "apt_configure");
        r = command_run_with_stdin(ctx, "debconf-set-selections", -1,
                                   (char *[]) { "debconf-set-selections", "-", NULL }, fd, output_fd);
        return r < 0 ? r : 1;
}

/* Keys of apt that kiln reads but does not apply yet, each warned about. */
static const char *const apt_unsupported_keys[] = { "disable_suites", "add_apt_repo_match", NULL };

static int apt_configure_run(Context *ctx, const json_t *config) {
        const json_t *apt = json_object_get(config, "apt"), *sources, *entry, *v;
        AptVars vars = {};
        int changed = 0, failed = 0, r;
        const char *name;
        size_t index = 0;

        if (!apt || json_is_null(apt)) {
                log_debug("apt is empty, nothing to configure.");
                return 0;
        }
        if (!json_is_object(apt)) {
                _cleanup_free_ char *shown = json_to_message(apt, APT_SHOWN_VALUE_MAX);

                return report_error(ctx, -1, 0, "apt is %s, not a mapping.", shown ?: "another value");
        }

        for (const char *const *k = apt_unsupported_keys; *k; k++)
                if (json_object_get(apt, *k))
                        report_warning(ctx, -1, "apt.%s is not supported by kiln yet, ignoring.", *k);
        v = json_object_get(apt, "preserve_sources_list");
        if (json_object_get(apt, "sources_list") && !json_is_true(v))
                report_warning(ctx, -1, "apt.sources_list: kiln does not rewrite the image's main sources list "
                               "yet, ignoring.");

        vars.release = release_codename_read(ctx->root_fd);
        if (!vars.release)
                return report_error(ctx, -1, -ENOMEM, "Failed to read the release codename: %m");
        vars.primary = mirror_pick(json_object_get(apt, "primary"), DEBIAN_PRIMARY_DEFAULT);
        vars.security = mirror_pick(json_object_get(apt, "security"), DEBIAN_SECURITY_DEFAULT);
        vars.mirror = vars.primary;

        r = proxy_apply(ctx, apt);
        if (r < 0)
                failed = r;
        if (r > 0)
                changed = 1;

        v = json_object_get(apt, "conf");
        if (v && !json_is_null(v)) {
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                        r = report_error(ctx, -1, 0, "apt.conf is not a string of apt.conf text.");
                else
                        r = conf_write(ctx, "apt.conf", APT_CONF_FILE, json_string_value(v));
                if (r < 0 && failed == 0)
                        failed = r;
                if (r > 0)
                        changed = 1;
        }

        sources = json_object_get(apt, "sources");
        if (sources && !json_is_null(sources) && !json_is_object(sources)) {
                r = report_error(ctx, -1, 0, "apt.sources is not a mapping of names to sources.");
                if (failed == 0)
                        failed = r;
        }
        json_object_foreach((json_t *) sources, name, entry) {
                r = source_apply(ctx, index++, name, entry, &vars);
                if (r < 0 && failed == 0)
                        failed = r;
                if (r > 0)
                        changed = 1;
        }

        r = debconf_apply(ctx, json_object_get(apt, "debconf_selections"));
        if (r < 0 && failed == 0)
                failed = r;
        if (r > 0)
                changed = 1;

        free(vars.release);
        return failed < 0 ? failed : changed;
}

static const char *const apt_configure_config_keys[] = { "apt", NULL };

static const KeyShape string_list_item = { .types = SHAPE_STRING };

static const KeyField mirror_fields[] = {
        { .name = "arches", .shape = { .types = SHAPE_LIST, .items = &string_list_item }, .required = true,
          .description = "Debian architectures this mirror serves, or 'default' for any." },
        { .name = "uri", .shape = { .types = SHAPE_STRING }, .description = "URL of the mirror." },
        { .name = "search", .shape = { .types = SHAPE_LIST, .items = &string_list_item },
          .description = "Mirror URLs; kiln takes the first without checking that it answers." },
        { .name = "search_dns", .shape = { .types = SHAPE_BOOLEAN },
          .description = "Look for mirrors by DNS name. kiln does not, and ignores this key." },
        { .name = "keyid", .shape = { .types = SHAPE_STRING }, .description = "Not used by kiln." },
        { .name = "key", .shape = { .types = SHAPE_STRING }, .description = "Not used by kiln." },
        { .name = "keyserver", .shape = { .types = SHAPE_STRING }, .description = "Not used by kiln." },
        {}
};

static const KeyShape mirror_item = { .types = SHAPE_MAPPING, .fields = mirror_fields };

/* The rules of pgp_armor_check() for a source's key. */
static int key_check(const json_t *v, const char *source_text, char *message, size_t size) {
        char reason[APT_REASON_MAX] = "";
        int r;

        if (!json_is_string(v))
                return 0;
        r = pgp_armor_check(json_string_value(v), json_string_length(v), reason, sizeof(reason));
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                (void) snprintf(message, size, "%s.", reason);
                return -EINVAL;
        }
        return 0;
}

static const KeyField source_fields[] = {
        { .name = "source", .shape = { .types = SHAPE_STRING },
          .description = "One-line apt source entries ('deb URI SUITE COMPONENT...'), with $MIRROR, $PRIMARY, "
                         "$SECURITY, $RELEASE and $KEY_FILE replaced. A line without options gets "
                         "[signed-by=...] for the source's key." },
        { .name = "key", .shape = { .types = SHAPE_STRING, .check = key_check },
          .description = "Armored OpenPGP public key that signs the source, written to "
                         "/etc/apt/keyrings/kiln-NAME.asc." },
        { .name = "keyid", .shape = { .types = SHAPE_STRING },
          .description = "Key id to fetch from a keyserver. kiln does not fetch keys and warns." },
        { .name = "keyserver", .shape = { .types = SHAPE_STRING }, .description = "Keyserver for keyid." },
        { .name = "filename", .shape = { .types = SHAPE_STRING },
          .description = "File in /etc/apt/sources.list.d; '.list' is added when missing. Default: the name." },
        { .name = "append", .shape = { .types = SHAPE_BOOLEAN },
          .description = "Add to the file instead of replacing it. Default: true." },
        {}
};

static const KeyShape source_shape = { .types = SHAPE_MAPPING, .fields = source_fields };

static const KeyShape selection_shape = { .types = SHAPE_STRING };

static const KeyField apt_inner_fields[] = {
        { .name = "preserve_sources_list", .shape = { .types = SHAPE_BOOLEAN },
          .description = "Keep the image's main sources list. kiln never rewrites it yet." },
        { .name = "disable_suites", .shape = { .types = SHAPE_LIST, .items = &string_list_item },
          .description = "Suites to comment out of the main sources list. Not supported by kiln yet." },
        { .name = "primary", .shape = { .types = SHAPE_LIST, .items = &mirror_item },
          .description = "Primary mirrors by architecture; the chosen one is $PRIMARY and $MIRROR. "
                         "Default: http://deb.debian.org/debian." },
        { .name = "security", .shape = { .types = SHAPE_LIST, .items = &mirror_item },
          .description = "Security mirrors by architecture; the chosen one is $SECURITY." },
        { .name = "add_apt_repo_match", .shape = { .types = SHAPE_STRING },
          .description = "Pattern of sources for add-apt-repository. Not supported by kiln yet." },
        { .name = "debconf_selections", .shape = { .types = SHAPE_MAPPING, .other_fields = &selection_shape },
          .description = "debconf selection lines by name, passed to debconf-set-selections in the image." },
        { .name = "sources_list", .shape = { .types = SHAPE_STRING },
          .description = "Template of the main sources list. kiln does not rewrite that list yet and warns." },
        { .name = "conf", .shape = { .types = SHAPE_STRING },
          .description = "apt.conf text, written to /etc/apt/apt.conf.d/94kiln-config." },
        { .name = "proxy", .shape = { .types = SHAPE_STRING },
          .description = "HTTP proxy for apt, written to /etc/apt/apt.conf.d/90kiln-aptproxy." },
        { .name = "http_proxy", .shape = { .types = SHAPE_STRING }, .description = "HTTP proxy for apt." },
        { .name = "ftp_proxy", .shape = { .types = SHAPE_STRING }, .description = "FTP proxy for apt." },
        { .name = "https_proxy", .shape = { .types = SHAPE_STRING }, .description = "HTTPS proxy for apt." },
        { .name = "sources", .shape = { .types = SHAPE_MAPPING, .other_fields = &source_shape },
          .description = "Extra apt sources by name, each with its source lines and key." },
        {}
};

static const KeyField apt_fields[] = {
        { .name = "apt", .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = apt_inner_fields },
          .description = "apt sources, keys, proxies and settings, written before packages are installed. "
                         "Applied once per instance." },
        {}
};

const AgentModule module_apt_configure = {
        .name = "apt_configure",
        .config_keys = apt_configure_config_keys,
        .config_fields = apt_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .bakeable = true,
        .run = apt_configure_run,
};
