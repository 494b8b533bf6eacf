/* SPDX-License-Identifier: Apache-2.0 */
/* apt sources text for the apt_configure module: variables, the two formats (one-line and
 * deb822, see sources.list(5)), the built-in main list of Debian, disabled suites, and the
 * architecture of the image. */

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apt-internal.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/macro.h"

/* Maximum length of a shown line in a rejection reason. */
#define APT_SHOWN_LINE_MAX 80
/* Maximum size of the output of `dpkg --print-architecture`, and of ROOT/var/lib/dpkg/arch. */
#define APT_ARCH_OUTPUT_MAX 4096U
/* Time limit of `dpkg --print-architecture`. */
#define APT_ARCH_TIMEOUT_USEC (10 * USEC_PER_SEC)

/* The keyring of the Debian archive, which signs the mirrors of the built-in main list. */
#define DEBIAN_ARCHIVE_KEYRING "/usr/share/keyrings/debian-archive-keyring.gpg"

/* The comment that precedes a line or a Suites field that disable_suites turned off. */
#define DISABLED_LINE_PREFIX "# suite disabled by kiln: "
#define DISABLED_ENTRY_HEADER "## Entry disabled by kiln, because apt.disable_suites removed all its suites\n"
#define DISABLED_ENTRY_PREFIX "# disabled by kiln: "

