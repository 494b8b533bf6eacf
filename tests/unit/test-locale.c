/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/locale.c on scratch roots without locale-gen: name checks, the Debian and
 * RHEL config files, locale_configfile, and the warning about a locale that cannot be generated. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"

static int run(void **state, json_t *config) {
        return module_locale.run(test_root_context(state), test_root_set_config(state, config));
}

static void locale_debian_writes_lang(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "locale", "C.UTF-8")), 1);

        test_root_assert_file(state, "/etc/default/locale", "LANG=C.UTF-8\n");
        assert_int_equal(json_array_size(test_root_context(state)->warnings), 0);
}

static void locale_keeps_other_lines(void **state) {
        test_root_write(state, "/etc/default/locale", "# set by the image\nLANG=\"en_US.UTF-8\"\nLC_TIME=C\n");
        assert_int_equal(run(state, json_pack("{s:s}", "locale", "POSIX")), 1);

        test_root_assert_file(state, "/etc/default/locale", "# set by the image\nLANG=POSIX\nLC_TIME=C\n");
}

static void locale_second_run_unchanged(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "locale", "C.UTF-8")), 1);
        assert_int_equal(run(state, json_pack("{s:s}", "locale", "C.UTF-8")), 0);
}

static void locale_quoted_same_value_unchanged(void **state) {
        test_root_write(state, "/etc/default/locale", "LANG=\"C.UTF-8\"\n");
        assert_int_equal(run(state, json_pack("{s:s}", "locale", "C.UTF-8")), 0);

        test_root_assert_file(state, "/etc/default/locale", "LANG=\"C.UTF-8\"\n");
}

static void locale_without_locale_gen_warns(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "locale", "de_DE.UTF-8")), 1);

        test_root_assert_file(state, "/etc/default/locale", "LANG=de_DE.UTF-8\n");
        assert_non_null(strstr(test_last_message(test_root_context(state)->warnings), "locale-gen is not in the image"));
}

static void locale_compiled_dir_needs_no_warning(void **state) {
        assert_int_equal(root_mkdir_p(test_root_context(state)->root_fd, "/usr/lib/locale/de_DE.utf8@euro", 0755, (uid_t) -1,
                                      (gid_t) -1), 1);
        assert_int_equal(run(state, json_pack("{s:s}", "locale", "de_DE.UTF-8@euro")), 1);

        assert_int_equal(json_array_size(test_root_context(state)->warnings), 0);
}

static void locale_rhel_writes_locale_conf(void **state) {
        test_root_write(state, "/etc/system-release", "Amazon Linux release 2023\n");
        assert_int_equal(run(state, json_pack("{s:s}", "locale", "en_GB.UTF-8")), 1);

        test_root_assert_file(state, "/etc/locale.conf", "LANG=en_GB.UTF-8\n");
        assert_int_equal(root_exists(test_root_context(state)->root_fd, "/etc/default/locale"), 0);
        assert_int_equal(json_array_size(test_root_context(state)->warnings), 0);
}

static void locale_configfile_used(void **state) {
        assert_int_equal(run(state, json_pack("{s:s,s:s}", "locale", "C", "locale_configfile", "/etc/env.d/lang")), 1);

        test_root_assert_file(state, "/etc/env.d/lang", "LANG=C\n");
}

static void locale_configfile_relative_rejected(void **state) {
        assert_int_equal(run(state, json_pack("{s:s,s:s}", "locale", "C", "locale_configfile", "etc/lang")), -EINVAL);

        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "not an absolute path"));
}

static void locale_false_skips(void **state) {
        assert_int_equal(run(state, json_pack("{s:b}", "locale", 0)), 0);

        assert_int_equal(root_exists(test_root_context(state)->root_fd, "/etc/default/locale"), 0);
}

static void locale_false_string_skips(void **state) {
        assert_int_equal(run(state, json_pack("{s:s}", "locale", "off")), 0);

        assert_int_equal(root_exists(test_root_context(state)->root_fd, "/etc/default/locale"), 0);
}

static void locale_true_rejected(void **state) {
        assert_int_equal(run(state, json_pack("{s:b}", "locale", 1)), -EINVAL);

        assert_non_null(strstr(test_last_message(test_root_context(state)->errors), "locale is true"));
}

static void locale_names_checked(void **state) {
        static const char *const valid[] = { "C", "POSIX", "C.UTF-8", "en_US.UTF-8", "sr_RS@latin",
                                             "ca_ES.UTF-8@valencia", "es_419.UTF-8", "fi_FI" };
        static const char *const invalid[] = { "", "en_US.UTF-8 rm", "../../etc/passwd", "en_U", "en_US.",
                                               "toolonglang_US", "en_US@", "en-US" };

        for (size_t i = 0; i < ELEMENTSOF(valid); i++) {
                size_t errors = json_array_size(test_root_context(state)->errors);

                (void) run(state, json_pack("{s:s,s:s}", "locale", valid[i], "locale_configfile", "/tmp/lang"));
                if (json_array_size(test_root_context(state)->errors) != errors)
                        fail_msg("'%s' was rejected", valid[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(invalid); i++)
                if (run(state, json_pack("{s:s}", "locale", invalid[i])) != -EINVAL)
                        fail_msg("'%s' was accepted", invalid[i]);
}

static unsigned validate_errors(json_t *config) {
        return test_schema_check(config).errors;
}

static void validate_agrees_with_run(void **state) {
        assert_int_equal(validate_errors(json_pack("{s:s}", "locale", "en_US.UTF-8")), 0);
        assert_int_equal(validate_errors(json_pack("{s:b}", "locale", 0)), 0);
        assert_int_equal(validate_errors(json_pack("{s:b}", "locale", 1)), 1);
        assert_int_equal(validate_errors(json_pack("{s:s}", "locale", "en US")), 1);
        assert_int_equal(validate_errors(json_pack("{s:s}", "locale_configfile", "etc/lang")), 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, test_root_setup, test_root_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(locale_debian_writes_lang),
                T(locale_keeps_other_lines),
                T(locale_second_run_unchanged),
                T(locale_quoted_same_value_unchanged),
                T(locale_without_locale_gen_warns),
                T(locale_compiled_dir_needs_no_warning),
                T(locale_rhel_writes_locale_conf),
                T(locale_configfile_used),
                T(locale_configfile_relative_rejected),
                T(locale_false_skips),
                T(locale_false_string_skips),
                T(locale_true_rejected),
                T(locale_names_checked),
                cmocka_unit_test(validate_agrees_with_run),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
