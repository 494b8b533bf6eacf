/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for modules/ntp.c: the client choice, the rendered files of each client, the default
 * pools, the checks of servers, pools, peers and allow, and templates. Each test runs the module on
 * a scratch root with an /etc/os-release and fake client executables. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"

#define CHRONY_DEBIAN_TAIL                                                                           \
        "\nkeyfile /etc/chrony/chrony.keys\ndriftfile /var/lib/chrony/chrony.drift\n"                \
        "logdir /var/log/chrony\nmaxupdateskew 100.0\nrtcsync\nmakestep 1 3\n"
#define CHRONY_HEAD "# Written by kiln from the ntp key of the cloud-config.\n# See chrony.conf(5).\n"

static void set_distro(void **state, const char *id) {
        char text[128];

        (void) snprintf(text, sizeof(text), "ID=%s\nVERSION_ID=\"1\"\n", id);
        test_root_write_mode(state, "/etc/os-release", text, 0644);
}

static void put_executable(void **state, const char *path) {
        test_root_write_mode(state, path, "#!/bin/sh\nexit 0\n", 0755);
}

static int run(void **state, const char *json) {
        return module_ntp.run(test_root_context(state), test_root_load_config(state, json));
}

static bool has_message(const json_t *list, const char *needle) {
        const json_t *entry;
        size_t i;

        json_array_foreach(list, i, entry)
                if (strstr(json_string_value(json_object_get(entry, "message")), needle))
                        return true;
        return false;
}

static json_int_t first_item(const json_t *list) {
        return json_integer_value(json_object_get(json_array_get(list, 0), "item"));
}

static void chrony_debian_renders_all_lists(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_int_equal(run(state, "{\"ntp\": {\"servers\": [\"ntp1.example.com\", \"10.0.0.1\"], "
                                    "\"pools\": [\"pool.example.com\"], \"peers\": [\"peer.example.com\"], "
                                    "\"allow\": [\"10.0.0.0/8\", \"all\"]}}"), 1);

        test_root_assert_file(state, "/etc/chrony/chrony.conf", CHRONY_HEAD
                    "pool pool.example.com iburst\nserver ntp1.example.com iburst\nserver 10.0.0.1 iburst\n"
                    "peer peer.example.com\nallow 10.0.0.0/8\nallow all\n" CHRONY_DEBIAN_TAIL);
        assert_int_equal(json_array_size(test_root_context(state)->errors), 0);
        assert_int_equal(json_array_size(test_root_context(state)->warnings), 0);
}

static void chrony_default_pools_debian(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_int_equal(run(state, "{\"ntp\": null}"), 1);

        test_root_assert_file(state, "/etc/chrony/chrony.conf", CHRONY_HEAD
                    "pool 0.debian.pool.ntp.org iburst\npool 1.debian.pool.ntp.org iburst\n"
                    "pool 2.debian.pool.ntp.org iburst\npool 3.debian.pool.ntp.org iburst\n" CHRONY_DEBIAN_TAIL);
}

static void chrony_rhel_path_and_layout(void **state) {
        set_distro(state, "rhel");
        put_executable(state, "/usr/sbin/chronyd");

        assert_int_equal(run(state, "{\"ntp\": {\"servers\": [\"169.254.169.123\"]}}"), 1);

        test_root_assert_file(state, "/etc/chrony.conf", CHRONY_HEAD "server 169.254.169.123 iburst\n\n"
                    "driftfile /var/lib/chrony/drift\nmakestep 1.0 3\nrtcsync\nlogdir /var/log/chrony\n");
}

static void ntp_rhel_servers_iburst(void **state) {
        set_distro(state, "centos");
        put_executable(state, "/usr/sbin/ntpd");

        assert_int_equal(run(state, "{\"ntp\": {\"ntp_client\": \"ntp\", \"servers\": [\"ntp.example.com\"], "
                                    "\"peers\": [\"fd00::1\"]}}"), 1);

        test_root_assert_file(state, "/etc/ntp.conf",
                    "# Written by kiln from the ntp key of the cloud-config.\n# See ntp.conf(5).\n\n"
                    "driftfile /var/lib/ntp/drift\nrestrict default kod nomodify notrap nopeer noquery\n"
                    "restrict -6 default kod nomodify notrap nopeer noquery\nrestrict 127.0.0.1\n"
                    "restrict -6 ::1\n\nserver ntp.example.com iburst\npeer fd00::1\n\n"
                    "includefile /etc/ntp/crypto/pw\nkeys /etc/ntp/keys\n");
}

static void ntpsec_debian_own_directory(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/ntpd");
        assert_int_equal(root_mkdir_p(test_root_context(state)->root_fd, "/etc/ntpsec", 0755, (uid_t) -1, (gid_t) -1), 1);

        assert_int_equal(run(state, "{\"ntp\": {\"ntp_client\": \"ntp\", \"pools\": [\"pool.example.com\"]}}"), 1);

        test_root_assert_file(state, "/etc/ntpsec/ntp.conf",
                    "# Written by kiln from the ntp key of the cloud-config.\n# See ntp.conf(5).\n\n"
                    "driftfile /var/lib/ntpsec/ntp.drift\n\npool pool.example.com iburst\n\n"
                    "restrict default kod nomodify nopeer noquery limited\nrestrict 127.0.0.1\nrestrict ::1\n");
        test_root_assert_absent(state, "/etc/ntp.conf");
}

