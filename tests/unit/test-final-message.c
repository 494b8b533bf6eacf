/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for the final_message module: the timestamp and uptime facts, the rendering of basic and
 * Jinja templates, and the boot-finished file. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/fileio.h"
#include "modules/final_message.h"
#include "modules/module.h"
#include "test-helpers.h"

static const FinalMessageFacts facts = {
        .uptime = "12.34",
        .timestamp = "Fri, 04 Dec 2026 22:30:00 +0000",
        .datasource = "nocloud",
        .version = "9.9",
};

static char *render(const char *template, json_t **unknown) {
        char *text = NULL, *reason = NULL;
        int r;

        r = final_message_render(template, &facts, &text, unknown, &reason);
        assert_int_equal(r, 0);
        free(reason);
        return text;
}

static void final_message_format_timestamp_rfc2822(void **state) {
        char buf[FINAL_MESSAGE_FACT_MAX];

        (void) state;
        /* 2026-12-04 22:30:00 UTC */
        assert_int_equal(final_message_format_timestamp(1796423400, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "Fri, 04 Dec 2026 22:30:00 +0000");
}

static void final_message_read_uptime_two_decimals(void **state) {
        char path[] = "/tmp/kiln-uptime-XXXXXX", buf[FINAL_MESSAGE_FACT_MAX];
        int fd = mkstemp(path);

        (void) state;
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "350735.47 234388.90\n", 20), 20);
        (void) close(fd);
        assert_int_equal(final_message_read_uptime(path, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "350735.47");
        (void) unlink(path);
}

static void final_message_read_uptime_missing_file_uses_clock(void **state) {
        char buf[FINAL_MESSAGE_FACT_MAX] = "";
        double seconds;

        (void) state;
        assert_int_equal(final_message_read_uptime("/nonexistent/uptime", buf, sizeof(buf)), 0);
        assert_int_equal(sscanf(buf, "%lf", &seconds), 1);
        assert_true(seconds > 0);
}

static void final_message_render_basic_both_forms(void **state) {
        char *text;

        (void) state;
        text = render("up $UPTIME s at ${timestamp} from $DATASOURCE with ${VERSION}", NULL);
        assert_string_equal(text, "up 12.34 s at Fri, 04 Dec 2026 22:30:00 +0000 from nocloud with 9.9");
        free(text);
}

static void final_message_render_basic_trailing_dot_ends_name(void **state) {
        char *text;

        (void) state;
        text = render("Up $UPTIME.", NULL);
        assert_string_equal(text, "Up 12.34.");
        free(text);
}

static void final_message_render_basic_unknown_kept(void **state) {
        json_t *unknown = NULL;
        char *text;

        (void) state;
        text = render("cost $5 and $HOME, ${Uptime} $", &unknown);
        assert_string_equal(text, "cost $5 and $HOME, ${Uptime} $");
        assert_int_equal(json_array_size(unknown), 3);
        assert_string_equal(json_string_value(json_array_get(unknown, 1)), "unknown variable 'HOME'");
        json_decref(unknown);
        free(text);
}

static void final_message_render_basic_header_removed(void **state) {
        char *text;

        (void) state;
        text = render("## template: basic\nv$version", NULL);
        assert_string_equal(text, "v9.9");
        free(text);
}

static void final_message_render_jinja(void **state) {
        char *text;

        (void) state;
        text = render("## template: jinja\n{{version}} {{ DATASOURCE }} {{uptime}}", NULL);
        assert_string_equal(text, "9.9 nocloud 12.34");
        free(text);
}

static void final_message_render_jinja_header_any_case(void **state) {
        char *text;

        (void) state;
        text = render("##Template:  JINJA \n{{timestamp}}", NULL);
        assert_string_equal(text, "Fri, 04 Dec 2026 22:30:00 +0000");
        free(text);
}

static void final_message_render_unknown_type_fails(void **state) {
        char *text = NULL, *reason = NULL;

        (void) state;
        assert_int_equal(final_message_render("## template: mako\nx", &facts, &text, NULL, &reason), -EINVAL);
        assert_non_null(strstr(reason, "'mako'"));
        assert_null(text);
        free(reason);
}

static void final_message_run_writes_boot_finished(void **state) {
        TestRoot *t = test_root_new();
        Instance instance = { .datasource = (char *) "nocloud", .instance_id = (char *) "i-1" };
        char *data = NULL;
        size_t size = 0;

        (void) state;
        t->ctx.instance = &instance;
        assert_int_equal(root_mkdir_p(t->ctx.root_fd, "var/lib/kiln/instances/i-1", 0755, -1, -1), 1);
        assert_int_equal(symlinkat("instances/i-1", t->ctx.root_fd, "var/lib/kiln/instance"), 0);

        assert_int_equal(module_final_message.run(&t->ctx, t->ctx.config), 0);
        assert_int_equal(read_file_at(t->ctx.root_fd, "var/lib/kiln/instances/i-1/boot-finished", 4096, &data, &size), 0);
        assert_non_null(strstr(data, " +0000 - kiln "));
        assert_int_equal(data[size - 1], '\n');
        assert_int_equal(json_array_size(t->ctx.errors), 0);
        free(data);
        t->ctx.instance = NULL;
        test_root_free(t);
}

static void final_message_run_non_string_is_error(void **state) {
        TestRoot *t = test_root_new();
        Instance instance = { .datasource = (char *) "nocloud", .instance_id = (char *) "i-1" };

        (void) state;
        t->ctx.instance = &instance;
        assert_int_equal(root_mkdir_p(t->ctx.root_fd, "var/lib/kiln/instances/i-1", 0755, -1, -1), 1);
        assert_int_equal(symlinkat("instances/i-1", t->ctx.root_fd, "var/lib/kiln/instance"), 0);
        assert_int_equal(json_object_set_new(t->ctx.config, "final_message", json_integer(5)), 0);

        assert_int_equal(module_final_message.run(&t->ctx, t->ctx.config), -EINVAL);
        assert_int_equal(json_array_size(t->ctx.errors), 1);
        assert_int_equal(root_exists(t->ctx.root_fd, "var/lib/kiln/instance/boot-finished"), 1);
        t->ctx.instance = NULL;
        test_root_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(final_message_format_timestamp_rfc2822),
                cmocka_unit_test(final_message_read_uptime_two_decimals),
                cmocka_unit_test(final_message_read_uptime_missing_file_uses_clock),
                cmocka_unit_test(final_message_render_basic_both_forms),
                cmocka_unit_test(final_message_render_basic_trailing_dot_ends_name),
                cmocka_unit_test(final_message_render_basic_unknown_kept),
                cmocka_unit_test(final_message_render_basic_header_removed),
                cmocka_unit_test(final_message_render_jinja),
                cmocka_unit_test(final_message_render_jinja_header_any_case),
                cmocka_unit_test(final_message_render_unknown_type_fails),
                cmocka_unit_test(final_message_run_writes_boot_finished),
                cmocka_unit_test(final_message_run_non_string_is_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
