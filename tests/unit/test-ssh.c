/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/ssh.c on a scratch root without ssh-keygen: option parsing, the
 * disable_root options, sshd_config editing, host key files and fingerprints. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"
#include "validate.h"

#define SSHD_CONFIG "/etc/ssh/sshd_config"
#define DROPIN "/etc/ssh/sshd_config.d/50-kiln.conf"
#define ROOT_KEYS "/root/.ssh/authorized_keys"

/* Public keys made with ssh-keygen, and what `ssh-keygen -l -f` printed for them. */
#define ED25519_PUB "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH7WnU2MKCUa9HCgIYsd736MIT0Aswfvz+X0TKwK1MJT root@example"
#define ED25519_FP "256 SHA256:2+G6t7v+vyCikt/NN8EQrtWprBdOhkAP51hhAoaNGqc root@example (ED25519)"
#define RSA_PUB                                                                                            \
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCgAn/pAmCGqHyXkEApk9cQuX+gtlWl7d2ZURo6l+qEdH9aGkYZuYPbXf0z2PVz" \
        "HTwl6RCPpuLAa7k4ttsAEYIMtTwQOxziJ3CpFnbNQeulLtZhGakneIweQX7b81EzyclUpMi132B+GeDTuSItj/N5s5QBiJotY+b1" \
        "XEfR04jUj1uLfKksU0gWQrKGMDBrptuLDMS00nokSyYnq5VfTngfo/olgCp5hUqAZGGDdImXhOHrVR3ntUPpQQdllbs1V8xP3jNo9" \
        "AkoMIwn1LcgN3tym0NwQ9OHI1TlimiS2VLr3y6NgqHxReKoMN/Id4WNIBF5Joba4jMXFZroixOVoxjL web key"
#define RSA_FP "2048 SHA256:/rW0mYDpZYWrZbFolM2KunvebGIZrPIzz8Av8ah7/xc web key (RSA)"
#define ECDSA_PUB                                                                                          \
        "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBLWULpVMjrba343/YAkjEkvdQRn8k1" \
        "AL/YkVluPieJzjN4tc032Bh6xJMgIxkxC+rdS7PDqGKhmLl2L+Jef0HtCWJBLMyFtrBcmSIku7APmLGWoolCyKeC0VcSLiFpmVWw== "
#define ECDSA_FP "384 SHA256:416CO09Z8TXRDWFWN6b8aimTNtC26heAkD9z0Xhhyyw no comment (ECDSA)"

#define USER_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH7WnU2MKCUa9HCgIYsd736MIT0Aswfvz+X0TKwK1MJT alice@example.com"
#define META_KEY "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCgAn/pAmCGqHyXkEApk9cQuX test-key"

/* cloud-init's default disable_root_opts with $USER and $DISABLE_USER filled in. */
#define DISABLE_ROOT_PREFIX(user)                                                                   \
        "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command=\"echo 'Please login as " \
        "the user \\\"" user "\\\" rather than the user \\\"root\\\".';echo;sleep 10;exit 142\" "

typedef struct SshTest {
        TestRoot *root;
        Instance instance;
        char stderr_path[64];
} SshTest;

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "admin:x:1000:1000::/home/admin:/bin/sh\n"
                             "alice:x:1001:1001::/home/alice:/bin/sh\n"
                             "bob:x:1002:1002::/home/bob:/bin/sh\n";

static int setup(void **state) {
        SshTest *t = calloc(1, sizeof(SshTest));
        int fd = -1;

        assert_non_null(t);
        t->root = test_root_new();
        t->root->ctx.current = "ssh";
        assert_int_equal(root_mkdir_p(t->root->ctx.root_fd, "/root", 0700, 0, 0), 1);
        assert_int_equal(root_mkdir_p(t->root->ctx.root_fd, "/home/admin", 0755, 1000, 1000), 1);
        assert_int_equal(root_mkdir_p(t->root->ctx.root_fd, "/home/alice", 0755, 1001, 1001), 1);
        assert_int_equal(root_mkdir_p(t->root->ctx.root_fd, "/home/bob", 0755, 1002, 1002), 1);
        assert_int_equal(root_mkdir_p(t->root->ctx.root_fd, "/etc/ssh", 0755, 0, 0), 1);
        assert_int_equal(write_file_atomic(t->root->ctx.root_fd, "/etc/passwd", passwd, strlen(passwd), 0644, 0, 0,
                                           0), 0);

        (void) snprintf(t->stderr_path, sizeof(t->stderr_path), "/tmp/kiln-unit-stderr-XXXXXX");
        fd = mkstemp(t->stderr_path);
        assert_true(fd >= 0);
        (void) close(fd);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        SshTest *t = *state;

        json_decref(t->instance.metadata);
        test_root_free(t->root);
        (void) unlink(t->stderr_path);
        free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((SshTest *) *state)->root->ctx;
}

/* Give the context an instance whose metadata offers these public keys (a JSON list). */
static void set_metadata_keys(void **state, const char *json) {
        SshTest *t = *state;

        json_decref(t->instance.metadata);
        t->instance.metadata = json_pack("{s:s, s:o}", "instance_id", "i-0123456789abcdef0", "public_ssh_keys",
                                         json_loads(json, 0, NULL));
        assert_non_null(t->instance.metadata);
        t->root->ctx.instance = &t->instance;
}