static void timesyncd_auto_chosen_when_installed(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/lib/systemd/systemd-timesyncd");

        assert_int_equal(run(state, "{\"ntp\": {\"servers\": [\"a.example.com\"], \"pools\": [\"b.example.com\"]}}"),
                         1);

        test_root_assert_file(state, "/etc/systemd/timesyncd.conf.d/kiln.conf",
                    "# Written by kiln from the ntp key of the cloud-config.\n# See timesyncd.conf(5).\n\n"
                    "[Time]\nNTP=a.example.com b.example.com\n");
        test_root_assert_absent(state, "/etc/chrony/chrony.conf");
}

static void timesyncd_peers_ignored_warning(void **state) {
        set_distro(state, "ubuntu");
        put_executable(state, "/lib/systemd/systemd-timesyncd");

        assert_int_equal(run(state, "{\"ntp\": {\"ntp_client\": \"systemd-timesyncd\", "
                                    "\"peers\": [\"p.example.com\"]}}"), 1);

        test_root_assert_file(state, "/etc/systemd/timesyncd.conf.d/kiln.conf",
                    "# Written by kiln from the ntp key of the cloud-config.\n# See timesyncd.conf(5).\n\n"
                    "[Time]\nNTP=0.ubuntu.pool.ntp.org 1.ubuntu.pool.ntp.org 2.ubuntu.pool.ntp.org "
                    "3.ubuntu.pool.ntp.org\n");
        assert_true(has_message(test_root_context(state)->warnings, "ntp.peers: the configuration of the NTP client "
                                                         "'systemd-timesyncd' has no setting for them"));
}

static void busybox_ntpd_default_servers(void **state) {
        set_distro(state, "alpine");
        put_executable(state, "/usr/sbin/ntpd");

        assert_int_equal(run(state, "{\"ntp\": {}}"), 1);

        test_root_assert_file(state, "/etc/ntp.conf", "# Written by kiln from the ntp key of the cloud-config.\n"
                    "server 0.pool.ntp.org\nserver 1.pool.ntp.org\nserver 2.pool.ntp.org\nserver 3.pool.ntp.org\n");
}

static void auto_missing_client_is_error(void **state) {
        set_distro(state, "debian");

        assert_true(run(state, "{\"ntp\": {\"servers\": [\"ntp.example.com\"]}}") < 0);

        assert_true(has_message(test_root_context(state)->errors, "The NTP client 'chrony' is not installed in the image"));
        assert_true(has_message(test_root_context(state)->errors, "Install the package 'chrony'"));
        test_root_assert_absent(state, "/etc/chrony/chrony.conf");
}

static void chosen_missing_client_names_package(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_true(run(state, "{\"ntp\": {\"ntp_client\": \"ntp\"}}") < 0);

        assert_true(has_message(test_root_context(state)->errors, "Install the package 'ntpsec'"));
        test_root_assert_absent(state, "/etc/ntp.conf");
        test_root_assert_absent(state, "/etc/chrony/chrony.conf");
}

static void server_newline_rejected(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_true(run(state, "{\"ntp\": {\"servers\": [\"ok.example.com\", \"a.example.com\\nallow all\"]}}") < 0);

        assert_true(has_message(test_root_context(state)->errors, "ntp.servers.1 is 'a.example.com\\nallow all', which is not "
                                                       "a host name or address: it contains a line break"));
        assert_int_equal(first_item(test_root_context(state)->errors), 1);
        test_root_assert_absent(state, "/etc/chrony/chrony.conf");
}

static void pool_with_option_rejected(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_true(run(state, "{\"ntp\": {\"pools\": [\"pool.ntp.org iburst\"]}}") < 0);

        assert_true(has_message(test_root_context(state)->errors, "ntp.pools.0 is 'pool.ntp.org iburst'"));
        assert_true(has_message(test_root_context(state)->errors, "it contains a space"));
        test_root_assert_absent(state, "/etc/chrony/chrony.conf");
}

static void allow_bad_prefix_rejected(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_true(run(state, "{\"ntp\": {\"allow\": [\"10.0.0.0/33\"]}}") < 0);

        assert_true(has_message(test_root_context(state)->errors, "ntp.allow.0 is '10.0.0.0/33'"));
        test_root_assert_absent(state, "/etc/chrony/chrony.conf");
}

static void server_number_rejected(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_true(run(state, "{\"ntp\": {\"servers\": [123]}}") < 0);

        assert_true(has_message(test_root_context(state)->errors, "ntp.servers.0 must be a string"));
}

