/* SPDX-License-Identifier: Apache-2.0 */
/* The users_groups module: the cloud-config keys users and groups, with cloud-init's keys and value
 * shapes. Accounts are made by the image's own groupadd, useradd, usermod, chpasswd and passwd,
 * run inside the target root. */

#include <assert.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "authorized-keys.h"
#include "command.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "users.h"

#define PASSWD_FILE "/etc/passwd"
#define GROUP_FILE "/etc/group"
#define SHADOW_FILE "/etc/shadow"

#define SUDOERS_FILE "/etc/sudoers"
#define SUDOERS_DIRECTORY "/etc/sudoers.d"
#define SUDOERS_DIRECTORY_MODE 0750
#define SUDOERS_DROPIN SUDOERS_DIRECTORY "/90-kiln-users"
#define SUDOERS_MODE 0440
#define SUDOERS_FILE_MAX (1024U * 1024U)
#define SUDOERS_DROPIN_HEADER "# Sudo rules of the users in the cloud-config, written by kiln.\n"

/* The directories that exec_in_root() searches for a command inside the root. */
static const char *const command_directories[] = {
        "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
};

/* ---- Accounts as the root's own files list them ---- */

static FILE *root_fopen(Context *ctx, const char *path) {
        int fd = root_open(ctx->root_fd, path, O_RDONLY, 0);
        FILE *f;

        if (fd < 0)
                return NULL;
        f = fdopen(fd, "re");
        if (!f)
                (void) close(fd);
        return f;
}

static bool user_exists(Context *ctx, const char *name, gid_t *ret_gid) {
        _cleanup_fclose_ FILE *f = root_fopen(ctx, PASSWD_FILE);
        struct passwd *p;

        while (f && (p = fgetpwent(f)))
                if (streq(p->pw_name, name)) {
                        if (ret_gid)
                                *ret_gid = p->pw_gid;
                        return true;
                }
        return false;
}

static bool group_exists(Context *ctx, const char *name) {
        _cleanup_fclose_ FILE *f = root_fopen(ctx, GROUP_FILE);
        struct group *g;

        while (f && (g = fgetgrent(f)))
                if (streq(g->gr_name, name))
                        return true;
        return false;
}

/* Whether user belongs to group, as a listed member or through its primary gid. */
static bool user_in_group(Context *ctx, const char *user, const char *group) {
        _cleanup_fclose_ FILE *f = root_fopen(ctx, GROUP_FILE);
        struct group *g;
        gid_t primary;

        if (!user_exists(ctx, user, &primary))
                return false;
        while (f && (g = fgetgrent(f))) {
                if (!streq(g->gr_name, group))
                        continue;
                if (g->gr_gid == primary)
                        return true;
                for (char **m = g->gr_mem; m && *m; m++)
                        if (streq(*m, user))
                                return true;
                return false;
        }
        return false;
}

/* The password field of user in the root's shadow file: 1 and a copy when found, 0 when not. */
static int shadow_password(Context *ctx, const char *user, char **ret) {
        _cleanup_fclose_ FILE *f = root_fopen(ctx, SHADOW_FILE);
        struct spwd *s;

        while (f && (s = fgetspent(f)))
                if (streq(s->sp_namp, user)) {
                        *ret = strdup(s->sp_pwdp ?: "");
                        return *ret ? 1 : -ENOMEM;
                }
        return 0;
}

static bool root_has_command(Context *ctx, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(command_directories); i++) {
                char path[PATH_MAX];

                (void) snprintf(path, sizeof(path), "%s/%s", command_directories[i], name);
                if (root_exists(ctx->root_fd, path) > 0)
                        return true;
        }
        return false;
}

/* Run argv for the item, with "NAME 'what'" (useradd 'alice') naming it in the log and in errors. */
static int account_command(Context *ctx, int item, char *const argv[], const char *what, int output_fd) {
        char name[USERS_NAME_MAX + 64];

        (void) snprintf(name, sizeof(name), "%s '%s'", argv[0], what);
        return command_run(ctx, name, item, argv, output_fd);
}

/* ---- Sudo rules ---- */

/* Whether a sudoers line includes SUDOERS_DIRECTORY: "#includedir /etc/sudoers.d", or
 * "@includedir" as sudo 1.9.1 and later write it. */
static bool line_includes_sudoers_directory(const char *line, size_t n) {
        _cleanup_free_ char *copy = strndup(line, n);
        char *p, *end;

        if (!copy)
                return false;
        p = copy + strspn(copy, " \t");
        if (!strneq(p, "#includedir", 11) && !strneq(p, "@includedir", 11))
                return false;
        p += 11;
        if (!strchr(" \t", *p))
                return false;
        p += strspn(p, " \t");
        end = p + strlen(p);
        while (end > p && strchr(" \t/\r", end[-1]))
                end--;
        *end = '\0';
        return streq(p, SUDOERS_DIRECTORY);
}