/* Run the module on a config given as JSON, with stderr going to the test's file. */
static int run(void **state, const char *json) {
        SshTest *t = *state;
        Context *ctx = ctx_of(state);
        json_error_t error;
        int saved, fd, r;

        json_decref(ctx->config);
        ctx->config = json_loads(json, 0, &error);
        if (!ctx->config)
                fail_msg("bad test JSON at %d: %s", error.line, error.text);

        (void) fflush(stderr);
        saved = dup(STDERR_FILENO);
        fd = open(t->stderr_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(saved >= 0 && fd >= 0);
        assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        (void) close(fd);

        r = module_ssh.run(ctx, ctx->config);

        (void) fflush(stderr);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        (void) close(saved);
        return r;
}

static void put_file(void **state, const char *path, const char *content) {
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, path, content, strlen(content), 0644, 0, 0,
                                           WRITE_MKDIR_PARENTS), 0);
}

static char *file_text(void **state, const char *path) {
        char *data = NULL;
        size_t size = 0;

        assert_int_equal(read_file_at(ctx_of(state)->root_fd, path, 1 << 20, &data, &size), 0);
        return data;
}

static void assert_file(void **state, const char *path, const char *expected) {
        _cleanup_free_ char *data = file_text(state, path);

        assert_string_equal(data, expected);
}

static void assert_absent(void **state, const char *path) {
        assert_int_equal(root_exists(ctx_of(state)->root_fd, path), 0);
}

static mode_t file_mode(void **state, const char *path) {
        _cleanup_close_ int fd = root_open(ctx_of(state)->root_fd, path, O_RDONLY, 0);
        struct stat st;

        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        return st.st_mode & 07777;
}

static char *stderr_text(void **state) {
        SshTest *t = *state;
        char *data = NULL;
        size_t size = 0;
        FILE *f = fopen(t->stderr_path, "re");

        assert_non_null(f);
        assert_int_not_equal(getdelim(&data, &size, '\0', f), -1);
        (void) fclose(f);
        return data;
}

static bool has_message(const json_t *list, const char *needle) {
        const json_t *entry;
        size_t i;

        json_array_foreach(list, i, entry)
                if (strstr(json_string_value(json_object_get(entry, "message")), needle))
                        return true;
        return false;
}

static size_t n_errors(void **state) {
        return json_array_size(ctx_of(state)->errors);
}

static size_t n_warnings(void **state) {
        return json_array_size(ctx_of(state)->warnings);
}

/* Option parsing. */

static void ssh_pwauth_true_sets_yes(void **state) {
        put_file(state, SSHD_CONFIG, "Port 22\n");

        assert_int_equal(run(state, "{\"ssh_pwauth\": true}"), 1);
        assert_file(state, SSHD_CONFIG, "Port 22\nPasswordAuthentication yes\n");
        assert_int_equal(n_errors(state), 0);
        assert_int_equal(n_warnings(state), 0);
}

static void ssh_pwauth_string_no_warns(void **state) {
        put_file(state, SSHD_CONFIG, "Port 22\n");

        assert_int_equal(run(state, "{\"ssh_pwauth\": \"no\"}"), 1);
        assert_file(state, SSHD_CONFIG, "Port 22\nPasswordAuthentication no\n");
        assert_int_equal(n_errors(state), 0);
        assert_true(has_message(ctx_of(state)->warnings, "ssh_pwauth: expected boolean, got the string 'no'"));
}

static void ssh_pwauth_string_yes_warns(void **state) {
        put_file(state, SSHD_CONFIG, "Port 22\n");

        assert_int_equal(run(state, "{\"ssh_pwauth\": \"On\"}"), 1);
        assert_file(state, SSHD_CONFIG, "Port 22\nPasswordAuthentication yes\n");
        assert_int_equal(n_warnings(state), 1);
}

static void ssh_pwauth_maybe_is_error(void **state) {
        put_file(state, SSHD_CONFIG, "Port 22\n");

        assert_true(run(state, "{\"ssh_pwauth\": \"maybe\"}") < 0);
        assert_file(state, SSHD_CONFIG, "Port 22\n");
        assert_absent(state, DROPIN);
        assert_true(has_message(ctx_of(state)->errors, "ssh_pwauth: expected boolean, got 'maybe'"));
}

static void ssh_pwauth_number_is_error(void **state) {
        put_file(state, SSHD_CONFIG, "Port 22\n");

        assert_true(run(state, "{\"ssh_pwauth\": 1}") < 0);
        assert_file(state, SSHD_CONFIG, "Port 22\n");
        assert_true(has_message(ctx_of(state)->errors, "ssh_pwauth: expected boolean, got 1"));
}

static void ssh_pwauth_unchanged_leaves_config(void **state) {
        put_file(state, SSHD_CONFIG, "PasswordAuthentication no\n");

        assert_int_equal(run(state, "{\"ssh_pwauth\": \"unchanged\"}"), 0);
        assert_file(state, SSHD_CONFIG, "PasswordAuthentication no\n");
        assert_true(has_message(ctx_of(state)->warnings, "PasswordAuthentication is left unchanged"));
}

