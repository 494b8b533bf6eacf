/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/etc_hosts.c: rendering, the 127.0.1.1 edit, the module's runs and the
 * verdicts of kiln validate on manage_etc_hosts. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etc_hosts.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "schema.h"
#include "test-helpers.h"

static int setup(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(root_mkdir_p(t->ctx.root_fd, "/etc", 0755, (uid_t) -1, (gid_t) -1), 1);
        *state = t;
        return 0;
}

static int teardown(void **state) {
        test_root_free(*state);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

static int run(void **state, const char *json) {
        Context *ctx = ctx_of(state);
        json_error_t error;

        json_decref(ctx->config);
        ctx->config = json_loads(json, JSON_DECODE_ANY, &error);
        if (!ctx->config)
                fail_msg("bad test JSON at %d: %s", error.line, error.text);
        return module_etc_hosts.run(ctx, ctx->config);
}

static void put_file(void **state, const char *path, const char *content, mode_t mode) {
        assert_int_equal(write_file_atomic(ctx_of(state)->root_fd, path, content, strlen(content), mode,
                                           (uid_t) -1, (gid_t) -1, WRITE_MKDIR_PARENTS), 0);
}

static char *hosts_content(void **state) {
        char *data = NULL;
        size_t size = 0;

        assert_int_equal(read_file_at(ctx_of(state)->root_fd, "/etc/hosts", 1 << 20, &data, &size), 0);
        return data;
}

static struct stat hosts_stat(void **state) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = root_open(ctx_of(state)->root_fd, "/etc/hosts", O_RDONLY, 0);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        return st;
}

static bool has_message(const json_t *list, const char *needle) {
        const json_t *entry;
        size_t i;

        json_array_foreach(list, i, entry)
                if (strstr(json_string_value(json_object_get(entry, "message")), needle))
                        return true;
        return false;
}

static void render_builtin_both_names(void **state) {
        _cleanup_free_ char *s = NULL;

        (void) state;
        assert_int_equal(etc_hosts_render_builtin("web-1", "web-1.example.com", &s), 0);

        assert_non_null(strstr(s, "\n127.0.1.1 web-1.example.com web-1\n127.0.0.1 localhost\n"));
        assert_non_null(strstr(s, "\n::1 localhost ip6-localhost ip6-loopback\n"));
        assert_non_null(strstr(s, "set\n# manage_etc_hosts to false"));
        assert_true(s[0] == '#');
}

static void render_builtin_same_names_once(void **state) {
        _cleanup_free_ char *s = NULL;

        (void) state;
        assert_int_equal(etc_hosts_render_builtin("web-1", "web-1", &s), 0);

        assert_non_null(strstr(s, "\n127.0.1.1 web-1\n"));
}

static void render_template_jinja(void **state) {
        static const char template[] = "## template:jinja\n{# a comment -#}\n127.0.1.1 {{fqdn}} {{ hostname }}\n";
        _cleanup_free_ char *s = NULL, *message = NULL;

        (void) state;
        assert_int_equal(etc_hosts_render_template(template, strlen(template), "web-1", "web-1.example.com", &s,
                                                   &message), 0);

        assert_string_equal(s, "127.0.1.1 web-1.example.com web-1\n");
}

static void render_template_basic(void **state) {
        static const char template[] = "## template: basic\n$fqdn ${hostname} $hostnames $HOME ${fqdn}x $\n";
        _cleanup_free_ char *s = NULL, *message = NULL;

        (void) state;
        assert_int_equal(etc_hosts_render_template(template, strlen(template), "h", "h.example", &s, &message), 0);

        assert_string_equal(s, "h.example h $hostnames $HOME h.examplex $\n");
}

static void render_template_no_header_basic(void **state) {
        static const char template[] = "127.0.1.1 $fqdn $hostname";
        _cleanup_free_ char *s = NULL, *message = NULL;

        (void) state;
        assert_int_equal(etc_hosts_render_template(template, strlen(template), "h", "h.example", &s, &message), 0);

        assert_string_equal(s, "127.0.1.1 h.example h");
}

static void render_template_jinja_error(void **state) {
        static const char template[] = "## template:jinja\nok\n{% frobnicate %}\n";
        _cleanup_free_ char *s = NULL, *message = NULL;

        (void) state;
        assert_int_equal(etc_hosts_render_template(template, strlen(template), "h", "h.example", &s, &message),
                         -EINVAL);

        assert_non_null(message);
        assert_non_null(strstr(message, "line 3"));
}

