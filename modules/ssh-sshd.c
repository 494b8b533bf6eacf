/* SPDX-License-Identifier: Apache-2.0 */
/* sshd_config editing for the ssh module: PasswordAuthentication and HostCertificate lines, in
 * sshd_config or the drop-in that sshd reads first. */

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "authorized-keys.h"
#include "command.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "ssh-internal.h"

/* sshd configuration. sshd takes the first value it reads for a keyword, a Match line starts a
 * block that lasts to the end of the file, and Include reads the files its patterns match, in
 * sorted order, in its place. */

typedef enum SshdEdit {
        SSHD_EDIT_SET,           /* top-level occurrences get the value; one is added when there is none */
        SSHD_EDIT_REPLACE,       /* top-level occurrences get the value; none is added */
        SSHD_EDIT_ADD,           /* keyword and value are added unless present: keywords that may repeat */
} SshdEdit;

typedef struct SshdSetting {
        const char *keyword;
        const char *value;
        SshdEdit edit;
} SshdSetting;

/* Settings that one change applies at most: a HostCertificate line for each host key type. */
#define SSHD_SETTINGS_MAX _HOST_KEY_TYPE_MAX

/* One line as sshd splits it: leading blanks, the keyword up to a blank or '=', then the arguments
 * after blanks and at most one '='. Returns false for blank and comment lines. */
static bool sshd_line_parse(const char *line, size_t len, const char **ret_keyword, size_t *ret_keyword_len,
                            const char **ret_args, size_t *ret_args_len) {
        size_t i = 0, keyword_start, keyword_end;

        while (i < len && strchr(" \t", line[i]))
                i++;
        if (i == len || line[i] == '#' || line[i] == '\r')
                return false;

        keyword_start = i;
        while (i < len && !strchr(" \t=\r", line[i]))
                i++;
        keyword_end = i;
        while (i < len && strchr(" \t", line[i]))
                i++;
        if (i < len && line[i] == '=')
                i++;
        while (i < len && strchr(" \t", line[i]))
                i++;
        while (len > i && strchr(" \t\r", line[len - 1]))
                len--;

        *ret_keyword = line + keyword_start;
        *ret_keyword_len = keyword_end - keyword_start;
        *ret_args = line + i;
        *ret_args_len = len - i;
        return true;
}

static bool keyword_is(const char *keyword, size_t len, const char *name) {
        return strlen(name) == len && strncasecmp(keyword, name, len) == 0;
}

/* Whether the arguments of a line are value: exactly for keywords that may repeat (paths), and
 * ignoring case for the others (yes, no). */
static bool sshd_value_is(const SshdSetting *s, const char *args, size_t args_len) {
        if (strlen(s->value) != args_len)
                return false;
        if (s->edit == SSHD_EDIT_ADD)
                return strneq(args, s->value, args_len);
        return strncasecmp(args, s->value, args_len) == 0;
}

/* Apply one setting to sshd configuration text. Lines inside Match blocks are never touched,
 * and an added line goes before the first Match, because everything after a Match line belongs
 * to its block. Returns 1 with *ret (caller owns it) when the text changed, 0 when it already
 * had the setting, -ENOMEM. */
static int sshd_config_edit(const char *text, const SshdSetting *s, char **ret) {
        _cleanup_free_ char *out = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t out_size = 0;
        bool found = false, in_match = false, changed = false;
        bool add = s->edit != SSHD_EDIT_REPLACE;

        f = open_memstream(&out, &out_size);
        if (!f)
                return -ENOMEM;

        for (const char *p = text; *p;) {
                size_t len = strcspn(p, "\n"), keyword_len, args_len;
                bool newline = p[len] == '\n', top_level_setting = false;
                const char *keyword, *args;

                if (!in_match && sshd_line_parse(p, len, &keyword, &keyword_len, &args, &args_len)) {
                        if (keyword_is(keyword, keyword_len, "Match")) {
                                in_match = true;
                                if (add && !found) {
                                        (void) fprintf(f, "%s %s\n", s->keyword, s->value);
                                        found = changed = true;
                                }
                        } else
                                top_level_setting = keyword_is(keyword, keyword_len, s->keyword);
                }

                if (top_level_setting && s->edit == SSHD_EDIT_ADD)
                        found = found || sshd_value_is(s, args, args_len);
                else if (top_level_setting) {
                        found = true;
                        if (!sshd_value_is(s, args, args_len)) {
                                /* The indentation and the keyword's spelling stay as they were. */
                                (void) fprintf(f, "%.*s %s%s", (int) (keyword + keyword_len - p), p, s->value,
                                               newline ? "\n" : "");
                                changed = true;
                                p += len + newline;
                                continue;
                        }
                }

                (void) fwrite(p, 1, len + newline, f);
                p += len + newline;
        }

        if (add && !found) {
                if (*text && text[strlen(text) - 1] != '\n')
                        (void) fputc('\n', f);
                (void) fprintf(f, "%s %s\n", s->keyword, s->value);
                changed = true;
        }

        if (fflush(f) != 0)
                return -ENOMEM;
        if (!changed)
                return 0;
        (void) fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(out);
        return 1;
}