static void ssh_pwauth_null_leaves_config(void **state) {
        put_file(state, SSHD_CONFIG, "PasswordAuthentication no\n");

        assert_int_equal(run(state, "{\"ssh_pwauth\": null}"), 0);
        assert_file(state, SSHD_CONFIG, "PasswordAuthentication no\n");
        assert_int_equal(n_warnings(state), 0);
}

static void ssh_pwauth_without_sshd_warns(void **state) {
        assert_int_equal(run(state, "{\"ssh_pwauth\": true}"), 0);
        assert_absent(state, SSHD_CONFIG);
        assert_absent(state, DROPIN);
        assert_true(has_message(ctx_of(state)->warnings, "ssh_pwauth: the image has no /etc/ssh/sshd_config"));
}

static void disable_root_string_warns(void **state) {
        assert_int_equal(run(state, "{\"disable_root\": \"off\", \"ssh_authorized_keys\": [\"" USER_KEY "\"]}"), 1);
        assert_file(state, ROOT_KEYS, USER_KEY "\n");
        assert_true(has_message(ctx_of(state)->warnings, "disable_root: expected boolean, got the string 'off'"));
}

static void disable_root_invalid_keeps_prefix(void **state) {
        assert_true(run(state, "{\"disable_root\": \"sometimes\", \"ssh_authorized_keys\": [\"" USER_KEY "\"]}") < 0);
        assert_file(state, ROOT_KEYS, DISABLE_ROOT_PREFIX("NONE") USER_KEY "\n");
        assert_true(has_message(ctx_of(state)->errors, "disable_root: expected boolean, got 'sometimes'"));
}

static void ssh_deletekeys_invalid_keeps_keys(void **state) {
        put_file(state, "/etc/ssh/ssh_host_ed25519_key.pub", ED25519_PUB "\n");

        assert_true(run(state, "{\"ssh_deletekeys\": [true]}") < 0);
        assert_file(state, "/etc/ssh/ssh_host_ed25519_key.pub", ED25519_PUB "\n");
        assert_true(has_message(ctx_of(state)->errors, "ssh_deletekeys: expected boolean, got [true]"));
}

static void ssh_authorized_keys_string_warns(void **state) {
        assert_int_equal(run(state, "{\"ssh_authorized_keys\": \"" USER_KEY "\"}"), 1);
        assert_file(state, ROOT_KEYS, DISABLE_ROOT_PREFIX("NONE") USER_KEY "\n");
        assert_true(has_message(ctx_of(state)->warnings, "ssh_authorized_keys: expected a list, got a string"));
}

static void ssh_authorized_keys_invalid_item_skipped(void **state) {
        assert_true(run(state, "{\"ssh_authorized_keys\": [\"not a key\", {\"a\": 1}, \"" USER_KEY "\"]}") < 0);
        assert_file(state, ROOT_KEYS, DISABLE_ROOT_PREFIX("NONE") USER_KEY "\n");
        assert_true(has_message(ctx_of(state)->errors, "ssh_authorized_keys[0] is not an SSH public key"));
        assert_true(has_message(ctx_of(state)->errors, "ssh_authorized_keys[1]: expected a public key as a string, got a mapping"));
        assert_int_equal(n_errors(state), 2);
}

static void ssh_authorized_keys_two_lines_rejected(void **state) {
        assert_true(run(state, "{\"ssh_authorized_keys\": [\"" USER_KEY "\\n" RSA_PUB "\\n\"]}") < 0);
        assert_absent(state, ROOT_KEYS);
        assert_true(has_message(ctx_of(state)->errors, "ssh_authorized_keys[0] holds more than one line"));
}

static void ssh_authorized_keys_final_newline_dropped(void **state) {
        assert_int_equal(run(state, "{\"disable_root\": false, \"ssh_authorized_keys\": [\"" USER_KEY "\\n\"]}"), 1);
        assert_file(state, ROOT_KEYS, USER_KEY "\n");
        assert_int_equal(n_errors(state), 0);
}

/* Key type validation. */

static void ssh_genkeytypes_unknown_is_error(void **state) {
        assert_true(run(state, "{\"ssh_genkeytypes\": [\"rsa\", \"dsa\", 5]}") < 0);
        assert_true(has_message(ctx_of(state)->errors, "ssh_genkeytypes[1]: unsupported key type \"dsa\", expected"));
        assert_true(has_message(ctx_of(state)->errors, "ssh_genkeytypes[2]: unsupported key type 5, expected"));
}

static void ssh_genkeytypes_string_warns(void **state) {
        /* The scratch root has no ssh-keygen, so the explicit request cannot be met. */
        assert_true(run(state, "{\"ssh_genkeytypes\": \"ed25519\"}") < 0);
        assert_true(has_message(ctx_of(state)->warnings, "ssh_genkeytypes: expected a list, got the string 'ed25519'"));
        assert_true(has_message(ctx_of(state)->errors, "the image has no ssh-keygen"));
}

static void ssh_genkeytypes_default_without_keygen_is_quiet(void **state) {
        assert_int_equal(run(state, "{}"), 0);
        assert_int_equal(n_errors(state), 0);
        assert_int_equal(n_warnings(state), 0);
}