static void update_local_missing_file(void **state) {
        _cleanup_free_ char *s = NULL;

        (void) state;
        assert_int_equal(etc_hosts_update_local(NULL, "web-1", "web-1.example.com", &s), 1);

        assert_non_null(strstr(s, "\n127.0.0.1 localhost\n127.0.1.1 web-1.example.com web-1\n"));
}

static void update_local_already_right(void **state) {
        _cleanup_free_ char *s = NULL;

        (void) state;
        assert_int_equal(etc_hosts_update_local("127.0.0.1 localhost\n127.0.1.1\tweb-1.example.com  alias web-1 # c\n",
                                                "web-1", "web-1.example.com", &s), 0);

        assert_null(s);
}

static void update_local_replaces_in_place(void **state) {
        _cleanup_free_ char *s = NULL;

        (void) state;
        assert_int_equal(etc_hosts_update_local("# head\n127.0.0.1 localhost\n127.0.1.1 old.example.com old\n"
                                                "10.0.0.5 db\n127.0.1.1 second\n",
                                                "web-1", "web-1.example.com", &s), 1);

        assert_string_equal(s, "# head\n127.0.0.1 localhost\n127.0.1.1 web-1.example.com web-1\n"
                               "10.0.0.5 db\n127.0.1.1 second\n");
}

static void update_local_inserted_after_loopback(void **state) {
        _cleanup_free_ char *s = NULL;

        (void) state;
        assert_int_equal(etc_hosts_update_local("127.0.0.1 localhost\n::1 localhost\n", "web-1", NULL, &s), 1);

        assert_string_equal(s, "127.0.0.1 localhost\n127.0.1.1 web-1\n::1 localhost\n");
}

static void update_local_appended_without_newline(void **state) {
        _cleanup_free_ char *s = NULL;

        (void) state;
        assert_int_equal(etc_hosts_update_local("10.0.0.5 db", "web-1", "web-1.example.com", &s), 1);

        assert_string_equal(s, "10.0.0.5 db\n127.0.1.1 web-1.example.com web-1\n");
}

static void update_local_comment_not_a_name(void **state) {
        _cleanup_free_ char *s = NULL;

        (void) state;
        assert_int_equal(etc_hosts_update_local("127.0.1.1 # web-1.example.com web-1\n", "web-1",
                                                "web-1.example.com", &s), 1);

        assert_string_equal(s, "127.0.1.1 web-1.example.com web-1\n");
}

static void etc_hosts_true_writes_builtin(void **state) {
        _cleanup_free_ char *s = NULL;
        struct stat st;

        assert_int_equal(run(state, "{\"manage_etc_hosts\": true, \"fqdn\": \"web-1.example.com\"}"), 1);

        s = hosts_content(state);
        assert_non_null(strstr(s, "\n127.0.1.1 web-1.example.com web-1\n"));
        st = hosts_stat(state);
        assert_int_equal(st.st_mode & 07777, 0644);
}

static void etc_hosts_domains_primary_name(void **state) {
        _cleanup_free_ char *s = NULL;

        assert_int_equal(run(state, "{\"manage_etc_hosts\": true, \"domains\": [\"B\u00fccher.example\"]}"), 1);

        s = hosts_content(state);
        assert_non_null(strstr(s, "\n127.0.1.1 xn--bcher-kva.example xn--bcher-kva\n"));
}

static void etc_hosts_second_run_unchanged(void **state) {
        struct stat before, after;

        assert_int_equal(run(state, "{\"manage_etc_hosts\": true, \"hostname\": \"web-1\"}"), 1);
        before = hosts_stat(state);
        assert_int_equal(run(state, "{\"manage_etc_hosts\": true, \"hostname\": \"web-1\"}"), 0);
        after = hosts_stat(state);

        assert_int_equal(before.st_ino, after.st_ino);
}

static void etc_hosts_mode_kept(void **state) {
        put_file(state, "/etc/hosts", "127.0.0.1 localhost\n", 0640);

        assert_int_equal(run(state, "{\"manage_etc_hosts\": \"localhost\", \"hostname\": \"web-1\"}"), 1);

        assert_int_equal(hosts_stat(state).st_mode & 07777, 0640);
}

static void etc_hosts_site_template(void **state) {
        _cleanup_free_ char *s = NULL;

        put_file(state, "/etc/kiln/templates/hosts.tmpl", "## template:jinja\n10.1.1.1 {{fqdn}} {{hostname}}\n", 0644);

        assert_int_equal(run(state, "{\"manage_etc_hosts\": true, \"fqdn\": \"a.example.com\"}"), 1);

        s = hosts_content(state);
        assert_string_equal(s, "10.1.1.1 a.example.com a\n");
}

