/* SPDX-License-Identifier: Apache-2.0 */
/* `kiln clean`, modelled on `cloud-init clean`: the state of the last instance goes, so the next boot
 * of an image captured from this root is a new instance, while the image's own content stays.
 * A reboot without a clean keeps the state and stays the same instance. */

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "clean.h"
#include "context.h"
#include "lib/fileio.h"
#include "log.h"
#include "report.h"

#define CLEAN_STATUS_FILE KILN_RUN_DIR "/status.json"
#define CLEAN_STATUS_FILE_MAX (16U * 1024U * 1024U)
/* Directories deeper than this are not removed, because kiln's own state is a few levels deep. */
#define CLEAN_DEPTH_MAX 64U
#define MACHINE_ID_FILE "etc/machine-id"
#define SSH_DIR "etc/ssh"

/* systemd reads "uninitialized" in /etc/machine-id as "first boot": it then generates a new id and
 * runs its first-boot units. cloud-init's `clean --machine-id` writes the same. */
#define MACHINE_ID_UNINITIALIZED "uninitialized\n"

/* Entries of ROOT/var/lib/kiln that belong to the image, not to an instance. */
static bool state_entry_kept(const char *name, const CleanOptions *o) {
        return streq(name, "scripts") || (!o->seed && streq(name, "seed"));
}

/* Remove name in dir_fd and, for a directory, everything below it. Symlinks are removed, never
 * followed. Returns 0 or -errno. */
static int remove_tree_at(int dir_fd, const char *name, unsigned depth) {
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (unlinkat(dir_fd, name, 0) >= 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return negative_errno();
        if (depth >= CLEAN_DEPTH_MAX)
                return -ELOOP;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d)
                return negative_errno();
        fd = -EBADF; /* owned by d now */
        while ((de = readdir(d))) {
                int k;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                k = remove_tree_at(dirfd(d), de->d_name, depth + 1);
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

/* Remove the entries of the directory path in the root that keep() does not keep (NULL: all). */
static int clean_dir(int root_fd, const char *path, const CleanOptions *o,
                     bool (*keep)(const char *name, const CleanOptions *o)) {
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        struct dirent *de;
        int r = 0;

        fd = root_open(root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return log_error_errno(fd, "Failed to open '/%s': %m", path);
        d = fdopendir(fd);
        if (!d)
                return log_error_errno(negative_errno(), "Failed to read '/%s': %m", path);
        fd = -EBADF;
        while ((de = readdir(d))) {
                int k;

                if (streq(de->d_name, ".") || streq(de->d_name, "..") || (keep && keep(de->d_name, o)))
                        continue;
                k = remove_tree_at(dirfd(d), de->d_name, 0);
                if (k < 0) {
                        log_error_errno(k, "Failed to remove '/%s/%s': %m", path, de->d_name);
                        if (r == 0)
                                r = k;
                        continue;
                }
                log_info("Removed /%s/%s.", path, de->d_name);
        }
        closedir(d);
        return r;
}

static bool is_ssh_host_key(const char *name, const CleanOptions *o) {
        (void) o;
        return fnmatch("ssh_host_*", name, 0) == 0;
}

static bool is_not_ssh_host_key(const char *name, const CleanOptions *o) {
        return !is_ssh_host_key(name, o);
}

/* Returns the pid of a kiln run in progress on this root, 0 when there is none. */
static pid_t run_in_progress(int root_fd) {
        _cleanup_free_ char *text = NULL;
        json_t *doc, *pid;
        pid_t result = 0;
        size_t size;

        if (read_file_at(root_fd, CLEAN_STATUS_FILE, CLEAN_STATUS_FILE_MAX, &text, &size) < 0)
                return 0;
        doc = json_loadb(text, size, 0, NULL);
        pid = json_object_get(doc, "pid");
        if (streq(json_string_value(json_object_get(doc, "status")) ?: "", "running") && json_is_integer(pid) &&
            json_integer_value(pid) > 1 && json_integer_value(pid) <= INT32_MAX &&
            (kill((pid_t) json_integer_value(pid), 0) == 0 || errno == EPERM))
                result = (pid_t) json_integer_value(pid);
        json_decref(doc);
        return result;
}

static int clean_machine_id(int root_fd) {
        int r;

        r = root_exists(root_fd, MACHINE_ID_FILE);
        if (r <= 0)
                return r;
        r = write_file_atomic(root_fd, MACHINE_ID_FILE, MACHINE_ID_UNINITIALIZED, strlen(MACHINE_ID_UNINITIALIZED),
                              0444, (uid_t) -1, (gid_t) -1, WRITE_SYNC);
        if (r < 0)
                return log_error_errno(r, "Failed to write '/%s': %m", MACHINE_ID_FILE);
        log_info("Set /%s to uninitialized.", MACHINE_ID_FILE);
        return 0;
}

int clean_root(int root_fd, const char *root, const CleanOptions *o) {
        pid_t pid;
        int r = 0, k;

        pid = run_in_progress(root_fd);
        if (pid > 0) {
                log_error("A kiln run (pid %d) is in progress on '%s', not cleaning. Wait for it with "
                          "'kiln status --wait'.", (int) pid, root);
                return -EBUSY;
        }

        k = clean_dir(root_fd, KILN_STATE_DIR, o, state_entry_kept);
        if (k < 0)
                r = k;
        k = clean_dir(root_fd, KILN_RUN_DIR, o, /* keep= */ NULL);
        if (k < 0 && r == 0)
                r = k;
        if (o->logs && root_exists(root_fd, KILN_OUTPUT_LOG) > 0) {
                k = root_unlink(root_fd, KILN_OUTPUT_LOG);
                if (k < 0 && k != -ENOENT) {
                        log_error_errno(k, "Failed to remove '/%s': %m", KILN_OUTPUT_LOG);
                        if (r == 0)
                                r = k;
                } else
                        log_info("Removed /%s.", KILN_OUTPUT_LOG);
        }
        if (o->ssh_host_keys) {
                k = clean_dir(root_fd, SSH_DIR, o, is_not_ssh_host_key);
                if (k < 0 && r == 0)
                        r = k;
        }
        if (o->machine_id) {
                k = clean_machine_id(root_fd);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}