static void ssh_genkeytypes_empty_generates_nothing(void **state) {
        put_file(state, "/etc/ssh/ssh_host_rsa_key", "image key\n");

        assert_int_equal(run(state, "{\"ssh_genkeytypes\": []}"), 1);
        assert_absent(state, "/etc/ssh/ssh_host_rsa_key");
        assert_int_equal(n_errors(state), 0);
}

static void ssh_keys_unknown_entries_warn(void **state) {
        assert_int_equal(run(state, "{\"ssh_keys\": {\"dsa_private\": \"x\", \"ed25519-sk_public\": \"x\", "
                                    "\"ed25519_public\": \"" ED25519_PUB "\"}}"), 1);
        assert_true(has_message(ctx_of(state)->warnings, "unknown entry 'dsa_private'"));
        assert_true(has_message(ctx_of(state)->warnings, "'ed25519-sk_public' is a security-key type"));
        assert_file(state, "/etc/ssh/ssh_host_ed25519_key.pub", ED25519_PUB "\n");
        assert_absent(state, "/etc/ssh/ssh_host_dsa_key");
}

static void ssh_keys_list_is_error(void **state) {
        assert_true(run(state, "{\"ssh_keys\": [\"rsa_private\"]}") < 0);
        assert_true(has_message(ctx_of(state)->errors, "ssh_keys: expected a mapping"));
}

/* Host key files. */

static void ssh_keys_written_with_modes(void **state) {
        put_file(state, SSHD_CONFIG, "Port 22\n");

        assert_int_equal(run(state, "{\"ssh_keys\": {\"ed25519_private\": \"-----BEGIN OPENSSH PRIVATE KEY-----\\n"
                                    "TESTONLY\\n-----END OPENSSH PRIVATE KEY-----\", \"ed25519_public\": \""
                                    ED25519_PUB "\\n\", \"ed25519_certificate\": \"ssh-ed25519-cert-v01@openssh.com "
                                    "AAAA root@example\"}}"), 1);
        assert_file(state, "/etc/ssh/ssh_host_ed25519_key",
                    "-----BEGIN OPENSSH PRIVATE KEY-----\nTESTONLY\n-----END OPENSSH PRIVATE KEY-----\n");
        assert_int_equal(file_mode(state, "/etc/ssh/ssh_host_ed25519_key"), 0600);
        assert_file(state, "/etc/ssh/ssh_host_ed25519_key.pub", ED25519_PUB "\n");
        assert_int_equal(file_mode(state, "/etc/ssh/ssh_host_ed25519_key.pub"), 0644);
        assert_int_equal(file_mode(state, "/etc/ssh/ssh_host_ed25519_key-cert.pub"), 0644);
        assert_file(state, SSHD_CONFIG, "Port 22\nHostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub\n");
        assert_int_equal(n_errors(state), 0);
}

static void ssh_keys_private_never_logged(void **state) {
        _cleanup_free_ char *err = NULL;
        _cleanup_free_ char *errors = NULL;

        assert_true(run(state, "{\"ssh_keys\": {\"rsa_private\": \"SECRET-KEY-MATERIAL\"}}") < 0);
        err = stderr_text(state);
        errors = json_dumps(ctx_of(state)->errors, 0);
        assert_null(strstr(err, "SECRET-KEY-MATERIAL"));
        assert_null(strstr(errors, "SECRET-KEY-MATERIAL"));
        assert_true(has_message(ctx_of(state)->errors, "rsa_private has no rsa_public"));
}

static void ssh_keys_certificate_not_repeated(void **state) {
        const char *config = "{\"ssh_keys\": {\"rsa_certificate\": \"ssh-rsa-cert-v01@openssh.com AAAA\"}}";

        put_file(state, SSHD_CONFIG, "HostCertificate /etc/ssh/ssh_host_rsa_key-cert.pub\n");
        assert_int_equal(run(state, config), 1);
        assert_file(state, SSHD_CONFIG, "HostCertificate /etc/ssh/ssh_host_rsa_key-cert.pub\n");
}

static void ssh_deletekeys_removes_host_keys_only(void **state) {
        put_file(state, "/etc/ssh/ssh_host_rsa_key", "image key\n");
        put_file(state, "/etc/ssh/ssh_host_rsa_key.pub", RSA_PUB "\n");
        put_file(state, "/etc/ssh/ssh_host_ed25519_key-cert.pub", "cert\n");
        put_file(state, "/etc/ssh/moduli", "moduli\n");
        put_file(state, SSHD_CONFIG, "Port 22\n");

        /* Without ssh-keygen in the scratch root nothing replaces them, which is an error. */
        assert_true(run(state, "{}") < 0);
        assert_absent(state, "/etc/ssh/ssh_host_rsa_key");
        assert_absent(state, "/etc/ssh/ssh_host_rsa_key.pub");
        assert_absent(state, "/etc/ssh/ssh_host_ed25519_key-cert.pub");
        assert_file(state, "/etc/ssh/moduli", "moduli\n");
        assert_file(state, SSHD_CONFIG, "Port 22\n");
        assert_true(has_message(ctx_of(state)->errors, "Failed to generate SSH host keys"));
}

