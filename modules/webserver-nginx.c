/* SPDX-License-Identifier: Apache-2.0 */
/* The nginx site file of the webserver module: one server block per port for a static or proxied
 * site, TLS 1.2 and 1.3 only, and the redirect from HTTP to HTTPS. */

#include <stdio.h>
#include <string.h>

#include "lib/parse-util.h"
#include "tls.h"
#include "webserver.h"

/* The first nginx release whose `http2` directive replaces the http2 parameter of listen. */
#define NGINX_HTTP2_DIRECTIVE_MAJOR 1U
#define NGINX_HTTP2_DIRECTIVE_MINOR 25U
#define NGINX_HTTP2_DIRECTIVE_PATCH 1U

int nginx_version_has_http2_directive(const char *version) {
        unsigned parts[3] = {};
        char buf[32];
        char *p = buf;

        if (!version || strlen(version) >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, version, strlen(version) + 1);

        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                char *dot = strchr(p, '.');

                if (dot)
                        *dot = '\0';
                if (safe_atou(p, &parts[i]) < 0)
                        return -EINVAL;
                if (!dot)
                        break;
                p = dot + 1;
        }

        if (parts[0] != NGINX_HTTP2_DIRECTIVE_MAJOR)
                return parts[0] > NGINX_HTTP2_DIRECTIVE_MAJOR;
        if (parts[1] != NGINX_HTTP2_DIRECTIVE_MINOR)
                return parts[1] > NGINX_HTTP2_DIRECTIVE_MINOR;
        return parts[2] >= NGINX_HTTP2_DIRECTIVE_PATCH;
}

static void nginx_listen(FILE *f, const WebSite *site, unsigned port, bool tls, const WebRenderOptions *options) {
        const char *suffix = site->is_default ? " default_server" : "";
        const char *params = !tls ? "" : options->nginx_http2_directive ? " ssl" : " ssl http2";

        fprintf(f, "        listen %u%s%s;\n", port, params, suffix);
        fprintf(f, "        listen [::]:%u%s%s;\n", port, params, suffix);
        if (tls && options->nginx_http2_directive)
                fputs("        http2 on;\n", f);
}

static void nginx_server_name(FILE *f, const WebSite *site) {
        fputs("        server_name", f);
        for (char **d = site->domains; *d; d++)
                fprintf(f, " %s", *d);
        fputs(";\n", f);
}

static void nginx_content(FILE *f, const WebSite *site) {
        if (site->root) {
                fprintf(f, "        root %s;\n", site->root);
                fputs("        index index.html index.htm;\n"
                      "\n"
                      "        location / {\n"
                      "                try_files $uri $uri/ =404;\n"
                      "        }\n", f);
                return;
        }

        fprintf(f, "        location / {\n"
                   "                proxy_pass %s;\n", site->proxy);
        fputs("                proxy_set_header Host $host;\n"
              "                proxy_set_header X-Real-IP $remote_addr;\n"
              "                proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
              "                proxy_set_header X-Forwarded-Proto $scheme;\n"
              "                proxy_set_header X-Forwarded-Host $host;\n"
              "        }\n", f);
}

static int nginx_tls(FILE *f, const WebSite *site) {
        _cleanup_free_ char *fullchain = NULL, *privkey = NULL;
        int r;

        r = tls_certificate_paths(site->tls, &fullchain, &privkey);
        if (r < 0)
                return r;
        fprintf(f, "        ssl_certificate %s;\n", fullchain);
        fprintf(f, "        ssl_certificate_key %s;\n", privkey);
        fputs("        ssl_protocols TLSv1.2 TLSv1.3;\n"
              "        ssl_prefer_server_ciphers off;\n"
              "\n", f);
        return 0;
}

int nginx_site_render(const WebSite *site, const WebRenderOptions *options, char **ret) {
        _cleanup_free_ char *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;
        int r;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;

        fprintf(f, "# Written by kiln from the webserver site '%s'. kiln replaces this file when the site "
                   "changes.\n", site->name);
        if (site->tls_fingerprint)
                fprintf(f, "# Certificate '%s', SHA-256 %s.\n", site->tls, site->tls_fingerprint);

        /* Port 80 either redirects or serves the site itself. */
        fputs("server {\n", f);
        nginx_listen(f, site, 80, /* tls= */ false, options);
        nginx_server_name(f, site);
        if (site->redirect_http)
                fputs("\n        return 301 https://$host$request_uri;\n", f);
        else {
                fputc('\n', f);
                nginx_content(f, site);
        }
        fputs("}\n", f);

        if (site->tls) {
                fputs("\nserver {\n", f);
                nginx_listen(f, site, 443, /* tls= */ true, options);
                nginx_server_name(f, site);
                fputc('\n', f);
                r = nginx_tls(f, site);
                if (r < 0)
                        return r;
                nginx_content(f, site);
                fputs("}\n", f);
        }

        /* fclose() stores the final buffer in text. */
        if (fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}