/* Make sure that /etc/sudoers reads the drop-in directory, as cloud-init does: a missing line is
 * appended, and a missing file is created with only that line. */
static int sudoers_include_ensure(Context *ctx) {
        _cleanup_free_ char *old = NULL, *content = NULL;
        size_t size = 0;
        int r;

        r = read_file_at(ctx->root_fd, SUDOERS_FILE, SUDOERS_FILE_MAX, &old, &size);
        if (r < 0 && r != -ENOENT)
                return r;

        for (const char *p = old ?: ""; *p;) {
                size_t n = strcspn(p, "\n");

                if (line_includes_sudoers_directory(p, n))
                        return 0;
                p += n + (p[n] == '\n');
        }

        if (asprintf(&content, "%s%s# Added by kiln, for the sudo rules of users.\n#includedir %s\n",
                     old ?: "", size > 0 && old[size - 1] != '\n' ? "\n" : "", SUDOERS_DIRECTORY) < 0) {
                content = NULL;
                return -ENOMEM;
        }
        r = write_file_atomic(ctx->root_fd, SUDOERS_FILE, content, strlen(content), SUDOERS_MODE, 0, 0,
                              WRITE_SYNC_DEFERRED);
        if (r < 0)
                return r;
        log_info("Added '#includedir %s' to %s.", SUDOERS_DIRECTORY, SUDOERS_FILE);
        return 1;
}

/* Put the old drop-in back after a failed check, or remove the one that was written. A drop-in
 * that stays broken breaks every use of sudo, so a failure here is an error of its own. */
static void sudoers_dropin_restore(Context *ctx, int item, const char *old) {
        int r;

        if (old)
                r = write_file_atomic(ctx->root_fd, SUDOERS_DROPIN, old, strlen(old), SUDOERS_MODE, 0, 0,
                                      WRITE_SYNC_DEFERRED);
        else
                r = root_unlink(ctx->root_fd, SUDOERS_DROPIN);
        if (r < 0)
                (void) report_error(ctx, item, r, "Failed to restore %s after visudo rejected it, sudo may not "
                                    "work until it is fixed: %m", SUDOERS_DROPIN);
}

/* Add u's rules to the drop-in, unless it has them already, and check the result with the
 * image's visudo. Rules that do not pass are taken out again. */
static int sudo_rules_apply(Context *ctx, const UserSpec *u, const char *label, int output_fd) {
        _cleanup_free_ char *old = NULL, *block = NULL, *content = NULL;
        char *check[] = { (char *) "visudo", (char *) "-c", (char *) "-f", (char *) SUDOERS_DROPIN, NULL };
        char name[USERS_NAME_MAX + 128];
        int r;

        if (!u->sudo)
                return 0;

        r = sudo_rules_text(u, &block);
        if (r < 0)
                return report_error(ctx, u->index, r, "Failed to write the sudo rules of %s: %m", label);

        r = read_file_at(ctx->root_fd, SUDOERS_DROPIN, SUDOERS_FILE_MAX, &old, NULL);
        if (r < 0 && r != -ENOENT)
                return report_error(ctx, u->index, r, "Failed to read %s: %m", SUDOERS_DROPIN);
        if (old && strstr(old, block)) {
                log_debug("%s already contains the sudo rules of %s, skipping.", SUDOERS_DROPIN, label);
                return 0;
        }

        r = sudoers_include_ensure(ctx);
        if (r < 0)
                return report_error(ctx, u->index, r, "Failed to make %s read %s: %m", SUDOERS_FILE,
                                    SUDOERS_DIRECTORY);
        r = root_mkdir_p(ctx->root_fd, SUDOERS_DIRECTORY, SUDOERS_DIRECTORY_MODE, 0, 0);
        if (r < 0)
                return report_error(ctx, u->index, r, "Failed to create %s: %m", SUDOERS_DIRECTORY);

        if (asprintf(&content, "%s%s", old ?: SUDOERS_DROPIN_HEADER, block) < 0) {
                content = NULL;
                return report_error(ctx, u->index, -ENOMEM, "Failed to write the sudo rules of %s: %m", label);
        }
        r = write_file_atomic(ctx->root_fd, SUDOERS_DROPIN, content, strlen(content), SUDOERS_MODE, 0, 0,
                              WRITE_SYNC_DEFERRED);
        if (r < 0)
                return report_error(ctx, u->index, r, "Failed to write '%s': %m", SUDOERS_DROPIN);

        if (!root_has_command(ctx, "visudo")) {
                log_debug("The image has no visudo, so the sudo rules of %s are not checked.", label);
        } else {
                (void) snprintf(name, sizeof(name), "visudo -c -f %s for the sudo rules of %s", SUDOERS_DROPIN,
                                label);
                r = command_run(ctx, name, u->index, check, output_fd);
                if (r < 0) {
                        sudoers_dropin_restore(ctx, u->index, old);
                        log_info("Took the sudo rules of user '%s' out of %s again, because visudo rejected "
                                 "them.", u->name, SUDOERS_DROPIN);
                        return r;
                }
        }

        log_info("Added the sudo rules of user '%s' to %s.", u->name, SUDOERS_DROPIN);
        return 1;
}