static void duplicate_server_warned_once(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_int_equal(run(state, "{\"ntp\": {\"servers\": [\"a.example.com\", \"a.example.com\"]}}"), 1);

        test_root_assert_file(state, "/etc/chrony/chrony.conf", CHRONY_HEAD "server a.example.com iburst\n" CHRONY_DEBIAN_TAIL);
        assert_true(has_message(test_root_context(state)->warnings, "ntp.servers lists 'a.example.com' more than once"));
}

static void disabled_writes_nothing(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_int_equal(run(state, "{\"ntp\": {\"enabled\": false}}"), 0);

        test_root_assert_absent(state, "/etc/chrony/chrony.conf");
        assert_int_equal(json_array_size(test_root_context(state)->warnings), 0);
}

static void disabled_string_warns(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_int_equal(run(state, "{\"ntp\": {\"enabled\": \"no\"}}"), 0);

        test_root_assert_absent(state, "/etc/chrony/chrony.conf");
        assert_true(has_message(test_root_context(state)->warnings, "ntp.enabled is the string 'no'"));
}

static void second_run_changes_nothing(void **state) {
        const char *config = "{\"ntp\": {\"servers\": [\"a.example.com\"]}}";

        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_int_equal(run(state, config), 1);
        assert_int_equal(run(state, config), 0);
        test_root_assert_absent(state, "/etc/chrony/chrony.conf.dist");
}

static void original_kept_as_dist(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");
        test_root_write_mode(state, "/etc/chrony/chrony.conf", "pool 2.debian.pool.ntp.org iburst\n", 0644);

        assert_int_equal(run(state, "{\"ntp\": {\"servers\": [\"a.example.com\"]}}"), 1);
        assert_int_equal(run(state, "{\"ntp\": {\"servers\": [\"b.example.com\"]}}"), 1);

        test_root_assert_file(state, "/etc/chrony/chrony.conf.dist", "pool 2.debian.pool.ntp.org iburst\n");
        test_root_assert_file(state, "/etc/chrony/chrony.conf", CHRONY_HEAD "server b.example.com iburst\n" CHRONY_DEBIAN_TAIL);
}

static void config_overrides_confpath(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/opt/chrony/sbin/chronyd");

        assert_int_equal(run(state, "{\"ntp\": {\"ntp_client\": \"chrony\", \"servers\": [\"a.example.com\"], "
                                    "\"config\": {\"confpath\": \"/opt/chrony/chrony.conf\", "
                                    "\"check_exe\": \"/opt/chrony/sbin/chronyd\"}}}"), 1);

        test_root_assert_file(state, "/opt/chrony/chrony.conf", CHRONY_HEAD "server a.example.com iburst\n" CHRONY_DEBIAN_TAIL);
}

static void jinja_template_rendered(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_int_equal(run(state, "{\"ntp\": {\"servers\": [\"a.example.com\", \"b.example.com\"], "
                                    "\"config\": {\"template\": \"## template: jinja\\n{% for s in servers %}"
                                    "server {{ s }} prefer\\n{% endfor %}makestep 1 3\\n\"}}}"), 1);

        test_root_assert_file(state, "/etc/chrony/chrony.conf",
                    "server a.example.com prefer\nserver b.example.com prefer\nmakestep 1 3\n");
}

static void basic_template_variables_rejected(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_true(run(state, "{\"ntp\": {\"config\": {\"template\": \"server $servers\\n\"}}}") < 0);

        assert_true(has_message(test_root_context(state)->errors, "basic templates"));
        test_root_assert_absent(state, "/etc/chrony/chrony.conf");
}

static void unknown_client_needs_config(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_true(run(state, "{\"ntp\": {\"ntp_client\": \"ptpd\"}}") < 0);

        assert_true(has_message(test_root_context(state)->errors, "names the NTP client 'ptpd', which kiln does not know"));
        test_root_assert_absent(state, "/etc/chrony/chrony.conf");
}

static void ntp_not_mapping_rejected(void **state) {
        set_distro(state, "debian");
        put_executable(state, "/usr/sbin/chronyd");

        assert_true(run(state, "{\"ntp\": [\"pool.ntp.org\"]}") < 0);

        assert_true(has_message(test_root_context(state)->errors, "ntp must be"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(chrony_debian_renders_all_lists, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(chrony_default_pools_debian, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(chrony_rhel_path_and_layout, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(ntp_rhel_servers_iburst, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(ntpsec_debian_own_directory, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(timesyncd_auto_chosen_when_installed, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(timesyncd_peers_ignored_warning, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(busybox_ntpd_default_servers, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(auto_missing_client_is_error, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(chosen_missing_client_names_package, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(server_newline_rejected, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(pool_with_option_rejected, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(allow_bad_prefix_rejected, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(server_number_rejected, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(duplicate_server_warned_once, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(disabled_writes_nothing, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(disabled_string_warns, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(second_run_changes_nothing, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(original_kept_as_dist, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(config_overrides_confpath, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(jinja_template_rendered, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(basic_template_variables_rejected, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(unknown_client_needs_config, test_root_setup, test_root_teardown),
                cmocka_unit_test_setup_teardown(ntp_not_mapping_rejected, test_root_setup, test_root_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