/* The offset of the top-level Include line of sshd_config whose patterns match path, or -1 when
 * no Include before the first Match reads it. Relative patterns are taken from /etc/ssh, as sshd
 * does. */
static ssize_t sshd_config_include_offset(const char *text, const char *path) {
        for (const char *p = text; *p;) {
                size_t len = strcspn(p, "\n"), keyword_len, args_len;
                const char *keyword, *args;

                if (sshd_line_parse(p, len, &keyword, &keyword_len, &args, &args_len)) {
                        if (keyword_is(keyword, keyword_len, "Match"))
                                return -1;
                        if (keyword_is(keyword, keyword_len, "Include")) {
                                _cleanup_free_ char *list = strndup(args, args_len);
                                char *save = NULL;

                                if (!list)
                                        return -1;
                                for (char *pattern = strtok_r(list, " \t", &save); pattern;
                                     pattern = strtok_r(NULL, " \t", &save)) {
                                        _cleanup_free_ char *absolute = NULL;

                                        if (pattern[0] != '/' && asprintf(&absolute, SSH_DIR "/%s", pattern) < 0) {
                                                absolute = NULL;
                                                return -1;
                                        }
                                        if (fnmatch(absolute ?: pattern, path, FNM_PATHNAME | FNM_PERIOD) == 0)
                                                return p - text;
                                }
                        }
                }
                p += len + (p[len] == '\n');
        }
        return -1;
}

/* Read an sshd configuration file. Returns 1 with its text, 0 with "" when it is missing, -errno. */
static int sshd_file_read(Context *ctx, const char *path, char **ret) {
        size_t size = 0;
        int r;

        r = read_file_at(ctx->root_fd, path, SSHD_CONFIG_FILE_MAX, ret, &size);
        if (r == -ENOENT) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        if (strlen(*ret) != size) {
                free(*ret);
                *ret = NULL;
                return -EBADMSG;
        }
        return 1;
}

/* Replace a configuration file atomically, keeping the mode and owner of the file it replaces. A
 * new file gets mode and root as its owner. */
static int sshd_file_write(Context *ctx, const char *path, const char *text, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        uid_t uid = 0;
        gid_t gid = 0;
        struct stat st;

        fd = root_open(ctx->root_fd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
        if (fd >= 0 && fstat(fd, &st) >= 0 && S_ISREG(st.st_mode)) {
                mode = st.st_mode & 07777;
                uid = st.st_uid;
                gid = st.st_gid;
        }
        return write_file_atomic(ctx->root_fd, path, text, strlen(text), mode, uid, gid,
                                 WRITE_MKDIR_PARENTS | WRITE_SYNC_DEFERRED);
}

/* Apply settings to the file at path; a missing file starts empty. With limit >= 0 only the text
 * before that offset is edited. why, when not NULL, ends the log line of a change. Returns 1 when
 * the file changed, 0, or -errno after reporting. */
static int sshd_file_apply(Context *ctx, const char *path, const SshdSetting *settings, size_t n, ssize_t limit,
                           mode_t new_mode, const char *why) {
        _cleanup_free_ char *text = NULL, *head = NULL;
        const char *tail = "";
        bool changed = false;
        int r;

        r = sshd_file_read(ctx, path, &text);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read '%s': %m", path);

        head = limit >= 0 ? strndup(text, (size_t) limit) : strdup(text);
        if (!head)
                return report_error(ctx, -1, -ENOMEM, "Failed to edit '%s': %m", path);
        if (limit >= 0)
                tail = text + limit;

        for (size_t i = 0; i < n; i++) {
                char *edited = NULL;

                r = sshd_config_edit(head, &settings[i], &edited);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to edit '%s': %m", path);
                if (r == 0)
                        continue;
                free(head);
                head = edited;
                changed = true;
                log_info("Set %s %s in %s%s.", settings[i].keyword, settings[i].value, path, why ?: "");
        }
        if (!changed)
                return 0;

        if (*tail) {
                _cleanup_free_ char *joined = NULL;

                if (asprintf(&joined, "%s%s", head, tail) < 0) {
                        joined = NULL;
                        return report_error(ctx, -1, -ENOMEM, "Failed to edit '%s': %m", path);
                }
                free(head);
                head = TAKE_PTR(joined);
        }

        r = sshd_file_write(ctx, path, head, new_mode);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to write '%s': %m", path);
        return 1;
}

/* Make the single-valued settings win over what sshd reads before kiln's drop-in: the top-level
 * lines of sshd_config above its Include, and the drop-ins whose names sort before kiln's.
 * Returns >0 when a file changed, 0, or the first error. */
static int sshd_config_override_earlier(Context *ctx, const SshdSetting *settings, size_t n, ssize_t include_offset) {
        SshdSetting replace[SSHD_SETTINGS_MAX];
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        size_t n_replace = 0;
        int r = 0, changed = 0, k;

        assert(n <= SSHD_SETTINGS_MAX);
        for (size_t i = 0; i < n; i++)
                if (settings[i].edit == SSHD_EDIT_SET)
                        replace[n_replace++] = (SshdSetting) { settings[i].keyword, settings[i].value, SSHD_EDIT_REPLACE };
        if (n_replace == 0)
                return 0;

        if (include_offset > 0) {
                k = sshd_file_apply(ctx, SSHD_CONFIG, replace, n_replace, include_offset, 0644,
                                    ", above its Include of " SSHD_DROPIN_NAME ", because sshd takes the first value");
                if (k < 0)
                        r = k;
                changed |= k > 0;
        }

        /* NOTE: only sshd_config.d is searched; files that other Include lines name are not. */
        dir_fd = root_open(ctx->root_fd, SSHD_CONFIG_DIR, O_RDONLY | O_DIRECTORY, 0);
        if (dir_fd == -ENOENT)
                return r < 0 ? r : changed;
        if (dir_fd < 0)
                return report_error(ctx, -1, dir_fd, "Failed to open '%s': %m", SSHD_CONFIG_DIR);
        k = dir_list(dir_fd, "*.conf", SSHD_DROPINS_MAX, &names);
        if (k < 0)
                return report_error(ctx, -1, k, "Failed to list '%s': %m", SSHD_CONFIG_DIR);

        for (char **name = names; *name && strcmp(*name, SSHD_DROPIN_NAME) < 0; name++) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, SSHD_CONFIG_DIR "/%s", *name) < 0) {
                        path = NULL;
                        return report_error(ctx, -1, -ENOMEM, "Failed to edit '%s': %m", SSHD_CONFIG_DIR);
                }
                k = sshd_file_apply(ctx, path, replace, n_replace, -1, 0600,
                                    " too, because sshd reads it before " SSHD_DROPIN_NAME " and takes the first value");
                if (k < 0)
                        r = r < 0 ? r : k;
                changed |= k > 0;
        }
        return r < 0 ? r : changed;
}