/* ---- Groups ---- */

/* Create group unless it exists. Returns 1 when it was created, 0 when it existed. */
static int group_create(Context *ctx, int item, const char *group, int output_fd) {
        char *argv[] = { (char *) "groupadd", (char *) "--", (char *) group, NULL };
        int r;

        if (group_exists(ctx, group))
                return 0;
        r = account_command(ctx, item, argv, group, output_fd);
        if (r < 0)
                return r;
        log_info("Created group '%s'.", group);
        return 1;
}

/* Add user to the groups (a comma-separated list) with usermod -a -G. */
static int groups_join(Context *ctx, int item, const char *user, const char *groups, int output_fd) {
        char *argv[] = { (char *) "usermod", (char *) "-a", (char *) "-G", (char *) groups, (char *) "--",
                         (char *) user, NULL };
        int r;

        r = account_command(ctx, item, argv, user, output_fd);
        if (r < 0)
                return r;
        log_info("Added user '%s' to the groups %s.", user, groups);
        return 1;
}

/* The top-level groups, created before the users so that users can name them. */
static int groups_create(Context *ctx, const GroupList *l, int output_fd) {
        int r = 0, changed = 0;

        for (size_t i = 0; i < l->n; i++) {
                int k;

                /* A group that exists already is what was asked for, so it is no warning. */
                if (group_exists(ctx, l->groups[i].name)) {
                        log_info("Group '%s' already exists, leaving it as it is.", l->groups[i].name);
                        continue;
                }
                k = group_create(ctx, l->groups[i].index, l->groups[i].name, output_fd);
                if (k < 0 && r == 0)
                        r = k;
                if (k > 0)
                        changed = 1;
        }
        return r < 0 ? r : changed;
}

/* The members of the top-level groups, added after the users, so that they may be users that
 * this config creates (cloud-init adds them before and skips those). */
static int groups_add_members(Context *ctx, const GroupList *l, int output_fd) {
        int r = 0, changed = 0;

        for (size_t i = 0; i < l->n; i++) {
                const GroupSpec *g = &l->groups[i];

                for (size_t j = 0; g->members[j]; j++) {
                        int k;

                        if (!group_exists(ctx, g->name))
                                break;
                        if (!user_exists(ctx, g->members[j], NULL)) {
                                report_warning(ctx, g->index, "groups: cannot add user '%s' to group '%s', because "
                                               "the user does not exist, skipping it.", g->members[j], g->name);
                                continue;
                        }
                        if (user_in_group(ctx, g->members[j], g->name))
                                continue;
                        k = groups_join(ctx, g->index, g->members[j], g->name, output_fd);
                        if (k < 0 && r == 0)
                                r = k;
                        if (k > 0)
                                changed = 1;
                }
        }
        return r < 0 ? r : changed;
}

/* ---- Users ---- */

/* Create the groups that u names, when create_groups allows it (the default). */
static int user_groups_create(Context *ctx, const UserSpec *u, int output_fd) {
        int r = 0, changed = 0, k;

        if (!u->create_groups)
                return 0;

        for (size_t i = 0; u->groups[i]; i++) {
                k = group_create(ctx, u->index, u->groups[i], output_fd);
                if (k < 0 && r == 0)
                        r = k;
                if (k > 0)
                        changed = 1;
        }
        /* cloud-init creates the primary group only when groups is set as well, and useradd then
         * fails on a missing one. kiln creates it either way. */
        if (u->primary_group && u->primary_group[0]) {
                k = group_create(ctx, u->index, u->primary_group, output_fd);
                if (k < 0 && r == 0)
                        r = k;
                if (k > 0)
                        changed = 1;
        }
        return r < 0 ? r : changed;
}

/* An existing user gets the groups it lacks, as if it had been created with them. */
static int user_groups_join(Context *ctx, const UserSpec *u, int output_fd) {
        _cleanup_(strv_done) Strv missing = {};
        _cleanup_free_ char *list = NULL;
        int r;

        for (size_t i = 0; u->groups[i]; i++)
                if (!user_in_group(ctx, u->name, u->groups[i])) {
                        r = strv_add(&missing, u->groups[i]);
                        if (r < 0)
                                return r;
                }
        if (missing.n == 0)
                return 0;

        r = strv_join(missing.items, ",", &list);
        if (r < 0)
                return r;
        return groups_join(ctx, u->index, u->name, list, output_fd);
}

/* Set a password with chpasswd, which reads "NAME:PASSWORD" on stdin, so that the password never
 * shows in an argv. hashed: the password is a crypt(3) hash (chpasswd -e). */