static void ssh_deletekeys_false_keeps_keys(void **state) {
        put_file(state, "/etc/ssh/ssh_host_rsa_key", "image key\n");

        assert_int_equal(run(state, "{\"ssh_deletekeys\": false}"), 0);
        assert_file(state, "/etc/ssh/ssh_host_rsa_key", "image key\n");
        assert_int_equal(n_errors(state), 0);
}

/* Fingerprints. */

static void fingerprints_printed_like_ssh_keygen(void **state) {
        _cleanup_free_ char *err = NULL;

        put_file(state, "/etc/ssh/ssh_host_ed25519_key.pub", ED25519_PUB "\n");
        put_file(state, "/etc/ssh/ssh_host_rsa_key.pub", RSA_PUB "\n");
        put_file(state, "/etc/ssh/ssh_host_ecdsa_key.pub", ECDSA_PUB "\n");

        assert_int_equal(run(state, "{\"ssh_deletekeys\": false}"), 0);
        err = stderr_text(state);
        assert_non_null(strstr(err, "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
                                    ECDSA_FP "\n" ED25519_FP "\n" RSA_FP "\n"
                                    "-----END SSH HOST KEY FINGERPRINTS-----\n"));
        assert_non_null(strstr(err, "-----BEGIN SSH HOST KEY KEYS-----\n"
                                    ECDSA_PUB "\n" ED25519_PUB "\n" RSA_PUB "\n"
                                    "-----END SSH HOST KEY KEYS-----\n"));
        assert_non_null(strstr(err, "SSH host key fingerprint: " ED25519_FP "\n"));
}

static void fingerprints_skip_bad_key(void **state) {
        _cleanup_free_ char *err = NULL;

        put_file(state, "/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAnotbase64!\n");
        put_file(state, "/etc/ssh/ssh_host_rsa_key.pub", RSA_PUB "\n");

        assert_int_equal(run(state, "{\"ssh_deletekeys\": false}"), 0);
        err = stderr_text(state);
        assert_non_null(strstr(err, RSA_FP));
        assert_true(has_message(ctx_of(state)->warnings, "'/etc/ssh/ssh_host_ed25519_key.pub': not a public key"));
}

static void fingerprints_none_without_keys(void **state) {
        _cleanup_free_ char *err = NULL;

        assert_int_equal(run(state, "{}"), 0);
        err = stderr_text(state);
        assert_null(strstr(err, "BEGIN SSH HOST KEY"));
}

/* disable_root and the authorized keys. */

static void disable_root_prefix_names_default_user(void **state) {
        assert_int_equal(run(state, "{\"system_info\": {\"default_user\": {\"name\": \"admin\"}}, "
                                    "\"ssh_authorized_keys\": [\"" USER_KEY "\"]}"), 1);
        assert_file(state, ROOT_KEYS, DISABLE_ROOT_PREFIX("admin") USER_KEY "\n");
        assert_file(state, "/home/admin/.ssh/authorized_keys", USER_KEY "\n");
        assert_int_equal(file_mode(state, "/home/admin/.ssh/authorized_keys"), 0600);
        assert_int_equal(file_mode(state, "/home/admin/.ssh"), 0700);
}

static void disable_root_prefix_without_default_user(void **state) {
        assert_int_equal(run(state, "{\"ssh_authorized_keys\": [\"" USER_KEY "\"]}"), 1);
        assert_file(state, ROOT_KEYS, DISABLE_ROOT_PREFIX("NONE") USER_KEY "\n");
        assert_int_equal(file_mode(state, ROOT_KEYS), 0600);
}

static void disable_root_false_no_prefix(void **state) {
        assert_int_equal(run(state, "{\"disable_root\": false, \"ssh_authorized_keys\": [\"" USER_KEY "\"]}"), 1);
        assert_file(state, ROOT_KEYS, USER_KEY "\n");
}

static void disable_root_opts_substituted(void **state) {
        assert_int_equal(run(state, "{\"system_info\": {\"default_user\": {\"name\": \"admin\"}}, "
                                    "\"disable_root_opts\": \"no-pty,command=\\\"echo $USER not $DISABLE_USER $USER\\\"\", "
                                    "\"ssh_authorized_keys\": [\"" USER_KEY "\"]}"), 1);
        assert_file(state, ROOT_KEYS, "no-pty,command=\"echo admin not root admin\" " USER_KEY "\n");
}

static void disable_root_prefix_replaces_existing_line(void **state) {
        put_file(state, ROOT_KEYS, "# image key\n" USER_KEY "\n");

        assert_int_equal(run(state, "{\"ssh_authorized_keys\": [\"" USER_KEY "\"]}"), 1);
        assert_file(state, ROOT_KEYS, "# image key\n" DISABLE_ROOT_PREFIX("NONE") USER_KEY "\n");
        assert_int_equal(run(state, "{\"ssh_authorized_keys\": [\"" USER_KEY "\"]}"), 0);
}

static void metadata_keys_go_to_root_prefixed(void **state) {
        set_metadata_keys(state, "[\"" META_KEY "\", \"garbage\"]");

        assert_int_equal(run(state, "{}"), 1);
        assert_file(state, ROOT_KEYS, DISABLE_ROOT_PREFIX("NONE") META_KEY "\n");
        assert_true(has_message(ctx_of(state)->warnings, "metadata public-keys[1] is not an SSH public key"));
        assert_int_equal(n_errors(state), 0);
}