/* Put settings into sshd's configuration: into the drop-in sshd_config.d/50-kiln.conf when
 * sshd_config includes it (or there is only the directory, as when the distribution's sshd_config
 * lives in /usr), else into sshd_config itself. what names the cause in a warning when the image has
 * no sshd configuration. Returns >0 when a file changed, 0, or the first error.
 * NOTE: a running sshd is not reloaded, so a change takes effect when sshd next starts. */
static int sshd_config_apply(Context *ctx, const SshdSetting *settings, size_t n, const char *what) {
        _cleanup_free_ char *text = NULL;
        ssize_t include_offset;
        int r, k, has_dir;

        r = sshd_file_read(ctx, SSHD_CONFIG, &text);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read '%s': %m", SSHD_CONFIG);
        has_dir = root_exists(ctx->root_fd, SSHD_CONFIG_DIR);
        if (r == 0 && has_dir <= 0) {
                report_warning(ctx, -1, "%s: the image has no %s, skipping.", what, SSHD_CONFIG);
                return 0;
        }

        include_offset = r > 0 ? sshd_config_include_offset(text, SSHD_DROPIN) : 0;
        if (include_offset < 0)
                return sshd_file_apply(ctx, SSHD_CONFIG, settings, n, -1, 0644, /* why= */ NULL);

        r = sshd_file_apply(ctx, SSHD_DROPIN, settings, n, -1, 0600, /* why= */ NULL);
        k = sshd_config_override_earlier(ctx, settings, n, include_offset);
        if (r < 0 || k < 0)
                return r < 0 ? r : k;
        return r > 0 || k > 0;
}

int password_auth_apply(Context *ctx, const SshConfig *c) {
        SshdSetting s = {
                .keyword = "PasswordAuthentication",
                .value = c->password_auth == PASSWORD_AUTH_YES ? "yes" : "no",
                .edit = SSHD_EDIT_SET,
        };

        if (c->password_auth == PASSWORD_AUTH_UNCHANGED)
                return 0;
        return sshd_config_apply(ctx, &s, 1, "ssh_pwauth");
}

/* Point sshd at the host certificates of ssh_keys. */
int host_certificates_apply(Context *ctx, unsigned certificates) {
        char paths[_HOST_KEY_TYPE_MAX][PATH_MAX];
        SshdSetting settings[_HOST_KEY_TYPE_MAX];
        size_t n = 0;

        for (size_t t = 0; t < _HOST_KEY_TYPE_MAX; t++) {
                if (!(certificates & (1U << t)))
                        continue;
                host_key_path((HostKeyType) t, HOST_KEY_CERTIFICATE, paths[n], sizeof(paths[n]));
                settings[n] = (SshdSetting) { "HostCertificate", paths[n], SSHD_EDIT_ADD };
                n++;
        }
        if (n == 0)
                return 0;
        return sshd_config_apply(ctx, settings, n, "ssh_keys certificates");
}