static int password_set(Context *ctx, const UserSpec *u, const char *label, const char *password, bool hashed,
                        int output_fd) {
        char *argv[] = { (char *) "chpasswd", hashed ? (char *) "-e" : NULL, NULL };
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *line = NULL;
        char name[USERS_NAME_MAX + 64];
        ssize_t n;
        int r;

        fd = memfd_create("kiln-chpasswd", MFD_CLOEXEC);
        if (fd < 0)
                return report_error(ctx, u->index, -errno, "Failed to set the password of %s: %m", label);
        if (asprintf(&line, "%s:%s\n", u->name, password) < 0) {
                line = NULL;
                return report_error(ctx, u->index, -ENOMEM, "Failed to set the password of %s: %m", label);
        }
        n = write(fd, line, strlen(line));
        r = n < 0 ? -errno : (size_t) n != strlen(line) ? -EIO : 0;
        explicit_bzero(line, strlen(line));
        if (r >= 0 && lseek(fd, 0, SEEK_SET) < 0)
                r = -errno;
        if (r < 0)
                return report_error(ctx, u->index, r, "Failed to set the password of %s: %m", label);

        (void) snprintf(name, sizeof(name), "chpasswd for %s", label);
        r = command_run_with_stdin(ctx, name, u->index, argv, fd, output_fd);
        if (r < 0)
                return r;
        log_info("Set the password of user '%s'.", u->name);
        return 1;
}

/* Set the passwords that u gives. *ret_given is set when one was given, and *ret_blank when the
 * one given was empty. */
static int user_passwords_apply(Context *ctx, const UserSpec *u, const char *label, bool created, int output_fd,
                                bool *ret_given, bool *ret_blank) {
        int r = 0, changed = 0;

        *ret_given = *ret_blank = false;
        if (u->plain_text_passwd) {
                *ret_given = true;
                *ret_blank = u->plain_text_passwd[0] == '\0';
                if (!*ret_blank)
                        r = password_set(ctx, u, label, u->plain_text_passwd, false, output_fd);
                changed |= r > 0;
        }
        if (r >= 0 && u->hashed_passwd) {
                *ret_given = true;
                *ret_blank = u->hashed_passwd[0] == '\0';
                if (!*ret_blank)
                        r = password_set(ctx, u, label, u->hashed_passwd, true, output_fd);
                changed |= r > 0;
        }

        /* passwd is the hash for a new account only, as useradd --password sets it in cloud-init. */
        if (r >= 0 && u->passwd && !created && !*ret_given)
                report_warning(ctx, u->index, "%s already exists, so its passwd is ignored. Use hashed_passwd to "
                               "change the password of an existing user.", label);
        else if (r >= 0 && u->passwd && created && !*ret_given) {
                *ret_given = true;
                *ret_blank = u->passwd[0] == '\0';
                if (!*ret_blank)
                        r = password_set(ctx, u, label, u->passwd, true, output_fd);
                changed |= r > 0;
        }

        return r < 0 ? r : changed;
}

/* lock_passwd (true by default) locks the password, so that only keys log in. false unlocks it,
 * but only when there is a password to unlock, as in cloud-init: one given now, or one the existing
 * account has. */
static int user_lock_apply(Context *ctx, const UserSpec *u, const char *label, bool created, bool given,
                           bool blank, int output_fd) {
        char *lock[] = { (char *) "passwd", (char *) "-l", (char *) "--", u->name, NULL };
        char *unlock[] = { (char *) "passwd", (char *) "-u", (char *) "--", u->name, NULL };
        char *clear[] = { (char *) "passwd", (char *) "-d", (char *) "--", u->name, NULL };
        _cleanup_free_ char *field = NULL;
        bool locked, empty;
        int r;

        r = shadow_password(ctx, u->name, &field);
        if (r < 0)
                return report_error(ctx, u->index, r, "Failed to read %s: %m", SHADOW_FILE);
        locked = field && field[0] == '!';
        empty = !field || field[strspn(field, "!")] == '\0';

        if (!root_has_command(ctx, "passwd")) {
                lock[0] = unlock[0] = (char *) "usermod";
                lock[1] = (char *) "--lock";
                unlock[1] = (char *) "--unlock";
        }

        if (u->lock_passwd) {
                if (locked) {
                        log_debug("The password of %s is locked already.", label);
                        return 0;
                }
                r = account_command(ctx, u->index, lock, u->name, output_fd);
                if (r < 0)
                        return r;
                log_info("Locked the password of user '%s'.", u->name);
                return 1;
        }

        if (!given && (created || empty)) {
                report_warning(ctx, u->index, "%s: lock_passwd is false, but the account has no password to "
                               "unlock. Give it plain_text_passwd or hashed_passwd, leaving it locked.", label);
                return 0;
        }
        if (!locked)
                return 0;

        /* An empty password that was asked for by name means a login without a password. */
        r = account_command(ctx, u->index, empty && blank ? clear : unlock, u->name, output_fd);
        if (r < 0)
                return r;
        log_info("Unlocked the password of user '%s'.", u->name);
        return 1;
}