static void metadata_keys_not_allowed(void **state) {
        set_metadata_keys(state, "[\"" META_KEY "\"]");

        assert_int_equal(run(state, "{\"allow_public_ssh_keys\": false}"), 0);
        assert_absent(state, ROOT_KEYS);
}

static void authorized_keys_user_listed_first(void **state) {
        assert_int_equal(run(state, "{\"system_info\": {\"default_user\": {\"name\": \"admin\"}}, "
                                    "\"users\": [{\"name\": \"alice\"}, \"bob\"], "
                                    "\"ssh_authorized_keys\": [\"" USER_KEY "\"]}"), 1);
        assert_file(state, "/home/alice/.ssh/authorized_keys", USER_KEY "\n");
        assert_absent(state, "/home/admin/.ssh/authorized_keys");
        assert_absent(state, "/home/bob/.ssh/authorized_keys");
        assert_file(state, ROOT_KEYS, DISABLE_ROOT_PREFIX("alice") USER_KEY "\n");
}

static void authorized_keys_default_listed(void **state) {
        assert_int_equal(run(state, "{\"system_info\": {\"default_user\": {\"name\": \"admin\"}}, "
                                    "\"users\": [\"alice\", \"default\"], "
                                    "\"ssh_authorized_keys\": [\"" USER_KEY "\"]}"), 1);
        assert_file(state, "/home/admin/.ssh/authorized_keys", USER_KEY "\n");
        assert_absent(state, "/home/alice/.ssh/authorized_keys");
}

static void authorized_keys_users_string(void **state) {
        assert_int_equal(run(state, "{\"system_info\": {\"default_user\": {\"name\": \"admin\"}}, "
                                    "\"users\": \" bob , alice\", "
                                    "\"ssh_authorized_keys\": [\"" USER_KEY "\"]}"), 1);
        assert_file(state, "/home/bob/.ssh/authorized_keys", USER_KEY "\n");
        assert_absent(state, "/home/admin/.ssh/authorized_keys");
}

static void authorized_keys_missing_user_is_error(void **state) {
        assert_true(run(state, "{\"users\": [\"carol\"], \"ssh_authorized_keys\": [\"" USER_KEY "\"]}") < 0);
        assert_true(has_message(ctx_of(state)->errors, "authorized keys of 'carol': no such user"));
        assert_file(state, ROOT_KEYS, DISABLE_ROOT_PREFIX("carol") USER_KEY "\n");
}

/* sshd_config editing: the text before, the setting, the text after. */

typedef struct EditCase {
        const char *before;
        const char *config;
        const char *after;
} EditCase;

static const EditCase edit_cases[] = {
        /* An empty file gets the line. */
        { "", "{\"ssh_pwauth\": true}", "PasswordAuthentication yes\n" },
        /* A commented line stays, the setting is added. */
        { "#PasswordAuthentication yes\n", "{\"ssh_pwauth\": false}",
          "#PasswordAuthentication yes\nPasswordAuthentication no\n" },
        /* An existing value is replaced in place. */
        { "Port 22\nPasswordAuthentication no\nUsePAM yes\n", "{\"ssh_pwauth\": true}",
          "Port 22\nPasswordAuthentication yes\nUsePAM yes\n" },
        /* Keywords are case-insensitive; indentation and spelling stay; '=' is a separator. */
        { "  passwordauthentication=no\n", "{\"ssh_pwauth\": true}", "  passwordauthentication yes\n" },
        /* Every top-level occurrence is set, so the first one that sshd reads is right. */
        { "PasswordAuthentication no\nPasswordAuthentication no\n", "{\"ssh_pwauth\": true}",
          "PasswordAuthentication yes\nPasswordAuthentication yes\n" },
        /* The setting goes before the first Match block, which is left alone. */
        { "Port 22\nMatch User bob\n  PasswordAuthentication no\n", "{\"ssh_pwauth\": true}",
          "Port 22\nPasswordAuthentication yes\nMatch User bob\n  PasswordAuthentication no\n" },
        { "PasswordAuthentication no\nMatch Address 192.0.2.0/24\nPasswordAuthentication no\n",
          "{\"ssh_pwauth\": true}",
          "PasswordAuthentication yes\nMatch Address 192.0.2.0/24\nPasswordAuthentication no\n" },
        /* A file without a final newline gets one before the new line. */
        { "Port 22", "{\"ssh_pwauth\": true}", "Port 22\nPasswordAuthentication yes\n" },
        /* The last line without a newline is replaced as it is. */
        { "PasswordAuthentication no", "{\"ssh_pwauth\": true}", "PasswordAuthentication yes" },
        /* An Include inside a Match block is not read for everyone, so the main file is edited. */
        { "Match User bob\nInclude /etc/ssh/sshd_config.d/*.conf\n", "{\"ssh_pwauth\": true}",
          "PasswordAuthentication yes\nMatch User bob\nInclude /etc/ssh/sshd_config.d/*.conf\n" },
        /* An Include of other files leaves the main file as the place to edit. */
        { "Include /etc/ssh/other.d/*.conf\n", "{\"ssh_pwauth\": true}",
          "Include /etc/ssh/other.d/*.conf\nPasswordAuthentication yes\n" },
};

