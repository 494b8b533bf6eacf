/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the webserver module: the checks of user values, the nginx and apache site files,
 * and the module's errors on a scratch root without a server. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "lib/macro.h"
#include "module.h"
#include "test-helpers.h"
#include "webserver.h"

static char reason[512];

static void web_name_check_accepts_plain_name(void **state) {
        assert_int_equal(web_name_check("shop-2.example_x", reason, sizeof(reason)), 0);
}

static void web_name_check_rejects_path(void **state) {
        assert_int_equal(web_name_check("../etc", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_name_check("a/b", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_name_check("", reason, sizeof(reason)), -EINVAL);
}

static void web_name_check_rejects_uppercase(void **state) {
        assert_int_equal(web_name_check("Shop", reason, sizeof(reason)), -EINVAL);
        assert_string_equal(reason, "'Shop' is not a valid name: use lowercase letters, digits, '.', '_' and '-', "
                                    "starting with a letter or digit");
}

static void web_name_check_rejects_leading_dash(void **state) {
        assert_int_equal(web_name_check("-shop", reason, sizeof(reason)), -EINVAL);
}

static void web_domain_check_accepts_wildcard(void **state) {
        assert_int_equal(web_domain_check("*.shop.example.com", reason, sizeof(reason)), 0);
        assert_int_equal(web_domain_check("xn--bcher-kva.example", reason, sizeof(reason)), 0);
}

static void web_domain_check_rejects_bad_labels(void **state) {
        assert_int_equal(web_domain_check("shop..example.com", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_domain_check("-shop.example.com", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_domain_check("shop.example.com.", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_domain_check("shop example.com", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_domain_check("a.*.example.com", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_domain_check("*.", reason, sizeof(reason)), -EINVAL);
}

static void web_root_check_rejects_config_syntax(void **state) {
        assert_int_equal(web_root_check("/srv/shop", reason, sizeof(reason)), 0);
        assert_int_equal(web_root_check("srv/shop", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_root_check("/srv/$host", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_root_check("/srv/{{ x }}", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_root_check("/srv/a;b", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_root_check("/srv/a\nb", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_root_check("/srv/\"a\"", reason, sizeof(reason)), -EINVAL);
}

static void web_proxy_check_accepts_urls(void **state) {
        assert_int_equal(web_proxy_check("http://127.0.0.1:8080", reason, sizeof(reason)), 0);
        assert_int_equal(web_proxy_check("https://[::1]:8443/app/", reason, sizeof(reason)), 0);
}

static void web_proxy_check_rejects_bad_urls(void **state) {
        assert_int_equal(web_proxy_check("ftp://host", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_proxy_check("http://", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_proxy_check("http://:80/", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_proxy_check("http://user@host/", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_proxy_check("http://host/$uri", reason, sizeof(reason)), -EINVAL);
        assert_int_equal(web_proxy_check("http://host/a b", reason, sizeof(reason)), -EINVAL);
}

static void web_proxy_normalize_adds_slash_to_path(void **state) {
        _cleanup_free_ char *bare = web_proxy_normalize("http://127.0.0.1:8080");
        _cleanup_free_ char *path = web_proxy_normalize("http://127.0.0.1:8080/app");
        _cleanup_free_ char *slash = web_proxy_normalize("http://127.0.0.1:8080/app/");

        assert_string_equal(bare, "http://127.0.0.1:8080");
        assert_string_equal(path, "http://127.0.0.1:8080/app/");
        assert_string_equal(slash, "http://127.0.0.1:8080/app/");
}

static void nginx_version_has_http2_directive_compares(void **state) {
        assert_int_equal(nginx_version_has_http2_directive("1.22.1"), 0);
        assert_int_equal(nginx_version_has_http2_directive("1.25.0"), 0);
        assert_int_equal(nginx_version_has_http2_directive("1.25.1"), 1);
        assert_int_equal(nginx_version_has_http2_directive("1.26"), 1);
        assert_int_equal(nginx_version_has_http2_directive("2.0.0"), 1);
        assert_int_equal(nginx_version_has_http2_directive("1.x"), -EINVAL);
}

static char *shop_domains[] = { "shop.example.com", "www.shop.example.com", NULL };

static const WebSite tls_site = {
        .name = "shop",
        .domains = shop_domains,
        .root = "/srv/shop",
        .tls = "shop",
        .redirect_http = true,
        .is_default = true,
        .tls_fingerprint = "ab01",
};

static const WebSite proxy_site = {
        .name = "api",
        .domains = shop_domains,
        .proxy = "http://127.0.0.1:8080/app/",
};

static void nginx_site_render_tls_redirect(void **state) {
        const WebRenderOptions options = {};
        _cleanup_free_ char *text = NULL;

        assert_int_equal(nginx_site_render(&tls_site, &options, &text), 0);
        assert_non_null(strstr(text, "        listen 80 default_server;\n"));
        assert_non_null(strstr(text, "        return 301 https://$host$request_uri;\n"));
        assert_non_null(strstr(text, "        listen 443 ssl http2 default_server;\n"));
        assert_non_null(strstr(text, "        listen [::]:443 ssl http2 default_server;\n"));
        assert_non_null(strstr(text, "        server_name shop.example.com www.shop.example.com;\n"));
        assert_non_null(strstr(text, "        ssl_certificate /etc/ssl/kiln/shop/fullchain.pem;\n"));
        assert_non_null(strstr(text, "        ssl_certificate_key /etc/ssl/kiln/shop/privkey.pem;\n"));
        assert_non_null(strstr(text, "        ssl_protocols TLSv1.2 TLSv1.3;\n"));
        assert_non_null(strstr(text, "        root /srv/shop;\n"));
        assert_non_null(strstr(text, "# Certificate 'shop', SHA-256 ab01.\n"));
}

static void nginx_site_render_http2_directive(void **state) {
        const WebRenderOptions options = { .nginx_http2_directive = true };
        _cleanup_free_ char *text = NULL;

        assert_int_equal(nginx_site_render(&tls_site, &options, &text), 0);
        assert_non_null(strstr(text, "        listen 443 ssl default_server;\n"));
        assert_non_null(strstr(text, "        http2 on;\n"));
        assert_null(strstr(text, "ssl http2"));
}

static void nginx_site_render_proxy_without_tls(void **state) {
        const WebRenderOptions options = {};
        _cleanup_free_ char *text = NULL;

        assert_int_equal(nginx_site_render(&proxy_site, &options, &text), 0);
        assert_non_null(strstr(text, "        listen 80;\n"));
        assert_non_null(strstr(text, "                proxy_pass http://127.0.0.1:8080/app/;\n"));
        assert_non_null(strstr(text, "                proxy_set_header Host $host;\n"));
        assert_non_null(strstr(text, "                proxy_set_header X-Forwarded-Proto $scheme;\n"));
        assert_null(strstr(text, "443"));
        assert_null(strstr(text, "return 301"));
}

static void apache_site_render_tls_redirect(void **state) {
        _cleanup_free_ char *text = NULL;

        assert_int_equal(apache_site_render(&tls_site, &text), 0);
        assert_non_null(strstr(text, "<VirtualHost *:80>\n        ServerName shop.example.com\n"
                                     "        ServerAlias www.shop.example.com\n"));
        assert_non_null(strstr(text, "        RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [R=301,L]\n"));
        assert_non_null(strstr(text, "<VirtualHost *:443>\n"));
        assert_non_null(strstr(text, "        SSLProtocol -all +TLSv1.2 +TLSv1.3\n"));
        assert_non_null(strstr(text, "        SSLCertificateFile \"/etc/ssl/kiln/shop/fullchain.pem\"\n"));
        assert_non_null(strstr(text, "        DocumentRoot \"/srv/shop\"\n"));
}

static void apache_site_render_proxy(void **state) {
        _cleanup_free_ char *text = NULL;

        assert_int_equal(apache_site_render(&proxy_site, &text), 0);
        assert_non_null(strstr(text, "        ProxyPass \"/\" \"http://127.0.0.1:8080/app/\"\n"));
        assert_non_null(strstr(text, "        ProxyPreserveHost On\n"));
        assert_null(strstr(text, "VirtualHost *:443"));
}

static void apache_site_modules_lists_needs(void **state) {
        const char *modules[WEB_APACHE_MODULES_MAX];

        assert_int_equal(apache_site_modules(&tls_site, modules), 3);
        assert_string_equal(modules[0], "socache_shmcb");
        assert_string_equal(modules[1], "ssl");
        assert_string_equal(modules[2], "rewrite");
        assert_null(modules[3]);
        assert_int_equal(apache_site_modules(&proxy_site, modules), 3);
        assert_string_equal(modules[0], "proxy");
        assert_string_equal(modules[2], "headers");
}

/* Run the module on a scratch root with config as the effective cloud-config. */
static int run_module(TestRoot *t, const char *config) {
        json_decref(t->ctx.config);
        t->ctx.config = json_loads(config, 0, NULL);
        assert_non_null(t->ctx.config);
        return module_webserver.run(&t->ctx, t->ctx.config);
}

static const char *first_error(const TestRoot *t) {
        return json_string_value(json_object_get(json_array_get(t->ctx.errors, 0), "message"));
}

static void webserver_run_rejects_missing_server(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(run_module(t, "{\"webserver\": {\"sites\": [{\"name\": \"a\", \"domains\": [\"a.example\"],"
                                       " \"root\": \"/srv\"}]}}"), -ENOENT);
        assert_non_null(strstr(first_error(t), "neither nginx nor apache is installed"));
        test_root_free(t);
}

static void webserver_run_rejects_duplicate_names(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(run_module(t, "{\"webserver\": {\"sites\": ["
                                       "{\"name\": \"a\", \"domains\": [\"a.example\"], \"root\": \"/srv\"},"
                                       "{\"name\": \"a\", \"domains\": [\"b.example\"], \"root\": \"/srv\"}]}}"),
                         -EINVAL);
        assert_non_null(strstr(first_error(t), "lists the site name 'a' twice"));
        test_root_free(t);
}

static void webserver_run_rejects_two_defaults(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(run_module(t, "{\"webserver\": {\"sites\": ["
                                       "{\"name\": \"a\", \"domains\": [\"a.example\"], \"root\": \"/srv\", \"default\": true},"
                                       "{\"name\": \"b\", \"domains\": [\"b.example\"], \"root\": \"/srv\", \"default\": true}]}}"),
                         -EINVAL);
        assert_non_null(strstr(first_error(t), "has two default sites, 'a' and 'b'"));
        test_root_free(t);
}

static void webserver_run_rejects_root_and_proxy(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(run_module(t, "{\"webserver\": {\"sites\": [{\"name\": \"a\", \"domains\": [\"a.example\"],"
                                       " \"root\": \"/srv\", \"proxy\": \"http://127.0.0.1\"}]}}"), -EINVAL);
        assert_non_null(strstr(first_error(t), "webserver.sites.0 has both root and proxy"));
        assert_int_equal(json_integer_value(json_object_get(json_array_get(t->ctx.errors, 0), "item")), 0);
        test_root_free(t);
}

static void webserver_run_rejects_uppercase_tls_name(void **state) {
        TestRoot *t = test_root_new();

        assert_int_equal(run_module(t, "{\"webserver\": {\"sites\": [{\"name\": \"shop\", \"domains\": "
                                       "[\"a.example\"], \"root\": \"/srv\", \"tls\": \"Shop\"}]}}"), -EINVAL);
        assert_non_null(strstr(first_error(t), "webserver.sites.0.tls"));
        assert_non_null(strstr(first_error(t), "'Shop' is not a valid name"));
        test_root_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(web_name_check_accepts_plain_name),
                cmocka_unit_test(web_name_check_rejects_path),
                cmocka_unit_test(web_name_check_rejects_uppercase),
                cmocka_unit_test(web_name_check_rejects_leading_dash),
                cmocka_unit_test(web_domain_check_accepts_wildcard),
                cmocka_unit_test(web_domain_check_rejects_bad_labels),
                cmocka_unit_test(web_root_check_rejects_config_syntax),
                cmocka_unit_test(web_proxy_check_accepts_urls),
                cmocka_unit_test(web_proxy_check_rejects_bad_urls),
                cmocka_unit_test(web_proxy_normalize_adds_slash_to_path),
                cmocka_unit_test(nginx_version_has_http2_directive_compares),
                cmocka_unit_test(nginx_site_render_tls_redirect),
                cmocka_unit_test(nginx_site_render_http2_directive),
                cmocka_unit_test(nginx_site_render_proxy_without_tls),
                cmocka_unit_test(apache_site_render_tls_redirect),
                cmocka_unit_test(apache_site_render_proxy),
                cmocka_unit_test(apache_site_modules_lists_needs),
                cmocka_unit_test(webserver_run_rejects_missing_server),
                cmocka_unit_test(webserver_run_rejects_duplicate_names),
                cmocka_unit_test(webserver_run_rejects_two_defaults),
                cmocka_unit_test(webserver_run_rejects_root_and_proxy),
                cmocka_unit_test(webserver_run_rejects_uppercase_tls_name),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