static int user_keys_apply(Context *ctx, const UserSpec *u, const char *label, char *const *metadata_keys) {
        _cleanup_(strv_done) Strv keys = {};
        int r;

        for (size_t i = 0; u->ssh_authorized_keys[i]; i++) {
                r = strv_add(&keys, u->ssh_authorized_keys[i]);
                if (r < 0)
                        return report_error(ctx, u->index, r, "Failed to add the SSH keys of %s: %m", label);
        }
        for (size_t i = 0; metadata_keys && metadata_keys[i]; i++) {
                r = strv_add(&keys, metadata_keys[i]);
                if (r < 0)
                        return report_error(ctx, u->index, r, "Failed to add the SSH keys of %s: %m", label);
        }
        if (keys.n == 0)
                return 0;

        r = authorized_keys_add(ctx->root_fd, u->name, keys.items, /* options= */ NULL);
        if (r == -ENOENT)
                return report_error(ctx, u->index, r, "Failed to add the SSH keys of %s: its home directory "
                                    "does not exist.", label);
        if (r == -ELOOP)
                return report_error(ctx, u->index, r, "Failed to add the SSH keys of %s: ~/.ssh or "
                                    "~/.ssh/authorized_keys is a symbolic link, which kiln does not follow.", label);
        if (r < 0)
                return report_error(ctx, u->index, r, "Failed to add the SSH keys of %s: %m", label);
        if (r > 0)
                log_info("Wrote the SSH keys of user '%s' to ~/.ssh/authorized_keys.", u->name);
        return r;
}

/* Create u, or bring an existing account in line with the parts that cloud-init also applies to
 * an existing user: groups, passwords, lock, sudo rules and keys. Every step runs even after one
 * failed, except after a failed useradd. Returns >0 when something changed, 0, or the first error. */
static int user_apply(Context *ctx, const UserSpec *u, char *const *metadata_keys, int output_fd) {
        _cleanup_strv_free_ char **argv = NULL;
        char label[USERS_NAME_MAX + 64];
        bool created = false, given, blank;
        int r, k, changed = 0;

        (void) user_label(u->index, u->name, label, sizeof(label));

        r = user_groups_create(ctx, u, output_fd);
        changed |= r > 0;

        if (user_exists(ctx, u->name, NULL)) {
                /* The requested user exists already, so this is no warning. */
                log_info("User '%s' already exists, so only its groups, password, sudo rules and SSH keys are "
                         "applied.", u->name);
                k = user_groups_join(ctx, u, output_fd);
        } else {
                k = useradd_argv(u, &argv);
                if (k < 0)
                        return report_error(ctx, u->index, k, "Failed to create %s: %m", label);
                k = account_command(ctx, u->index, argv, u->name, output_fd);
                if (k < 0)
                        return k;
                log_info("Created user '%s'.", u->name);
                created = true;
        }
        if (k < 0 && r >= 0)
                r = k;
        changed |= k > 0;

        k = user_passwords_apply(ctx, u, label, created, output_fd, &given, &blank);
        if (k >= 0)
                k = user_lock_apply(ctx, u, label, created, given, blank, output_fd);
        if (k < 0 && r >= 0)
                r = k;
        changed |= k > 0;

        k = sudo_rules_apply(ctx, u, label, output_fd);
        if (k < 0 && r >= 0)
                r = k;
        changed |= k > 0;

        k = user_keys_apply(ctx, u, label, metadata_keys);
        if (k < 0 && r >= 0)
                r = k;
        changed |= k > 0;

        return r < 0 ? r : changed;
}

/* ---- The module ---- */

/* The metadata service's SSH keys that a user gets, or NULL when there are none or the config
 * sets allow_public_ssh_keys to false. Invalid keys are skipped with a warning. */
static int metadata_keys_collect(Context *ctx, const json_t *config, char ***ret) {
        const json_t *keys = ctx->instance ? json_object_get(ctx->instance->metadata, "public_ssh_keys") : NULL;
        const json_t *allow = json_object_get(config, "allow_public_ssh_keys"), *key;
        _cleanup_(strv_done) Strv l = {};
        AuthorizedKey parsed;
        size_t i;
        int r;

        *ret = NULL;
        if (json_array_size(keys) == 0)
                return 0;
        /* The ssh module reports a value of another shape. */
        if (json_is_false(allow) || (json_is_string(allow) && parse_boolean(json_string_value(allow)) == 0)) {
                log_info("allow_public_ssh_keys is false, so no user gets the metadata service's SSH keys.");
                return 0;
        }

        json_array_foreach(keys, i, key) {
                _cleanup_free_ char *line = NULL;
                size_t n;

                if (i >= USERS_LIST_ITEMS_MAX)
                        break;
                if (!json_is_string(key) || string_has_nul(key)) {
                        report_warning(ctx, -1, "The metadata service's public key %zu is %s, not a string, "
                                       "skipping it.", i, json_type_name(key));
                        continue;
                }
                n = json_string_length(key);
                while (n > 0 && strchr("\r\n", json_string_value(key)[n - 1]))
                        n--;
                line = strndup(json_string_value(key), n);
                if (!line)
                        return -ENOMEM;
                if (strpbrk(line, "\r\n") || authorized_key_parse(line, &parsed) < 0) {
                        report_warning(ctx, -1, "The metadata service's public key %zu is not an SSH public key "
                                       "line, skipping it.", i);
                        continue;
                }
                r = strv_add_unique(&l, line, n);
                if (r < 0)
                        return r;
        }

        *ret = l.items;
        l = (Strv) {};
        return 0;
}