char *apt_vars_substitute(const char *text, const AptVars *vars, bool lower_case) {
        const struct {
                const char *name;
                const char *value;
                bool lower;
        } table[] = {
                { "MIRROR", vars->mirror, false },
                { "PRIMARY", vars->primary, false },
                { "SECURITY", vars->security, false },
                { "RELEASE", vars->release, false },
                { "KEY_FILE", vars->key_file, false },
                { "mirror", vars->mirror, true },
                { "primary_key", vars->primary_key, true },
                { "primary", vars->primary, true },
                { "security_key", vars->security_key, true },
                { "security", vars->security, true },
                { "release", vars->release, true },
                { "codename", vars->release, true },
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

                                if (!table[i].value || (table[i].lower && !lower_case) || !strneq(name, table[i].name, n))
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

/* Whether some line of text starts with one of the prefixes (NULL-terminated). */
static bool some_line_starts_with(const char *text, const char *const *prefixes) {
        for (const char *line = text; line && *line;) {
                for (const char *const *p = prefixes; *p; p++)
                        if (strneq(line, *p, strlen(*p)))
                                return true;
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return false;
}

bool apt_sources_is_deb822(const char *text) {
        static const char *const one_line[] = { "deb ", "deb-src ", NULL };
        static const char *const fields[] = { "Types: ", "Suites: ", "Components: ", "URIs: ", NULL };

        return !some_line_starts_with(text, one_line) && some_line_starts_with(text, fields);
}

int apt_sources_lines_check(const char *text, char *reason, size_t reason_size) {
        for (const char *line = text; *line;) {
                const char *next = strchr(line, '\n');
                size_t n = next ? (size_t) (next - line) : strlen(line);

                if (memchr(line, '\r', n)) {
                        (void) snprintf(reason, reason_size, "contains a carriage return");
                        return -EINVAL;
                }
                if (n > 0 && line[0] != '#' && !strneq(line, "deb ", 4) && !strneq(line, "deb-src ", 8)) {
                        (void) snprintf(reason, reason_size, "has the line '%.*s', which is not a one-line apt source "
                                        "starting with 'deb ' or 'deb-src '", (int) MIN(n, (size_t) APT_SHOWN_LINE_MAX), line);
                        return -EINVAL;
                }
                line = next ? next + 1 : line + n;
        }
        return 0;
}

int apt_sources_deb822_check(const char *text, char *reason, size_t reason_size) {
        for (const char *line = text; *line;) {
                const char *next = strchr(line, '\n');
                size_t n = next ? (size_t) (next - line) : strlen(line), name = 0;

                if (memchr(line, '\r', n)) {
                        (void) snprintf(reason, reason_size, "contains a carriage return");
                        return -EINVAL;
                }
                while (name < n && (isalnum((unsigned char) line[name]) || line[name] == '-'))
                        name++;
                if (n > 0 && line[0] != '#' && line[0] != ' ' && line[0] != '\t' && (name == 0 || line[name] != ':')) {
                        (void) snprintf(reason, reason_size, "has the line '%.*s', which is not a deb822 field "
                                        "('Name: value'), a continuation line or a comment",
                                        (int) MIN(n, (size_t) APT_SHOWN_LINE_MAX), line);
                        return -EINVAL;
                }
                line = next ? next + 1 : line + n;
        }
        return 0;
}

char *apt_sources_debian_render(const char *mirror, const char *security, const char *release,
                                const char *primary_key, const char *security_key) {
        /* Debian moved the security suite from RELEASE/updates to RELEASE-security in bullseye. */
        bool old_security = streq(release, "buster") || streq(release, "stretch");
        char *text = NULL;

        if (asprintf(&text,
                     "## Written by kiln from the apt key of cloud-config. Set apt.preserve_sources_list\n"
                     "## to true to keep this file as it is, or add sources in apt.sources.\n"
                     "\n"
                     "Types: deb deb-src\n"
                     "URIs: %s\n"
                     "Suites: %s %s-updates %s-backports\n"
                     "Components: main\n"
                     "Signed-By: %s\n"
                     "\n"
                     "Types: deb deb-src\n"
                     "URIs: %s\n"
                     "Suites: %s%s\n"
                     "Components: main\n"
                     "Signed-By: %s\n",
                     mirror, release, release, release, primary_key ?: DEBIAN_ARCHIVE_KEYRING,
                     security, release, old_security ? "/updates" : "-security",
                     security_key ?: primary_key ?: DEBIAN_ARCHIVE_KEYRING) < 0)
                return NULL;
        return text;
}

/* Expand a disable_suites name: the short names stand for suites of the release, and $RELEASE
 * is replaced. Returns a new string or NULL. */
static char *suite_expand(const char *suite, const char *release) {
        static const char *const short_names[][2] = {
                { "updates", "$RELEASE-updates" },
                { "backports", "$RELEASE-backports" },
                { "security", "$RELEASE-security" },
                { "proposed", "$RELEASE-proposed" },
                { "release", "$RELEASE" },
        };
        const AptVars vars = { .release = release };

        for (size_t i = 0; i < ELEMENTSOF(short_names); i++)
                if (streq(suite, short_names[i][0]))
                        return apt_vars_substitute(short_names[i][1], &vars, /* lower_case= */ false);
        return apt_vars_substitute(suite, &vars, /* lower_case= */ false);
}

/* Whether the one-line source line names suite. The suite is the third word, or with options in
 * brackets after the type, which may contain blanks ("deb [ arch=amd64 ] URI SUITE ..."), the
 * second word after the options. */
static bool line_has_suite(const char *line, size_t n, const char *suite) {
        size_t i = 0, word = 0, suite_word = 3;

        while (i < n) {
                size_t start;

                while (i < n && isspace((unsigned char) line[i]))
                        i++;
                if (i == n)
                        break;
                start = i;
                while (i < n && !isspace((unsigned char) line[i]))
                        i++;
                word++;

                if (word == 2 && line[start] == '[')
                        suite_word = 0;
                if (suite_word == 0) {
                        /* Inside the options: the suite comes two words after the one ending in ']'. */
                        if (line[i - 1] == ']')
                                suite_word = word + 2;
                        continue;
                }
                if (word == suite_word)
                        return i - start == strlen(suite) && strneq(line + start, suite, i - start);
        }
        return false;
}

/* Comment out the one-line sources of text whose suite is one of suites (expanded). */
static int disable_suites_one_line(const char *text, char *const *suites, FILE *f) {
        for (const char *line = text; *line;) {
                const char *next = strchr(line, '\n');
                size_t n = next ? (size_t) (next - line) + 1 : strlen(line);
                bool disable = false;

                if (line[0] != '#')
                        for (char *const *s = suites; *s && !disable; s++)
                                disable = line_has_suite(line, n, *s);
                if (disable)
                        fputs(DISABLED_LINE_PREFIX, f);
                fwrite(line, 1, n, f);
                line += n;
        }
        return 0;
}

/* Write one deb822 entry (stanza lines without the blank line after it): as it is when a suite is
 * left in its Suites field, else commented out, the Suites field restored to the original. */
static void deb822_entry_flush(FILE *f, const char *entry, size_t size, bool any_suite, const char *original_suites) {
        if (size == 0)
                return;
        if (any_suite) {
                fwrite(entry, 1, size, f);
                return;
        }

        fputs(DISABLED_ENTRY_HEADER, f);
        for (const char *line = entry; line < entry + size;) {
                const char *next = memchr(line, '\n', entry + size - line);
                size_t n = next ? (size_t) (next - line) + 1 : (size_t) (entry + size - line);

                if (strneq(line, DISABLED_LINE_PREFIX "Suites:", strlen(DISABLED_LINE_PREFIX "Suites:")))
                        fprintf(f, DISABLED_ENTRY_PREFIX "%s\n", original_suites);
                else if (!strneq(line, "Suites:", strlen("Suites:"))) {
                        fputs(DISABLED_ENTRY_PREFIX, f);
                        fwrite(line, 1, n, f);
                }
                line += n;
        }
}

/* Remove the suites from the Suites field line (without its newline) into f. Returns whether any
 * suite remains and sets *changed when one was removed. */
static bool deb822_suites_filter(const char *line, size_t n, char *const *suites, FILE *f, bool *changed) {
        bool any = false;

        fputs("Suites:", f);
        for (size_t i = strlen("Suites:"); i < n;) {
                size_t start;
                bool disabled = false;

                while (i < n && isspace((unsigned char) line[i]))
                        i++;
                start = i;
                while (i < n && !isspace((unsigned char) line[i]))
                        i++;
                if (i == start)
                        break;
                for (char *const *s = suites; *s && !disabled; s++)
                        disabled = strlen(*s) == i - start && strneq(line + start, *s, i - start);
                if (disabled) {
                        *changed = true;
                        continue;
                }
                fprintf(f, " %.*s", (int) (i - start), line + start);
                any = true;
        }
        fputc('\n', f);
        return any;
}

/* Comment out disabled suites in deb822 text, entry by entry. */
static int disable_suites_deb822(const char *text, char *const *suites, FILE *f) {
        _cleanup_free_ char *entry = NULL, *original = NULL;
        _cleanup_fclose_ FILE *e = NULL;
        size_t entry_size = 0;
        bool any_suite = true;

        for (const char *line = text;; ) {
                const char *next = *line ? strchr(line, '\n') : NULL;
                size_t n = next ? (size_t) (next - line) : strlen(line);
                bool blank = true;

                for (size_t i = 0; i < n; i++)
                        blank = blank && isspace((unsigned char) line[i]);

                if (!*line || blank) {
                        if (e) {
                                if (fclose(TAKE_PTR(e)) != 0)
                                        return -ENOMEM;
                                deb822_entry_flush(f, entry, entry_size, any_suite, original ?: "");
                                free(TAKE_PTR(entry));
                                free(TAKE_PTR(original));
                        }
                        if (!*line)
                                return 0;
                        fwrite(line, 1, n + (next ? 1 : 0), f);
                        line += n + (next ? 1 : 0);
                        continue;
                }

                if (!e) {
                        e = open_memstream(&entry, &entry_size);
                        if (!e)
                                return -ENOMEM;
                        any_suite = true;
                }
                if (line[0] != '#' && strneq(line, "Suites:", strlen("Suites:"))) {
                        _cleanup_free_ char *filtered = NULL;
                        _cleanup_fclose_ FILE *g = NULL;
                        size_t filtered_size = 0;
                        bool changed = false;

                        g = open_memstream(&filtered, &filtered_size);
                        if (!g)
                                return -ENOMEM;
                        any_suite = deb822_suites_filter(line, n, suites, g, &changed);
                        if (fclose(TAKE_PTR(g)) != 0)
                                return -ENOMEM;
                        if (changed) {
                                free(original);
                                original = strndup(line, n);
                                if (!original)
                                        return -ENOMEM;
                                fprintf(e, DISABLED_LINE_PREFIX "%.*s\n", (int) n, line);
                        }
                        fputs(filtered, e);
                } else
                        fprintf(e, "%.*s\n", (int) n, line);
                line += n + (next ? 1 : 0);
        }
}

int apt_disable_suites(const char *text, const char *const *suites, const char *release, char **ret) {
        _cleanup_strv_free_ char **expanded = NULL;
        _cleanup_free_ char *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0, n = 0;
        int r;

        assert(text);
        assert(ret);

        while (suites && suites[n])
                n++;
        expanded = calloc(n + 1, sizeof(char *));
        if (!expanded)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                expanded[i] = suite_expand(suites[i], release);
                if (!expanded[i])
                        return -ENOMEM;
        }

        f = open_memstream(&out, &size);
        if (!f)
                return -ENOMEM;
        if (apt_sources_is_deb822(text))
                r = disable_suites_deb822(text, expanded, f);
        else
                r = disable_suites_one_line(text, expanded, f);
        if (r < 0)
                return r;
        if (ferror(f) || fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}

/* Keep the first word of text, the architecture name, and drop the rest. */
static void arch_first_word(char *text) {
        size_t n = strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789-");

        text[n] = '\0';
}

int apt_arch_read(const Context *ctx, char **ret) {
        ExecLimits limits = { .timeout_usec = APT_ARCH_TIMEOUT_USEC, .stdout_max = APT_ARCH_OUTPUT_MAX };
        _cleanup_(exec_result_done) ExecResult result = {};
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r;

        assert(ctx);
        assert(ret);

        r = exec_find_in_root(ctx->root_fd, "dpkg", /* ret_path= */ NULL);
        if (r < 0)
                return r;
        if (r > 0) {
                r = exec_in_root_limited(ctx->root, (char *[]) { (char *) "dpkg", (char *) "--print-architecture", NULL },
                                         /* env= */ NULL, /* input_fd= */ -EBADF, /* output_fd= */ -EBADF, &limits, &result);
                if (r >= 0 && result.exit_code == 0 && result.stdout_data) {
                        arch_first_word(result.stdout_data);
                        if (result.stdout_data[0]) {
                                *ret = TAKE_PTR(result.stdout_data);
                                return 0;
                        }
                }
        }

        r = read_file_at(ctx->root_fd, "/var/lib/dpkg/arch", APT_ARCH_OUTPUT_MAX, &data, &size);
        if (r >= 0) {
                arch_first_word(data);
                *ret = TAKE_PTR(data);
                return 0;
        }
        *ret = strdup("");
        return *ret ? 0 : -ENOMEM;
}