static void sshd_config_edit_table(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(edit_cases); i++) {
                _cleanup_free_ char *text = NULL;

                put_file(state, SSHD_CONFIG, edit_cases[i].before);
                assert_int_equal(run(state, edit_cases[i].config), 1);
                text = file_text(state, SSHD_CONFIG);
                if (!streq(text, edit_cases[i].after))
                        fail_msg("case %zu: expected '%s', got '%s'", i, edit_cases[i].after, text);
                assert_absent(state, DROPIN);
        }
}

static void sshd_config_same_value_unchanged(void **state) {
        put_file(state, SSHD_CONFIG, "PasswordAuthentication YES\n");

        assert_int_equal(run(state, "{\"ssh_pwauth\": true}"), 0);
        assert_file(state, SSHD_CONFIG, "PasswordAuthentication YES\n");
}

static void sshd_config_keeps_mode(void **state) {
        put_file(state, SSHD_CONFIG, "Port 22\n");
        assert_int_equal(fchmodat(ctx_of(state)->root_fd, "etc/ssh/sshd_config", 0640, 0), 0);

        assert_int_equal(run(state, "{\"ssh_pwauth\": false}"), 1);
        assert_int_equal(file_mode(state, SSHD_CONFIG), 0640);
}

static void sshd_config_dropin_when_included(void **state) {
        const char *main_text = "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\n"
                                "PasswordAuthentication no\n";

        put_file(state, SSHD_CONFIG, main_text);

        assert_int_equal(run(state, "{\"ssh_pwauth\": true}"), 1);
        assert_file(state, DROPIN, "PasswordAuthentication yes\n");
        assert_int_equal(file_mode(state, DROPIN), 0600);
        /* sshd reads the drop-in first, so the later line in the main file does not count. */
        assert_file(state, SSHD_CONFIG, main_text);
        assert_int_equal(run(state, "{\"ssh_pwauth\": true}"), 0);
}

static void sshd_config_dropin_relative_include(void **state) {
        put_file(state, SSHD_CONFIG, "Include sshd_config.d/*.conf\n");

        assert_int_equal(run(state, "{\"ssh_pwauth\": false}"), 1);
        assert_file(state, DROPIN, "PasswordAuthentication no\n");
        assert_file(state, SSHD_CONFIG, "Include sshd_config.d/*.conf\n");
}

static void sshd_config_dropin_updated(void **state) {
        put_file(state, SSHD_CONFIG, "Include /etc/ssh/sshd_config.d/*.conf\n");
        put_file(state, DROPIN, "# kept\nPasswordAuthentication no\n");

        assert_int_equal(run(state, "{\"ssh_pwauth\": true}"), 1);
        assert_file(state, DROPIN, "# kept\nPasswordAuthentication yes\n");
}

static void sshd_config_earlier_settings_overridden(void **state) {
        put_file(state, SSHD_CONFIG, "PasswordAuthentication no\nInclude /etc/ssh/sshd_config.d/*.conf\n"
                                     "PasswordAuthentication no\n");
        put_file(state, "/etc/ssh/sshd_config.d/10-hardening.conf", "PasswordAuthentication no\n");
        put_file(state, "/etc/ssh/sshd_config.d/50-cloud-init.conf", "Match User bob\nPasswordAuthentication no\n");
        put_file(state, "/etc/ssh/sshd_config.d/60-cloudimg.conf", "PasswordAuthentication no\n");

        assert_int_equal(run(state, "{\"ssh_pwauth\": true}"), 1);
        assert_file(state, DROPIN, "PasswordAuthentication yes\n");
        assert_file(state, SSHD_CONFIG, "PasswordAuthentication yes\nInclude /etc/ssh/sshd_config.d/*.conf\n"
                                        "PasswordAuthentication no\n");
        assert_file(state, "/etc/ssh/sshd_config.d/10-hardening.conf", "PasswordAuthentication yes\n");
        assert_file(state, "/etc/ssh/sshd_config.d/50-cloud-init.conf", "Match User bob\nPasswordAuthentication no\n");
        assert_file(state, "/etc/ssh/sshd_config.d/60-cloudimg.conf", "PasswordAuthentication no\n");
}

static void sshd_config_only_dropin_dir(void **state) {
        assert_int_equal(root_mkdir_p(ctx_of(state)->root_fd, "/etc/ssh/sshd_config.d", 0755, 0, 0), 1);

        assert_int_equal(run(state, "{\"ssh_pwauth\": true}"), 1);
        assert_file(state, DROPIN, "PasswordAuthentication yes\n");
        assert_absent(state, SSHD_CONFIG);
}

/* kiln validate and kiln run reach the same verdict on each value. */

typedef struct VerdictCase {
        const char *config;
        bool error;
        bool warning;
} VerdictCase;