/* The user who gets the metadata service's keys: the default user, or else, because a list
 * without 'default' would otherwise leave the instance's key pair unusable, the first user
 * listed. cloud-init gives them to the default user only. */
static const UserSpec *metadata_keys_recipient(const UserList *users, char *const *keys) {
        char label[USERS_NAME_MAX + 64];

        if (!keys || users->n == 0)
                return NULL;

        for (size_t i = 0; i < users->n; i++)
                if (users->users[i].is_default) {
                        log_info("The metadata service's SSH keys go to the default user '%s'.",
                                 users->users[i].name);
                        return &users->users[i];
                }

        log_info("The users list has no 'default' entry, so the metadata service's SSH keys go to the "
                 "first user listed, %s.", user_label(users->users[0].index, users->users[0].name, label,
                                                      sizeof(label)));
        return &users->users[0];
}

static int users_groups_run(Context *ctx, const json_t *config) {
        _cleanup_(group_list_done) GroupList groups = {};
        _cleanup_(user_list_done) UserList users = {};
        _cleanup_strv_free_ char **metadata_keys = NULL;
        _cleanup_close_ int output_fd = -EBADF;
        const UserSpec *recipient;
        int r, k, changed = 0;

        r = groups_parse(ctx, json_object_get(config, "groups"), &groups);
        if (r == -ENOMEM)
                return report_error(ctx, -1, r, "Failed to read groups: %m");
        k = users_parse(ctx, config, &users);
        if (k == -ENOMEM)
                return report_error(ctx, -1, k, "Failed to read users: %m");
        if (k < 0 && r >= 0)
                r = k;

        if (groups.n == 0 && users.n == 0) {
                log_debug("No users or groups to create.");
                return r;
        }

        k = metadata_keys_collect(ctx, config, &metadata_keys);
        if (k < 0)
                return report_error(ctx, -1, k, "Failed to read the metadata service's SSH keys: %m");
        recipient = metadata_keys_recipient(&users, metadata_keys);

        output_fd = command_output_open(ctx, "users_groups");

        k = groups_create(ctx, &groups, output_fd);
        if (k < 0 && r >= 0)
                r = k;
        changed |= k > 0;

        /* Each user is independent: one that fails does not stop the others. */
        for (size_t i = 0; i < users.n; i++) {
                k = user_apply(ctx, &users.users[i], &users.users[i] == recipient ? metadata_keys : NULL,
                               output_fd);
                if (k < 0 && r >= 0)
                        r = k;
                changed |= k > 0;
        }

        k = groups_add_members(ctx, &groups, output_fd);
        if (k < 0 && r >= 0)
                r = k;
        changed |= k > 0;

        return r < 0 ? r : changed;
}

/* ---- Key declarations for kiln validate ---- */

/* The image's default user that kiln validate assumes, because it checks user data without the
 * image configuration. */
#define VALIDATE_DEFAULT_USER "kiln-validate-default-user"

/* Run one of the module's parsers on config in a scratch context with logging off, and turn the
 * first error, or else the first warning, into message. This way kiln validate applies every
 * rule that the run applies (names, ranges, duplicates, old forms) with the same verdict. */
static int users_check_parse(const json_t *config, bool groups, char *message, size_t size) {
        json_auto_t *system_config = NULL, *errors = json_array(), *warnings = json_array();
        const json_t *first;
        const char *text;
        Context ctx = {
                .root = "/",
                .root_fd = -EBADF,
                .config = (json_t *) config,
                .current = "users_groups",
        };
        int level = log_get_max_level(), r;

        system_config = json_pack("{s:{s:{s:s}}}", "system_info", "default_user", "name", VALIDATE_DEFAULT_USER);
        if (!system_config || !errors || !warnings)
                return -ENOMEM;
        ctx.system_config = system_config;
        ctx.errors = errors;
        ctx.warnings = warnings;

        log_set_max_level(-1);
        if (groups) {
                _cleanup_(group_list_done) GroupList l = {};

                r = groups_parse(&ctx, json_object_get(config, "groups"), &l);
        } else {
                _cleanup_(user_list_done) UserList l = {};

                r = users_parse(&ctx, config, &l);
        }
        log_set_max_level(level);
        if (r == -ENOMEM)
                return r;

        first = json_array_size(errors) > 0 ? json_array_get(errors, 0) : json_array_get(warnings, 0);
        if (!first)
                return 0;
        text = json_string_value(json_object_get(first, "message"));
        (void) snprintf(message, size, "%s kiln run: %s",
                        json_array_size(errors) > 0 ? "is rejected by" : "gets a warning from", text ?: "");
        return json_array_size(errors) > 0 ? -EINVAL : SHAPE_CHECK_WARNING;
}

