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

#include "apt-internal.h"
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
#define APT_SOURCES_LIST "/etc/apt/sources.list"

/* cloud-init's mirrors for Debian when primary and security name none. */
#define DEBIAN_PRIMARY_DEFAULT "http://deb.debian.org/debian"
#define DEBIAN_SECURITY_DEFAULT "http://deb.debian.org/debian-security"

/* The keyserver of a keyid without one, as in cloud-init. */
#define APT_DEFAULT_KEYSERVER "keyserver.ubuntu.com"

/* Read the field key ("VERSION_CODENAME") from the root's /etc/os-release, unquoted. Returns a new
 * string, "" when the file or the field is missing, or NULL when out of memory. */
static char *os_release_field(int root_fd, const char *key) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0, key_length = strlen(key);

        if (read_file_at(root_fd, "/etc/os-release", APT_OS_RELEASE_MAX, &data, &size) < 0)
                return strdup("");

        for (char *line = data; line && *line;) {
                char *next = strchr(line, '\n'), *value;
                size_t n;

                if (next)
                        *next++ = '\0';
                if (strneq(line, key, key_length) && line[key_length] == '=') {
                        value = line + key_length + 1;
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

/* Pick the entry of a primary or security list as cloud-init does: the first entry whose arches
 * contain the image's architecture, else the first whose arches contain "default".
 * NOTE: cloud-init tries each search URI and search_dns name until one responds. kiln takes the
 * first search URI without checking it and does not look names up. */
static const json_t *mirror_entry_pick(const json_t *list, const char *arch) {
        for (int pass = 0; pass < 2; pass++) {
                const json_t *entry;
                size_t i;

                json_array_foreach(list, i, entry) {
                        const json_t *arches = json_object_get(entry, "arches"), *a;
                        size_t j;

                        json_array_foreach(arches, j, a)
                                if (json_is_string(a) && streq(json_string_value(a), pass == 0 ? arch : "default"))
                                        return entry;
                }
        }
        return NULL;
}

/* The mirror URI of a picked entry: its uri, else the first of its search list, else fallback. */
static const char *mirror_uri(const json_t *entry, const char *fallback) {
        if (json_is_string(json_object_get(entry, "uri")))
                return json_string_value(json_object_get(entry, "uri"));
        if (json_is_string(json_array_get(json_object_get(entry, "search"), 0)))
                return json_string_value(json_array_get(json_object_get(entry, "search"), 0));
        return fallback;
}
/* Whether a mirror URL can go into a sources line: not empty, no blank or control character. */
static bool mirror_uri_valid(const char *uri) {
        if (!uri[0])
                return false;
        for (const char *p = uri; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f)
                        return false;
        return true;
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

/* Returns whether the options between '[' and ']' (apt's "[name=value ...]") set signed-by. */
static bool source_options_have_signed_by(const char *options, size_t n) {
        for (size_t i = 0; i < n;) {
                size_t start;

                while (i < n && isspace((unsigned char) options[i]))
                        i++;
                start = i;
                while (i < n && !isspace((unsigned char) options[i]))
                        i++;
                /* apt accepts signed-by=, signed-by+= and signed-by-= */
                if (i - start > strlen("signed-by") && strneq(options + start, "signed-by", strlen("signed-by")) &&
                    strchr("=+-", options[start + strlen("signed-by")]))
                        return true;
        }
        return false;
}

/* Give every "deb" or "deb-src" line signed-by=KEY, so that apt trusts the key for this source
 * only: a line without options gets "[signed-by=KEY]", and a line with options gets it added
 * inside its brackets. A line whose options already set signed-by is kept as written, and
 * *ret_kept is set then. Returns a new string or NULL. */
static char *source_add_signed_by(const char *lines, const char *key_path, bool *ret_kept) {
        _cleanup_free_ char *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;

        *ret_kept = false;
        f = open_memstream(&out, &size);
        if (!f)
                return NULL;
        for (const char *line = lines; *line;) {
                const char *next = strchr(line, '\n');
                size_t n = next ? (size_t) (next - line) + 1 : strlen(line);
                size_t type = strneq(line, "deb ", 4) ? 3 : strneq(line, "deb-src ", 8) ? 7 : 0;
                size_t open = type, close;

                while (open < n && (line[open] == ' ' || line[open] == '\t'))
                        open++;
                close = open;
                if (type > 0 && open < n && line[open] == '[')
                        while (close < n && line[close] != ']' && line[close] != '\n')
                                close++;

                if (type == 0)
                        fwrite(line, 1, n, f);
                else if (open >= n || line[open] != '[')
                        fprintf(f, "%.*s [signed-by=%s]%.*s", (int) type, line, key_path, (int) (n - type), line + type);
                else if (close >= n || line[close] != ']')
                        /* apt_sources_lines_check accepted the line, so this is not reached; keep it unchanged. */
                        fwrite(line, 1, n, f);
                else if (source_options_have_signed_by(line + open + 1, close - open - 1)) {
                        *ret_kept = true;
                        fwrite(line, 1, n, f);
                } else
                        fprintf(f, "%.*s signed-by=%s%.*s", (int) close, line, key_path, (int) (n - close), line + close);
                line += n;
        }
        if (ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return NULL;
        return TAKE_PTR(out);
}

/* Write data to path unless it already contains exactly data. Returns 1 when written, 0 when it was
 * already there, -errno on failure. */
static int file_update(int root_fd, const char *path, const char *data) {
        return write_file_if_changed(root_fd, path, data, strlen(data), 0644,
                                     WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
}

/* Add lines to the sources file at path: appended when append is set and the file does not yet
 * contain them, otherwise the file becomes the lines. Returns 1 when written, 0, or -errno. */
static int sources_file_update(int root_fd, const char *path, const char *lines, bool append) {
        _cleanup_free_ char *current = NULL, *data = NULL;
        size_t size = 0;
        int r;

        if (!append)
                return file_update(root_fd, path, lines);

        r = read_file_at(root_fd, path, APT_SOURCES_FILE_MAX, &current, &size);
        if (r == -ENOENT)
                return file_update(root_fd, path, lines);
        if (r < 0)
                return r;
        if (strstr(current, lines))
                return 0;
        if (asprintf(&data, "%s%s%s", current, size > 0 && current[size - 1] != '\n' ? "\n" : "", lines) < 0)
                return -ENOMEM;
        return file_update(root_fd, path, data);
}

/* A boolean field of a source entry, or def when missing. */
static bool field_bool(const json_t *entry, const char *name, bool def) {
        const json_t *v = json_object_get(entry, name);

        return json_is_boolean(v) ? json_is_true(v) : def;
}

/* Get the armored key of entry (a source, or a primary or security mirror) named what in
 * messages ("apt.sources.NAME"): its key, or when it has none its keyid, fetched from its
 * keyserver (default keyserver.ubuntu.com, as cloud-init). *ret_key is borrowed from entry or owned
 * by *ret_fetched, NULL when the entry names no key. Returns 0 or <0 after reporting. */
static int key_get(Context *ctx, int index, const char *what, const json_t *entry, const char **ret_key,
                   char **ret_fetched) {
        const json_t *key = json_object_get(entry, "key"), *keyid = json_object_get(entry, "keyid"),
                     *keyserver = json_object_get(entry, "keyserver");
        _cleanup_free_ char *id = NULL, *fetched = NULL, *message = NULL;
        _cleanup_free_ unsigned char *packets = NULL;
        char reason[APT_REASON_MAX] = "";
        const char *server = APT_DEFAULT_KEYSERVER;
        size_t size = 0;
        int r;

        *ret_key = NULL;
        *ret_fetched = NULL;
        if (key) {
                if (!json_is_string(key))
                        return report_error(ctx, index, 0, "%s.key is not a string.", what);
                r = pgp_armor_decode(json_string_value(key), json_string_length(key), &packets, &size, reason,
                                     sizeof(reason));
                if (r == -ENOMEM)
                        return report_error(ctx, index, r, "Failed to check %s.key: %m", what);
                if (r < 0)
                        return report_error(ctx, index, 0, "%s.key %s, so it is not used.", what, reason);
                *ret_key = json_string_value(key);
                return 0;
        }
        if (!keyid)
                return 0;

        if (!json_is_string(keyid))
                return report_error(ctx, index, 0, "%s.keyid is not a string.", what);
        r = apt_keyid_normalize(json_string_value(keyid), &id, reason, sizeof(reason));
        if (r == -ENOMEM)
                return report_error(ctx, index, r, "Failed to read %s.keyid: %m", what);
        if (r < 0)
                return report_error(ctx, index, 0, "%s.keyid '%s' %s.", what, json_string_value(keyid), reason);
        if (keyserver && !json_is_null(keyserver)) {
                if (!json_is_string(keyserver))
                        return report_error(ctx, index, 0, "%s.keyserver is not a string.", what);
                server = json_string_value(keyserver);
        }

        r = apt_key_fetch(server, id, &fetched, &message);
        if (r == -ENOENT)
                return report_error(ctx, index, r, "Failed to fetch key '%s' of %s from keyserver '%s': the "
                                    "keyserver has no such key.", id, what, server);
        if (r == -EINVAL)
                return report_error(ctx, index, r, "%s.keyserver '%s' is not a keyserver address such as "
                                    "'keyserver.ubuntu.com', 'hkp://HOST:PORT' or 'hkps://HOST'.", what, server);
        if (r < 0 && message)
                return report_error(ctx, index, r, "Failed to fetch key '%s' of %s from keyserver '%s': %s",
                                    id, what, server, message);
        if (r < 0)
                return report_error(ctx, index, r, "Failed to fetch key '%s' of %s from keyserver '%s': %m",
                                    id, what, server);
        log_info("Fetched key %s of %s from %s.", id, what, server);
        *ret_key = *ret_fetched = TAKE_PTR(fetched);
        return 0;
}

/* Write the key of entry (see key_get()) to /etc/apt/keyrings/kiln-STEM.asc, because apt reads
 * armored keys in Signed-By from files ending in .asc, so the image needs no gpg. *ret_path is
 * the key file (caller owns it), NULL when the entry names no key. Returns 1 when the file changed,
 * 0, or <0 after reporting. */
static int key_install(Context *ctx, int index, const char *what, const char *stem, const json_t *entry,
                       char **ret_path) {
        _cleanup_free_ char *fetched = NULL, *path = NULL, *data = NULL;
        const char *key = NULL;
        size_t n;
        int r;

        *ret_path = NULL;
        r = key_get(ctx, index, what, entry, &key, &fetched);
        if (r < 0 || !key)
                return r;

        n = strlen(key);
        if (asprintf(&path, APT_KEYRINGS_DIR "/kiln-%s.asc", stem) < 0 ||
            asprintf(&data, "%s%s", key, n > 0 && key[n - 1] == '\n' ? "" : "\n") < 0)
                return report_error(ctx, index, -ENOMEM, "Failed to write the key of %s: %m", what);
        r = file_update(ctx->root_fd, path, data);
        if (r < 0)
                return report_error(ctx, index, r, "Failed to write '%s': %m", path);
        if (r > 0)
                log_info("Wrote %s.", path);
        *ret_path = TAKE_PTR(path);
        return r;
}

/* Configure one entry of apt.sources. Returns 1 when a file changed, 0, or <0 after reporting. */
static int source_apply(Context *ctx, size_t index, const char *name, const json_t *entry, AptVars *vars) {
        _cleanup_free_ char *key_path = NULL, *lines = NULL, *signed_lines = NULL, *path = NULL, *file = NULL,
                            *what = NULL;
        char reason[APT_REASON_MAX] = "";
        const json_t *source = json_object_get(entry, "source"), *filename = json_object_get(entry, "filename");
        int changed = 0, r;

        r = source_name_check(name, reason, sizeof(reason));
        if (r < 0)
                return report_error(ctx, (int) index, 0, "apt.sources: the name '%s' %s, so the source is not added.",
                                    name, reason);
        if (!json_is_object(entry))
                return report_error(ctx, (int) index, 0, "apt.sources.%s is not a mapping with source and key.", name);
        if (asprintf(&what, "apt.sources.%s", name) < 0)
                return report_error(ctx, (int) index, -ENOMEM, "Failed to add apt source '%s': %m", name);

        r = key_install(ctx, (int) index, what, name, entry, &key_path);
        if (r < 0)
                return r;
        changed = r > 0;

        if (!source)
                return changed;
        if (!json_is_string(source) || strlen(json_string_value(source)) != json_string_length(source))
                return report_error(ctx, (int) index, 0, "apt.sources.%s.source is not a string.", name);
        if (strneq(json_string_value(source), "ppa:", 4))
                return report_error(ctx, (int) index, 0, "apt.sources.%s.source: PPA sources ('%s') are not "
                                    "supported. Write the deb line of the PPA and its key instead.", name,
                                    json_string_value(source));

        vars->key_file = key_path;
        lines = apt_vars_substitute(json_string_value(source), vars, /* lower_case= */ false);
        vars->key_file = NULL;
        if (!lines)
                return report_error(ctx, (int) index, -ENOMEM, "Failed to add apt source '%s': %m", name);
        r = apt_sources_lines_check(lines, reason, sizeof(reason));
        if (r < 0)
                return report_error(ctx, (int) index, 0, "apt.sources.%s.source %s, so it is not added.", name, reason);
        if (key_path && !strstr(json_string_value(source), "KEY_FILE")) {
                bool kept = false;

                signed_lines = source_add_signed_by(lines, key_path, &kept);
                if (!signed_lines)
                        return report_error(ctx, (int) index, -ENOMEM, "Failed to add apt source '%s': %m", name);
                if (kept)
                        report_warning(ctx, (int) index, "apt.sources.%s.source sets its own signed-by, so apt does "
                                       "not use the key written to '%s' for it, ignoring.", name, key_path);
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
        r = file_update(ctx->root_fd, path, data);
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

/* Check a sources_list template and tell its format: deb822 or one-line. Returns 0 with
 * *ret_deb822, or -EINVAL with the reason. */
static int sources_list_check(const char *text, bool *ret_deb822, char *reason, size_t reason_size) {
        if (strneq(text, "## template:jinja", strlen("## template:jinja"))) {
                (void) snprintf(reason, reason_size, "is a Jinja template, which kiln does not render. Use "
                                "$MIRROR, $PRIMARY, $SECURITY and $RELEASE instead");
                return -EINVAL;
        }
        *ret_deb822 = apt_sources_is_deb822(text);
        return *ret_deb822 ? apt_sources_deb822_check(text, reason, reason_size) :
                             apt_sources_lines_check(text, reason, reason_size);
}

/* Render the main sources list: the sources_list template, or the built-in list of the distro.
 * Returns 1 with *ret (caller owns) and *ret_deb822, 0 when there is nothing to write, or <0
 * after reporting. */
static int main_list_render(Context *ctx, const json_t *apt, const AptVars *vars, const char *distro,
                            char **ret, bool *ret_deb822) {
        const json_t *template = json_object_get(apt, "sources_list");
        char reason[APT_REASON_MAX] = "";
        int r;

        if (template && !json_is_null(template)) {
                if (!json_is_string(template) || strlen(json_string_value(template)) != json_string_length(template))
                        return report_error(ctx, -1, 0, "apt.sources_list is not a string.");
                r = sources_list_check(json_string_value(template), ret_deb822, reason, sizeof(reason));
                if (r < 0)
                        return report_error(ctx, -1, 0, "apt.sources_list %s, so the main sources list is not "
                                            "written.", reason);
                *ret = apt_vars_substitute(json_string_value(template), vars, /* lower_case= */ true);
                if (!*ret)
                        return report_error(ctx, -1, -ENOMEM, "Failed to render apt.sources_list: %m");
                return 1;
        }

        /* NOTE: only Debian has a built-in list; cloud-init also has one for Ubuntu. */
        if (!streq(distro, "debian")) {
                report_warning(ctx, -1, "apt.preserve_sources_list is false, but kiln has no built-in main sources "
                               "list for the distribution '%s'. Give one in apt.sources_list, skipping.", distro);
                return 0;
        }
        if (!vars->release || !vars->release[0])
                return report_error(ctx, -1, 0, "The image's /etc/os-release has no VERSION_CODENAME, so the main "
                                    "sources list is not written. Set apt.preserve_sources_list to true or give "
                                    "apt.sources_list.");
        *ret = apt_sources_debian_render(vars->primary, vars->security, vars->release, vars->primary_key,
                                         vars->security_key);
        if (!*ret)
                return report_error(ctx, -1, -ENOMEM, "Failed to render the main sources list: %m");
        *ret_deb822 = true;
        return 1;
}

/* Collect apt.disable_suites as a NULL-terminated list of borrowed strings (caller frees the
 * array only). Returns 0 or <0 after reporting. */
static int disable_suites_get(Context *ctx, const json_t *apt, const char ***ret) {
        const json_t *list = json_object_get(apt, "disable_suites"), *v;
        _cleanup_free_ const char **suites = NULL;
        size_t i;

        *ret = NULL;
        if (!list || json_is_null(list))
                return 0;
        if (!json_is_array(list))
                return report_error(ctx, -1, 0, "apt.disable_suites is not a list of suite names.");
        suites = calloc(json_array_size(list) + 1, sizeof(char *));
        if (!suites)
                return report_error(ctx, -1, -ENOMEM, "Failed to read apt.disable_suites: %m");
        json_array_foreach(list, i, v) {
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                        return report_error(ctx, (int) i, 0, "apt.disable_suites[%zu] is not a string.", i);
                suites[i] = json_string_value(v);
        }
        *ret = TAKE_PTR(suites);
        return 0;
}

/* Write the main sources list from a template, as cloud-init does when preserve_sources_list is
 * false: a deb822 list goes to /etc/apt/sources.list.d/DISTRO.sources and replaces
 * /etc/apt/sources.list, a one-line list goes to /etc/apt/sources.list. Returns 1 when a file
 * changed, 0, or <0 after reporting. */
static int main_list_apply(Context *ctx, const json_t *apt, const AptVars *vars, const char *distro) {
        _cleanup_free_ char *rendered = NULL, *text = NULL, *path = NULL;
        _cleanup_free_ const char **suites = NULL;
        bool deb822 = false;
        int changed = 0, r;

        r = disable_suites_get(ctx, apt, &suites);
        if (r < 0)
                return r;
        r = main_list_render(ctx, apt, vars, distro, &rendered, &deb822);
        if (r <= 0)
                return r;
        r = apt_disable_suites(rendered, suites, vars->release, &text);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to disable the suites of apt.disable_suites: %m");

        if (deb822 && asprintf(&path, APT_SOURCES_DIR "/%s.sources", distro) < 0)
                return report_error(ctx, -1, -ENOMEM, "Failed to write the main sources list: %m");
        r = file_update(ctx->root_fd, path ?: APT_SOURCES_LIST, text);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write '%s': %m", path ?: APT_SOURCES_LIST);
        if (r > 0) {
                log_info("Wrote %s.", path ?: APT_SOURCES_LIST);
                changed = 1;
        }

        /* apt reads both files, so the classic list would add its sources to the deb822 ones. */
        if (deb822 && root_exists(ctx->root_fd, APT_SOURCES_LIST) > 0) {
                r = root_unlink(ctx->root_fd, APT_SOURCES_LIST);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to remove '%s': %m", APT_SOURCES_LIST);
                log_info("Removed %s in favor of %s.", APT_SOURCES_LIST, path);
                changed = 1;
        }
        return changed;
}

/* Install the keys of the picked primary and security mirrors, which the main list names in
 * Signed-By ($primary_key, $security_key). *ret_primary and *ret_security are the key files
 * (caller owns them) or NULL. Returns 1 when a file changed, 0, or <0 after reporting. */
static int mirror_keys_install(Context *ctx, const json_t *primary, const json_t *security, char **ret_primary,
                               char **ret_security) {
        int changed = 0, r;

        r = key_install(ctx, -1, "apt.primary", "primary", primary, ret_primary);
        if (r < 0)
                return r;
        changed = r > 0;
        r = key_install(ctx, -1, "apt.security", "security", security, ret_security);
        if (r < 0)
                return r;
        return changed || r > 0;
}

/* Keys of apt that kiln reads but does not apply yet, each warned about. */
static const char *const apt_unsupported_keys[] = { "add_apt_repo_match", NULL };

/* Facts of the image that the apt key depends on. */
typedef struct AptImage {
        char *release;           /* VERSION_CODENAME of os-release, "" when missing */
        char *distro;            /* ID of os-release when it can name a file, else "debian" */
        char *arch;              /* Debian architecture, "" when unknown */
} AptImage;

static void apt_image_done(AptImage *image) {
        free(image->release);
        free(image->distro);
        free(image->arch);
}

static int apt_image_read(Context *ctx, AptImage *ret) {
        char reason[APT_REASON_MAX];
        int r;

        ret->release = os_release_field(ctx->root_fd, "VERSION_CODENAME");
        ret->distro = os_release_field(ctx->root_fd, "ID");
        if (!ret->release || !ret->distro)
                return report_error(ctx, -1, -ENOMEM, "Failed to read the image's /etc/os-release: %m");
        if (source_name_check(ret->distro, reason, sizeof(reason)) < 0) {
                free(ret->distro);
                ret->distro = strdup("debian");
                if (!ret->distro)
                        return report_error(ctx, -1, -ENOMEM, "Failed to read the image's /etc/os-release: %m");
        }
        r = apt_arch_read(ctx, &ret->arch);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read the image's architecture: %m");
        if (!ret->arch[0])
                log_debug("The image's architecture is unknown, so only 'default' mirrors match.");
        return 0;
}

/* Record r of one step into *changed and *failed, keeping the first failure. */
static void step_record(int r, int *changed, int *failed) {
        if (r < 0 && *failed == 0)
                *failed = r;
        if (r > 0)
                *changed = 1;
}

/* Apply apt.conf. Returns 1 when the file changed, 0, or <0 after reporting. */
static int conf_apply(Context *ctx, const json_t *apt) {
        const json_t *v = json_object_get(apt, "conf");

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                return report_error(ctx, -1, 0, "apt.conf is not a string of apt.conf text.");
        return conf_write(ctx, "apt.conf", APT_CONF_FILE, json_string_value(v));
}

/* Apply apt.sources in order. Returns 1 when a file changed, 0, or the first failure. */
static int sources_apply(Context *ctx, const json_t *apt, AptVars *vars) {
        const json_t *sources = json_object_get(apt, "sources"), *entry;
        int changed = 0, failed = 0;
        const char *name;
        size_t index = 0;

        if (sources && !json_is_null(sources) && !json_is_object(sources))
                return report_error(ctx, -1, 0, "apt.sources is not a mapping of names to sources.");
        json_object_foreach((json_t *) sources, name, entry)
                step_record(source_apply(ctx, index++, name, entry, vars), &changed, &failed);
        return failed < 0 ? failed : changed;
}

static int apt_configure_run(Context *ctx, const json_t *config) {
        const json_t *apt = json_object_get(config, "apt"), *primary, *security;
        _cleanup_(apt_image_done) AptImage image = {};
        _cleanup_free_ char *primary_key = NULL, *security_key = NULL;
        AptVars vars = {};
        int changed = 0, failed = 0, r;

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

        r = apt_image_read(ctx, &image);
        if (r < 0)
                return r;
        primary = mirror_entry_pick(json_object_get(apt, "primary"), image.arch);
        security = mirror_entry_pick(json_object_get(apt, "security"), image.arch);
        vars = (AptVars) {
                .release = image.release,
                .primary = mirror_uri(primary, DEBIAN_PRIMARY_DEFAULT),
                .security = mirror_uri(security, DEBIAN_SECURITY_DEFAULT),
        };
        vars.mirror = vars.primary;
        if (!mirror_uri_valid(vars.primary) || !mirror_uri_valid(vars.security))
                return report_error(ctx, -1, 0, "apt.primary or apt.security has a mirror URL that is empty or "
                                    "contains a blank or control character, so apt is not configured.");

        /* cloud-init regenerates the main list unless preserve_sources_list is true. */
        if (!json_is_true(json_object_get(apt, "preserve_sources_list"))) {
                r = mirror_keys_install(ctx, primary, security, &primary_key, &security_key);
                step_record(r, &changed, &failed);
                vars.primary_key = primary_key;
                vars.security_key = security_key;
                if (r >= 0)
                        step_record(main_list_apply(ctx, apt, &vars, image.distro), &changed, &failed);
        } else if (json_object_get(apt, "disable_suites") || json_object_get(apt, "sources_list"))
                report_warning(ctx, -1, "apt.disable_suites and apt.sources_list change only a main sources list "
                               "that kiln writes, but apt.preserve_sources_list is true, ignoring.");

        step_record(proxy_apply(ctx, apt), &changed, &failed);
        step_record(conf_apply(ctx, apt), &changed, &failed);
        step_record(sources_apply(ctx, apt, &vars), &changed, &failed);
        step_record(debconf_apply(ctx, json_object_get(apt, "debconf_selections")), &changed, &failed);
        return failed < 0 ? failed : changed;
}

static const char *const apt_configure_config_keys[] = { "apt", NULL };

static const KeyShape string_list_item = { .types = SHAPE_STRING };

/* The rule of mirror_uri_valid() for a mirror's uri and search URLs. */
static int mirror_uri_check(const json_t *v, const char *source_text, char *message, size_t size) {
        if (!json_is_string(v) || mirror_uri_valid(json_string_value(v)))
                return 0;
        (void) snprintf(message, size, "is not a mirror URL: it is empty or contains a blank or control character.");
        return -EINVAL;
}

/* The rules of apt_keyid_normalize() for a keyid. */
static int keyid_check(const json_t *v, const char *source_text, char *message, size_t size) {
        _cleanup_free_ char *id = NULL;
        char reason[APT_REASON_MAX] = "";
        int r;

        if (!json_is_string(v))
                return 0;
        r = apt_keyid_normalize(json_string_value(v), &id, reason, sizeof(reason));
        if (r == -EINVAL)
                (void) snprintf(message, size, "%s.", reason);
        return r;
}

/* The rules of hkp_lookup_url() for a keyserver. */
static int keyserver_check(const json_t *v, const char *source_text, char *message, size_t size) {
        _cleanup_free_ char *url = NULL;
        char reason[APT_REASON_MAX] = "";
        int r;

        if (!json_is_string(v))
                return 0;
        r = hkp_lookup_url(json_string_value(v), "00000000", &url, reason, sizeof(reason));
        if (r == -EINVAL)
                (void) snprintf(message, size, "%s.", reason);
        return r;
}

/* The rules of pgp_armor_decode() for a key. */
static int key_check(const json_t *v, const char *source_text, char *message, size_t size) {
        _cleanup_free_ unsigned char *packets = NULL;
        char reason[APT_REASON_MAX] = "";
        size_t packets_size = 0;
        int r;

        if (!json_is_string(v))
                return 0;
        r = pgp_armor_decode(json_string_value(v), json_string_length(v), &packets, &packets_size, reason,
                             sizeof(reason));
        if (r == -EINVAL)
                (void) snprintf(message, size, "%s.", reason);
        return r;
}

static const KeyShape mirror_uri_shape = { .types = SHAPE_STRING, .check = mirror_uri_check };

static const KeyField mirror_fields[] = {
        { .name = "arches", .shape = { .types = SHAPE_LIST, .items = &string_list_item }, .required = true,
          .description = KEY_DESCRIPTION("Debian architectures this mirror serves, or 'default' for any.") },
        { .name = "uri", .shape = { .types = SHAPE_STRING, .check = mirror_uri_check },
          .description = KEY_DESCRIPTION("URL of the mirror.") },
        { .name = "search", .shape = { .types = SHAPE_LIST, .items = &mirror_uri_shape },
          .description = KEY_DESCRIPTION("Mirror URLs; kiln takes the first without checking that it is "
                                         "reachable.") },
        { .name = "search_dns", .shape = { .types = SHAPE_BOOLEAN },
          .description = KEY_DESCRIPTION("Look for mirrors by DNS name. kiln does not, and ignores this "
                                         "key.") },
        { .name = "keyid", .shape = { .types = SHAPE_STRING, .check = keyid_check },
          .description = KEY_DESCRIPTION("Id of the mirror's key, fetched from keyserver when key is "
                                         "not given.") },
        { .name = "key", .shape = { .types = SHAPE_STRING, .check = key_check },
          .description = KEY_DESCRIPTION("Armored OpenPGP public key of the mirror, written to "
                                         "/etc/apt/keyrings/kiln-primary.asc or kiln-security.asc and "
                                         "named in the main list's Signed-By ($primary_key, "
                                         "$security_key).") },
        { .name = "keyserver", .shape = { .types = SHAPE_STRING, .check = keyserver_check },
          .description = KEY_DESCRIPTION("Keyserver for keyid. Default: keyserver.ubuntu.com.") },
        {}
};

static const KeyShape mirror_item = { .types = SHAPE_MAPPING, .fields = mirror_fields };

/* The rules of source_apply() for a source's lines before substitution. */
static int source_check(const json_t *v, const char *source_text, char *message, size_t size) {
        char reason[APT_REASON_MAX] = "";

        if (!json_is_string(v))
                return 0;
        if (strlen(json_string_value(v)) != json_string_length(v)) {
                (void) snprintf(message, size, "contains a NUL byte.");
                return -EINVAL;
        }
        if (strneq(json_string_value(v), "ppa:", 4)) {
                (void) snprintf(message, size, "is a PPA, which kiln does not support. Write the deb line of the "
                                "PPA and its key instead.");
                return -EINVAL;
        }
        if (apt_sources_lines_check(json_string_value(v), reason, sizeof(reason)) < 0) {
                (void) snprintf(message, size, "%s.", reason);
                return -EINVAL;
        }
        return 0;
}

/* The rules of source_name_check() for a filename. */
static int filename_check(const json_t *v, const char *source_text, char *message, size_t size) {
        char reason[APT_REASON_MAX] = "";

        if (!json_is_string(v) || source_name_check(json_string_value(v), reason, sizeof(reason)) >= 0)
                return 0;
        (void) snprintf(message, size, "%s.", reason);
        return -EINVAL;
}

/* The rules of source_name_check() for the names of apt.sources. */
static int sources_check(const json_t *v, const char *source_text, char *message, size_t size) {
        char reason[APT_REASON_MAX] = "";
        const char *name;
        const json_t *entry;

        if (!json_is_object(v))
                return 0;
        json_object_foreach((json_t *) v, name, entry)
                if (source_name_check(name, reason, sizeof(reason)) < 0) {
                        (void) snprintf(message, size, "has the name '%s', which %s.", name, reason);
                        return -EINVAL;
                }
        return 0;
}

/* The rules of sources_list_check() for the main list's template. */
static int sources_list_shape_check(const json_t *v, const char *source_text, char *message, size_t size) {
        char reason[APT_REASON_MAX] = "";
        bool deb822;

        if (!json_is_string(v))
                return 0;
        if (strlen(json_string_value(v)) != json_string_length(v)) {
                (void) snprintf(message, size, "contains a NUL byte.");
                return -EINVAL;
        }
        if (sources_list_check(json_string_value(v), &deb822, reason, sizeof(reason)) < 0) {
                (void) snprintf(message, size, "%s.", reason);
                return -EINVAL;
        }
        return 0;
}

/* The rule of proxy_apply() for a proxy URL. */
static int proxy_check(const json_t *v, const char *source_text, char *message, size_t size) {
        if (!json_is_string(v) || conf_value_valid(v))
                return 0;
        (void) snprintf(message, size, "contains a quote, a newline or a NUL byte, which cannot go into apt.conf.");
        return -EINVAL;
}

static const KeyField source_fields[] = {
        { .name = "source", .shape = { .types = SHAPE_STRING, .check = source_check },
          .description = KEY_DESCRIPTION("One-line apt source entries ('deb URI SUITE COMPONENT...'), "
                                         "with $MIRROR, $PRIMARY, $SECURITY, $RELEASE and $KEY_FILE "
                                         "replaced. A line without options gets [signed-by=...] for the "
                                         "source's key.") },
        { .name = "key", .shape = { .types = SHAPE_STRING, .check = key_check },
          .description = KEY_DESCRIPTION("Armored OpenPGP public key that signs the source, written to "
                                         "/etc/apt/keyrings/kiln-NAME.asc.") },
        { .name = "keyid", .shape = { .types = SHAPE_STRING, .check = keyid_check },
          .description = KEY_DESCRIPTION("Id (8 or 16 hex digits) or fingerprint of the key, fetched "
                                         "from keyserver over HKP when key is not given and checked "
                                         "against the key's fingerprint.") },
        { .name = "keyserver", .shape = { .types = SHAPE_STRING, .check = keyserver_check },
          .description = KEY_DESCRIPTION("Keyserver for keyid: HOST (HTTPS), hkp://HOST[:PORT] (HTTP, "
                                         "port 11371) or hkps://HOST. Default: keyserver.ubuntu.com.") },
        { .name = "filename", .shape = { .types = SHAPE_STRING, .check = filename_check },
          .description = KEY_DESCRIPTION("File in /etc/apt/sources.list.d; '.list' is added when "
                                         "missing. Default: the name.") },
        { .name = "append", .shape = { .types = SHAPE_BOOLEAN },
          .description = KEY_DESCRIPTION("Add to the file instead of replacing it. Default: true.") },
        {}
};

static const KeyShape source_shape = { .types = SHAPE_MAPPING, .fields = source_fields };

static const KeyShape selection_shape = { .types = SHAPE_STRING };

static const KeyField apt_inner_fields[] = {
        { .name = "preserve_sources_list", .shape = { .types = SHAPE_BOOLEAN },
          .description = KEY_DESCRIPTION("Keep the image's main sources list. Default: false, which "
                                         "writes the main list from sources_list or the built-in Debian "
                                         "list, as cloud-init does.") },
        { .name = "disable_suites", .shape = { .types = SHAPE_LIST, .items = &string_list_item },
          .description = KEY_DESCRIPTION("Suites to comment out of the main sources list that kiln "
                                         "writes: updates, backports, security, proposed, release, or "
                                         "suite names with $RELEASE.") },
        { .name = "primary", .shape = { .types = SHAPE_LIST, .items = &mirror_item },
          .description = KEY_DESCRIPTION("Primary mirrors by architecture; the chosen one is $PRIMARY "
                                         "and $MIRROR. Default: http://deb.debian.org/debian.") },
        { .name = "security", .shape = { .types = SHAPE_LIST, .items = &mirror_item },
          .description = KEY_DESCRIPTION("Security mirrors by architecture; the chosen one is "
                                         "$SECURITY. Default: http://deb.debian.org/debian-security.") },
        { .name = "add_apt_repo_match", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("Pattern of sources for add-apt-repository. Not supported by "
                                         "kiln yet.") },
        { .name = "debconf_selections", .shape = { .types = SHAPE_MAPPING, .other_fields = &selection_shape },
          .description = KEY_DESCRIPTION("debconf selection lines by name, passed to "
                                         "debconf-set-selections in the image.") },
        { .name = "sources_list", .shape = { .types = SHAPE_STRING, .check = sources_list_shape_check },
          .description = KEY_DESCRIPTION("Template of the main sources list, one-line or deb822, with "
                                         "$MIRROR, $PRIMARY, $SECURITY, $RELEASE, $primary_key and "
                                         "$security_key replaced. A deb822 list is written to "
                                         "/etc/apt/sources.list.d/DISTRO.sources and replaces "
                                         "/etc/apt/sources.list.") },
        { .name = "conf", .shape = { .types = SHAPE_STRING },
          .description = KEY_DESCRIPTION("apt.conf text, written to /etc/apt/apt.conf.d/94kiln-config.") },
        { .name = "proxy", .shape = { .types = SHAPE_STRING, .check = proxy_check },
          .description = KEY_DESCRIPTION("HTTP proxy for apt, written to "
                                         "/etc/apt/apt.conf.d/90kiln-aptproxy.") },
        { .name = "http_proxy", .shape = { .types = SHAPE_STRING, .check = proxy_check },
          .description = KEY_DESCRIPTION("HTTP proxy for apt.") },
        { .name = "ftp_proxy", .shape = { .types = SHAPE_STRING, .check = proxy_check },
          .description = KEY_DESCRIPTION("FTP proxy for apt.") },
        { .name = "https_proxy", .shape = { .types = SHAPE_STRING, .check = proxy_check },
          .description = KEY_DESCRIPTION("HTTPS proxy for apt.") },
        { .name = "sources", .shape = { .types = SHAPE_MAPPING, .other_fields = &source_shape,
                                        .check = sources_check },
          .description = KEY_DESCRIPTION("Extra apt sources by name, each with its source lines and key.") },
        {}
};

static const KeyField apt_fields[] = {
        { .name = "apt", .shape = { .types = SHAPE_MAPPING | SHAPE_NULL, .fields = apt_inner_fields },
          .description = KEY_DESCRIPTION("apt sources, keys, proxies and settings, written before "
                                         "packages are installed. Applied once per instance.") },
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