static const VerdictCase verdict_cases[] = {
        { "{\"ssh_pwauth\": \"maybe\"}", true, false },
        { "{\"ssh_pwauth\": 1}", true, false },
        { "{\"ssh_pwauth\": \"no\"}", false, true },
        { "{\"ssh_pwauth\": \"UNCHANGED\"}", false, true },
        { "{\"ssh_pwauth\": false}", false, false },
        { "{\"disable_root\": \"sometimes\"}", true, false },
        { "{\"disable_root\": \"off\"}", false, true },
        { "{\"ssh_genkeytypes\": [\"rsa\", \"dsa\"]}", true, false },
        { "{\"ssh_keys\": {\"dsa_private\": \"SECRET-KEY-MATERIAL\"}}", false, true },
        { "{\"ssh_keys\": {\"rsa_private\": 5}}", true, false },
        { "{\"ssh_keys\": [\"rsa_private\"]}", true, false },
        { "{\"ssh_authorized_keys\": [\"not a key\"]}", true, false },
        { "{\"ssh_authorized_keys\": [null]}", true, false },
        { "{\"ssh_authorized_keys\": \"" USER_KEY "\"}", false, true },
        { "{\"ssh_authorized_keys\": [\"" USER_KEY "\\n\"]}", false, false },
        { "{\"disable_root_opts\": 5}", true, false },
        { "{\"ssh_publish_hostkeys\": true}", true, false },
        { "{\"ssh_publish_hostkeys\": {\"enabled\": false}}", false, false },
};

typedef struct SchemaCount {
        unsigned errors;
        unsigned warnings;
        bool secret_shown;
} SchemaCount;

static void schema_count(const SchemaDiagnostic *d, void *userdata) {
        SchemaCount *c = userdata;

        if (d->problem == SCHEMA_ERROR)
                c->errors++;
        else
                c->warnings++;
        c->secret_shown = c->secret_shown || strstr(d->message, "SECRET-KEY-MATERIAL");
}

static void validate_agrees_with_run(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(verdict_cases); i++) {
                const VerdictCase *v = &verdict_cases[i];
                json_t *config = json_loads(v->config, 0, NULL);
                SchemaCount count = {};
                size_t errors_before = n_errors(state), warnings_before = n_warnings(state);
                int r;

                assert_non_null(config);
                put_file(state, SSHD_CONFIG, "Port 22\n");
                assert_true(schema_check(config, NULL, 0, schema_count, &count) >= 0);
                json_decref(config);
                r = run(state, v->config);

                if ((count.errors > 0) != v->error)
                        fail_msg("case %zu: kiln validate found %u errors", i, count.errors);
                if ((count.warnings > 0) != v->warning)
                        fail_msg("case %zu: kiln validate found %u warnings", i, count.warnings);
                if ((r < 0) != v->error || (n_errors(state) > errors_before) != v->error)
                        fail_msg("case %zu: the module returned %d", i, r);
                if ((n_warnings(state) > warnings_before) != v->warning)
                        fail_msg("case %zu: the module warned %zu times", i, n_warnings(state) - warnings_before);
                assert_false(count.secret_shown);
        }
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(ssh_pwauth_true_sets_yes),
                T(ssh_pwauth_string_no_warns),
                T(ssh_pwauth_string_yes_warns),
                T(ssh_pwauth_maybe_is_error),
                T(ssh_pwauth_number_is_error),
                T(ssh_pwauth_unchanged_leaves_config),
                T(ssh_pwauth_null_leaves_config),
                T(ssh_pwauth_without_sshd_warns),
                T(disable_root_string_warns),
                T(disable_root_invalid_keeps_prefix),
                T(ssh_deletekeys_invalid_keeps_keys),
                T(ssh_authorized_keys_string_warns),
                T(ssh_authorized_keys_invalid_item_skipped),
                T(ssh_authorized_keys_two_lines_rejected),
                T(ssh_authorized_keys_final_newline_dropped),
                T(ssh_genkeytypes_unknown_is_error),
                T(ssh_genkeytypes_string_warns),
                T(ssh_genkeytypes_default_without_keygen_is_quiet),
                T(ssh_genkeytypes_empty_generates_nothing),
                T(ssh_keys_unknown_entries_warn),
                T(ssh_keys_list_is_error),
                T(ssh_keys_written_with_modes),
                T(ssh_keys_private_never_logged),
                T(ssh_keys_certificate_not_repeated),
                T(ssh_deletekeys_removes_host_keys_only),
                T(ssh_deletekeys_false_keeps_keys),
                T(fingerprints_printed_like_ssh_keygen),
                T(fingerprints_skip_bad_key),
                T(fingerprints_none_without_keys),
                T(disable_root_prefix_names_default_user),
                T(disable_root_prefix_without_default_user),
                T(disable_root_false_no_prefix),
                T(disable_root_opts_substituted),
                T(disable_root_prefix_replaces_existing_line),
                T(metadata_keys_go_to_root_prefixed),
                T(metadata_keys_not_allowed),
                T(authorized_keys_user_listed_first),
                T(authorized_keys_default_listed),
                T(authorized_keys_users_string),
                T(authorized_keys_missing_user_is_error),
                T(sshd_config_edit_table),
                T(sshd_config_same_value_unchanged),
                T(sshd_config_keeps_mode),
                T(sshd_config_dropin_when_included),
                T(sshd_config_dropin_relative_include),
                T(sshd_config_dropin_updated),
                T(sshd_config_earlier_settings_overridden),
                T(sshd_config_only_dropin_dir),
                T(validate_agrees_with_run),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