/* Check a value under key as the run reads it: { key: value } in a config of its own. */
static int users_check_key(const char *key, const json_t *value, char *message, size_t size) {
        json_auto_t *config = json_pack("{s:O}", key, value);

        if (!config)
                return -ENOMEM;
        return users_check_parse(config, streq(key, "groups"), message, size);
}

static int users_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        return users_check_key("users", v, message, size);
}

static int user_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        return users_check_key("user", v, message, size);
}

static int groups_check(const json_t *v, const char *source_text, char *message, size_t size) {
        (void) source_text;
        return users_check_key("groups", v, message, size);
}

#define BOOLEAN_SHAPE { .types = SHAPE_BOOLEAN | SHAPE_NULL, .boolean_strings = true }
#define STRING_SHAPE { .types = SHAPE_STRING | SHAPE_NULL }

/* Keys whose rules beyond the type are applied by users_check(): their items get no shape here. */
#define GROUP_NAMES_SHAPE { .types = SHAPE_STRING | SHAPE_LIST | SHAPE_MAPPING | SHAPE_NULL }
#define SUDO_SHAPE { .types = SHAPE_STRING | SHAPE_LIST | SHAPE_BOOLEAN | SHAPE_NULL }
#define KEYS_SHAPE { .types = SHAPE_STRING | SHAPE_LIST | SHAPE_MAPPING | SHAPE_NULL }
#define NUMBER_SHAPE { .types = SHAPE_INTEGER | SHAPE_STRING | SHAPE_NULL }