static void etc_hosts_bad_site_template_error(void **state) {
        put_file(state, "/etc/kiln/templates/hosts.tmpl", "## template:jinja\n{{ hostname \n", 0644);

        assert_true(run(state, "{\"manage_etc_hosts\": true, \"hostname\": \"a\"}") < 0);

        assert_true(has_message(ctx_of(state)->errors, "Failed to render the template /etc/kiln/templates/hosts.tmpl"));
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/hosts"), 0);
}

static void etc_hosts_localhost_keeps_lines(void **state) {
        _cleanup_free_ char *s = NULL;

        put_file(state, "/etc/hosts", "127.0.0.1 localhost\n10.0.0.5 db # database\n", 0644);

        assert_int_equal(run(state, "{\"manage_etc_hosts\": \"localhost\", \"hostname\": \"web-1\"}"), 1);

        s = hosts_content(state);
        assert_string_equal(s, "127.0.0.1 localhost\n127.0.1.1 web-1\n10.0.0.5 db # database\n");
}

static void etc_hosts_false_nothing_done(void **state) {
        put_file(state, "/etc/hosts", "127.0.0.1 localhost\n", 0644);

        assert_int_equal(run(state, "{\"manage_etc_hosts\": false, \"hostname\": \"web-1\"}"), 0);

        assert_int_equal(json_array_size(ctx_of(state)->warnings), 0);
}

static void etc_hosts_template_deprecated_warns(void **state) {
        assert_int_equal(run(state, "{\"manage_etc_hosts\": \"template\", \"hostname\": \"web-1\"}"), 1);

        assert_true(has_message(ctx_of(state)->warnings, "'template' is deprecated"));
}

static void etc_hosts_string_boolean_warns(void **state) {
        assert_int_equal(run(state, "{\"manage_etc_hosts\": \"no\", \"hostname\": \"web-1\"}"), 0);

        assert_true(has_message(ctx_of(state)->warnings, "manage_etc_hosts: expected a boolean, got the string 'no'"));
}

static void etc_hosts_invalid_string_error(void **state) {
        assert_true(run(state, "{\"manage_etc_hosts\": \"Localhost\", \"hostname\": \"web-1\"}") < 0);

        assert_true(has_message(ctx_of(state)->errors, "manage_etc_hosts: expected true, false or 'localhost', got 'Localhost'"));
}

static void etc_hosts_number_error(void **state) {
        assert_true(run(state, "{\"manage_etc_hosts\": 1, \"hostname\": \"web-1\"}") < 0);

        assert_true(has_message(ctx_of(state)->errors, "manage_etc_hosts: expected true, false or 'localhost', got 1"));
}

static void etc_hosts_no_hostname_warns(void **state) {
        assert_int_equal(run(state, "{\"manage_etc_hosts\": true}"), 0);

        assert_true(has_message(ctx_of(state)->warnings, "neither the config nor the metadata names a hostname"));
        assert_int_equal(root_exists(ctx_of(state)->root_fd, "/etc/hosts"), 0);
}

static void etc_hosts_invalid_hostname_error(void **state) {
        assert_true(run(state, "{\"manage_etc_hosts\": true, \"hostname\": \"bad_name\"}") < 0);

        assert_true(has_message(ctx_of(state)->errors, "invalid hostname 'bad_name'"));
}

typedef struct SchemaCount {
        unsigned errors;
        unsigned warnings;
} SchemaCount;

static void schema_count(const SchemaDiagnostic *d, void *userdata) {
        SchemaCount *c = userdata;

        if (d->problem == SCHEMA_ERROR)
                c->errors++;
        else
                c->warnings++;
}

