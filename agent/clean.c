/* SPDX-License-Identifier: Apache-2.0 */
/* `kiln clean`, modelled on `cloud-init clean`: the state of the last instance goes, so the next boot
 * of an image captured from this root is a new instance, while the image's own content stays.
 * A reboot without a clean keeps the state and stays the same instance. */

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "clean.h"
#include "context.h"
#include "lib/fileio.h"
#include "log.h"
#include "report.h"
#include "state.h"

#define CLEAN_STATUS_FILE KILN_RUN_DIR "/status.json"
#define CLEAN_STATUS_FILE_MAX (16U * 1024U * 1024U)
/* Directories deeper than this are not removed, because kiln's own state is a few levels deep. */
#define CLEAN_DEPTH_MAX 64U
#define MACHINE_ID_FILE "etc/machine-id"
#define SSH_DIR "etc/ssh"
#define RUN_DIR "run"
#define RUN_LOCK_NAME "lock"
#define RUN_LOCK_FILE KILN_RUN_DIR "/" RUN_LOCK_NAME
#define STATE_LOCK_FILE KILN_STATE_DIR "/.lock"

/* systemd reads "uninitialized" in /etc/machine-id as "first boot": it then generates a new id and
 * runs its first-boot units. cloud-init's `clean --machine-id` writes the same. */
#define MACHINE_ID_UNINITIALIZED "uninitialized\n"

/* Entries of ROOT/var/lib/kiln that belong to the image, not to an instance. The lock file stays,
 * because a run that starts during the clean locks the file that clean holds. */
static bool state_entry_kept(const char *name, const CleanOptions *o) {
        return streq(name, "scripts") || (!o->seed && streq(name, "seed")) || streq(name, ".lock");
}

static bool run_entry_kept(const char *name, const CleanOptions *o) {
        (void) o;
        return streq(name, RUN_LOCK_NAME);
}

int kiln_lock_take(int root_fd, bool wait, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        const char *path;
        int r;

        assert(ret_fd);

        r = root_exists(root_fd, RUN_DIR);
        if (r < 0)
                return r;
        path = r > 0 ? RUN_LOCK_FILE : STATE_LOCK_FILE;
        r = root_mkdir_p(root_fd, r > 0 ? KILN_RUN_DIR : KILN_STATE_DIR, 0755, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return r;
        fd = root_open(root_fd, path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return fd;
        if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : negative_errno();

        *ret_fd = TAKE_FD(fd);
        return 0;
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

/* Whether the status file shows that a run is in progress: its status is running, and its process
 * is alive, or its stage is local and it names the running boot. After `kiln run --stage local` the
 * status stays running, with stage "local", for the network stage, whose process has not started
 * yet, so the pid alone does not tell. Returns true with the pid (0 when it is gone) in *ret_pid. */
static bool run_in_progress(int root_fd, pid_t *ret_pid) {
        const Context probe = { .root_fd = root_fd };
        _cleanup_free_ char *text = NULL, *boot_id = NULL;
        const char *recorded;
        json_t *doc, *pid;
        bool running, alive;
        size_t size;

        *ret_pid = 0;
        if (read_file_at(root_fd, CLEAN_STATUS_FILE, CLEAN_STATUS_FILE_MAX, &text, &size) < 0)
                return false;
        doc = json_loadb(text, size, 0, NULL);
        pid = json_object_get(doc, "pid");
        recorded = json_string_value(json_object_get(doc, "boot_id"));
        running = streq(json_string_value(json_object_get(doc, "status")) ?: "", "running");
        alive = json_is_integer(pid) && json_integer_value(pid) > 1 && json_integer_value(pid) <= INT32_MAX &&
                (kill((pid_t) json_integer_value(pid), 0) == 0 || errno == EPERM);
        if (alive)
                *ret_pid = (pid_t) json_integer_value(pid);
        /* A network stage that died leaves running with a dead pid: that is no run in progress. */
        if (running && !alive && streq(json_string_value(json_object_get(doc, "stage")) ?: "", "local") &&
            recorded && state_read_boot_id(&probe, &boot_id) >= 0 && boot_id)
                running = streq(boot_id, recorded);
        else
                running = running && alive;
        json_decref(doc);
        return running;
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
        _cleanup_close_ int lock_fd = -EBADF;
        pid_t pid;
        int r = 0, k;

        r = kiln_lock_take(root_fd, /* wait= */ false, &lock_fd);
        if (r == -EBUSY)
                return log_error_errno(r, "A kiln run holds the lock of '%s', not cleaning. Wait for it with "
                                       "'kiln status --wait'.", root);
        if (r < 0)
                return log_error_errno(r, "Failed to lock '%s' against a kiln run: %m", root);

        if (run_in_progress(root_fd, &pid)) {
                if (!o->force) {
                        if (pid > 0)
                                log_error("A kiln run (pid %d) is in progress on '%s', not cleaning. Wait for it "
                                          "with 'kiln status --wait'.", (int) pid, root);
                        else
                                log_error("The status of '%s' reads running for this boot: the network stage has "
                                          "not finished, not cleaning. Wait for it with 'kiln status --wait'.",
                                          root);
                        return -EBUSY;
                }
                log_warning("The status of '%s' reads running for this boot, cleaning anyway because of --force.",
                            root);
        }

        k = clean_dir(root_fd, KILN_STATE_DIR, o, state_entry_kept);
        if (k < 0)
                r = k;
        k = clean_dir(root_fd, KILN_RUN_DIR, o, run_entry_kept);
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