static const KeyField user_fields[] = {
        { .name = "name", .shape = STRING_SHAPE,
          .description = KEY_DESCRIPTION("The login name. A user without one configures the image's "
                                         "default user.") },
        { .name = "gecos", .shape = STRING_SHAPE,
          .description = KEY_DESCRIPTION("The comment field of the account, usually the real name.") },
        { .name = "homedir", .shape = STRING_SHAPE,
          .description = KEY_DESCRIPTION("The home directory. Default: /home/<name>.") },
        { .name = "primary_group", .shape = STRING_SHAPE,
          .description = KEY_DESCRIPTION("The primary group. Default: a group named after the user.") },
        { .name = "groups", .shape = GROUP_NAMES_SHAPE,
          .description = KEY_DESCRIPTION("Supplementary groups: a comma-separated string or a list of "
                                         "group names.") },
        { .name = "shell", .shape = STRING_SHAPE,
          .description = KEY_DESCRIPTION("The login shell. Default: useradd's default.") },
        { .name = "uid", .shape = NUMBER_SHAPE,
          .description = KEY_DESCRIPTION("The user id, a number. A string of digits is accepted with a "
                                         "warning.") },
        { .name = "expiredate", .shape = STRING_SHAPE,
          .description = KEY_DESCRIPTION("The date (YYYY-MM-DD) on which the account is disabled.") },
        { .name = "inactive", .shape = NUMBER_SHAPE,
          .description = KEY_DESCRIPTION("The days after a password expires until the account is "
                                         "disabled.") },
        { .name = "selinux_user", .shape = STRING_SHAPE,
          .description = KEY_DESCRIPTION("The SELinux user of the login.") },
        { .name = "passwd", .shape = STRING_SHAPE,
          .description = KEY_DESCRIPTION("A password hash, set only when the user is created.") },
        { .name = "hashed_passwd", .shape = STRING_SHAPE,
          .description = KEY_DESCRIPTION("A password hash, set on new and existing users.") },
        { .name = "plain_text_passwd", .shape = STRING_SHAPE,
          .description = KEY_DESCRIPTION("A clear-text password, set on new and existing users.") },
        { .name = "lock_passwd", .shape = BOOLEAN_SHAPE,
          .description = KEY_DESCRIPTION("Lock the password, so it cannot be used to log in. Default: "
                                         "true.") },
        { .name = "sudo", .shape = SUDO_SHAPE,
          .description = KEY_DESCRIPTION("A sudo rule or a list of them, written after the user's name "
                                         "to a sudoers drop-in. false or null adds none.") },
        { .name = "ssh_authorized_keys", .shape = KEYS_SHAPE,
          .description = KEY_DESCRIPTION("Public keys written to the user's ~/.ssh/authorized_keys.") },
        { .name = "system", .shape = BOOLEAN_SHAPE,
          .description = KEY_DESCRIPTION("Create a system account, without a home directory. Default: "
                                         "false.") },
        { .name = "no_create_home", .shape = BOOLEAN_SHAPE,
          .description = KEY_DESCRIPTION("Do not create the home directory. Default: false.") },
        { .name = "create_groups", .shape = BOOLEAN_SHAPE,
          .description = KEY_DESCRIPTION("Create the groups listed under groups when missing. Default: "
                                         "true.") },
        { .name = "no_user_group", .shape = BOOLEAN_SHAPE,
          .description = KEY_DESCRIPTION("Do not create a group named after the user. Default: false.") },
        { .name = "no_log_init", .shape = BOOLEAN_SHAPE,
          .description = KEY_DESCRIPTION("Do not add the user to the lastlog and faillog databases. "
                                         "Default: false.") },
        { .name = "doas", .shape = {},
          .description = KEY_DESCRIPTION("doas rules. kiln does not support them yet and warns.") },
        { .name = "snapuser", .shape = {},
          .description = KEY_DESCRIPTION("A Snap Store account. kiln does not support it yet and warns.") },
        { .name = "ssh_import_id", .shape = {},
          .description = KEY_DESCRIPTION("Key ids to import from Launchpad or GitHub. kiln does not "
                                         "support them yet and warns.") },
        { .name = "ssh_redirect_user", .shape = {},
          .description = KEY_DESCRIPTION("Redirect SSH logins to the default user. kiln does not "
                                         "support it yet and warns unless it is false.") },
        { .name = "lock-passwd", .shape = BOOLEAN_SHAPE, .replaced_by = "lock_passwd" },
        { .name = "no-create-home", .shape = BOOLEAN_SHAPE, .replaced_by = "no_create_home" },
        { .name = "no-log-init", .shape = BOOLEAN_SHAPE, .replaced_by = "no_log_init" },
        { .name = "no-user-group", .shape = BOOLEAN_SHAPE, .replaced_by = "no_user_group" },
        { .name = "create-groups", .shape = BOOLEAN_SHAPE, .replaced_by = "create_groups" },
        { .name = "hashed-passwd", .shape = STRING_SHAPE, .replaced_by = "hashed_passwd" },
        { .name = "plain-text-passwd", .shape = STRING_SHAPE, .replaced_by = "plain_text_passwd" },
        { .name = "primary-group", .shape = STRING_SHAPE, .replaced_by = "primary_group" },
        { .name = "selinux-user", .shape = STRING_SHAPE, .replaced_by = "selinux_user" },
        { .name = "ssh-authorized-keys", .shape = KEYS_SHAPE, .replaced_by = "ssh_authorized_keys" },
        { .name = "ssh-import-id", .shape = {}, .replaced_by = "ssh_import_id" },
        { .name = "ssh-redirect-user", .shape = {}, .replaced_by = "ssh_redirect_user" },
        {}
};

/* An item of the users list: "default", a comma-separated string of names, a list of names, or a
 * mapping of one user's keys. */
static const KeyShape users_item_shape = {
        .types = SHAPE_STRING | SHAPE_LIST | SHAPE_MAPPING,
        .fields = user_fields,
};

/* The value of a name in the old mapping form of users: the user's keys, or true. */
static const KeyShape users_old_value_shape = {
        .types = SHAPE_MAPPING | SHAPE_BOOLEAN | SHAPE_STRING | SHAPE_INTEGER | SHAPE_NULL,
        .fields = user_fields,
};

static const KeyField users_groups_fields[] = {
        { .name = "users",
          .shape = { .types = SHAPE_LIST | SHAPE_STRING | SHAPE_MAPPING | SHAPE_NULL, .items = &users_item_shape,
                     .other_fields = &users_old_value_shape, .check = users_check },
          .description = KEY_DESCRIPTION("The users to create or update: a list of 'default' (the "
                                         "image's default user) and of mappings with name and the "
                                         "user's keys. Without users, the default user is created.") },
        { .name = "user",
          .shape = { .fields = user_fields, .check = user_check },
          .description = KEY_DESCRIPTION("A user name, or a mapping of a user's keys, that overrides "
                                         "the image's default user, which is then created even when "
                                         "users does not list it.") },
        { .name = "groups",
          .shape = { .types = SHAPE_LIST | SHAPE_STRING | SHAPE_MAPPING | SHAPE_NULL, .check = groups_check },
          .description = KEY_DESCRIPTION("Groups to create: a list of names and of mappings of a name "
                                         "to its members (a user name or a list of them).") },
        {}
};

static const char *const users_groups_config_keys[] = { "users", "user", "groups", NULL };

const AgentModule module_users_groups = {
        .name = "users_groups",
        .config_keys = users_groups_config_keys,
        .config_fields = users_groups_fields,
        /* The image's default user is created without any of these keys too. */
        .always_run = true,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = users_groups_run,
};