static void validate_agrees_with_run(void **state) {
        static const struct {
                const char *config;
                bool error;
                bool warning;
        } cases[] = {
                { "{\"manage_etc_hosts\": true, \"hostname\": \"a\"}", false, false },
                { "{\"manage_etc_hosts\": false, \"hostname\": \"a\"}", false, false },
                { "{\"manage_etc_hosts\": \"localhost\", \"hostname\": \"a\"}", false, false },
                { "{\"manage_etc_hosts\": \"template\", \"hostname\": \"a\"}", false, true },
                { "{\"manage_etc_hosts\": \"on\", \"hostname\": \"a\"}", false, true },
                { "{\"manage_etc_hosts\": \"maybe\", \"hostname\": \"a\"}", true, false },
                { "{\"manage_etc_hosts\": 3, \"hostname\": \"a\"}", true, false },
                { "{\"manage_etc_hosts\": [\"localhost\"], \"hostname\": \"a\"}", true, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_t *config = json_loads(cases[i].config, 0, NULL);
                size_t errors_before = json_array_size(ctx_of(state)->errors);
                size_t warnings_before = json_array_size(ctx_of(state)->warnings);
                SchemaCount count = {};
                int r;

                assert_non_null(config);
                assert_true(schema_check(config, NULL, 0, schema_count, &count) >= 0);
                json_decref(config);
                r = run(state, cases[i].config);

                if ((count.errors > 0) != cases[i].error)
                        fail_msg("case %zu: kiln validate found %u errors", i, count.errors);
                if ((count.warnings > 0) != cases[i].warning)
                        fail_msg("case %zu: kiln validate found %u warnings", i, count.warnings);
                if ((r < 0) != cases[i].error || (json_array_size(ctx_of(state)->errors) > errors_before) != cases[i].error)
                        fail_msg("case %zu: the module returned %d", i, r);
                if ((json_array_size(ctx_of(state)->warnings) > warnings_before) != cases[i].warning)
                        fail_msg("case %zu: the module warned", i);
        }
}

static void etc_hosts_administrator_rename_left_alone(void **state) {
        const char *admin_hosts = "127.0.1.1 admin.example.com admin-name\n127.0.0.1 localhost\n";
        _cleanup_free_ char *content = NULL;

        put_file(state, "/var/lib/kiln/previous-hostname", "web-1\n", 0644);
        put_file(state, "/etc/hostname", "admin-name\n", 0644);
        put_file(state, "/etc/hosts", admin_hosts, 0644);

        assert_int_equal(run(state, "{\"manage_etc_hosts\": true, \"hostname\": \"web-1\", "
                                    "\"fqdn\": \"web-1.example.com\"}"), 0);

        content = hosts_content(state);
        assert_string_equal(content, admin_hosts);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
        assert_int_equal(json_array_size(ctx_of(state)->warnings), 0);
}

static void etc_hosts_kiln_hostname_managed(void **state) {
        _cleanup_free_ char *content = NULL;

        put_file(state, "/var/lib/kiln/previous-hostname", "web-1\n", 0644);
        put_file(state, "/etc/hostname", "web-1\n", 0644);
        put_file(state, "/etc/hosts", "127.0.1.1 admin.example.com admin-name\n", 0644);

        assert_int_equal(run(state, "{\"manage_etc_hosts\": true, \"hostname\": \"web-1\", "
                                    "\"fqdn\": \"web-1.example.com\"}"), 1);

        content = hosts_content(state);
        assert_non_null(strstr(content, "127.0.1.1 web-1.example.com web-1\n"));
        assert_null(strstr(content, "admin-name"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(render_builtin_both_names),
                cmocka_unit_test(render_builtin_same_names_once),
                cmocka_unit_test(render_template_jinja),
                cmocka_unit_test(render_template_basic),
                cmocka_unit_test(render_template_no_header_basic),
                cmocka_unit_test(render_template_jinja_error),
                cmocka_unit_test(update_local_missing_file),
                cmocka_unit_test(update_local_already_right),
                cmocka_unit_test(update_local_replaces_in_place),
                cmocka_unit_test(update_local_inserted_after_loopback),
                cmocka_unit_test(update_local_appended_without_newline),
                cmocka_unit_test(update_local_comment_not_a_name),
                T(etc_hosts_true_writes_builtin),
                T(etc_hosts_domains_primary_name),
                T(etc_hosts_second_run_unchanged),
                T(etc_hosts_mode_kept),
                T(etc_hosts_site_template),
                T(etc_hosts_bad_site_template_error),
                T(etc_hosts_localhost_keeps_lines),
                T(etc_hosts_false_nothing_done),
                T(etc_hosts_template_deprecated_warns),
                T(etc_hosts_string_boolean_warns),
                T(etc_hosts_invalid_string_error),
                T(etc_hosts_number_error),
                T(etc_hosts_no_hostname_warns),
                T(etc_hosts_invalid_hostname_error),
                T(etc_hosts_administrator_rename_left_alone),
                T(etc_hosts_kiln_hostname_managed),
                T(validate_agrees_with_run),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
