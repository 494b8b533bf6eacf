/* SPDX-License-Identifier: Apache-2.0 */
/* The apache site file of the webserver module: one virtual host per port for a static or proxied
 * site, TLS 1.2 and 1.3 only, the redirect from HTTP to HTTPS, and the modules these need. */

#include <stdio.h>
#include <string.h>

#include "tls.h"
#include "webserver.h"

size_t apache_site_modules(const WebSite *site, const char *ret[static WEB_APACHE_MODULES_MAX]) {
        size_t n = 0;

        /* Debian's ssl.load depends on socache_shmcb, as a2enmod reads from its "Depends:" line. */
        if (site->tls) {
                ret[n++] = "socache_shmcb";
                ret[n++] = "ssl";
        }
        if (site->redirect_http)
                ret[n++] = "rewrite";
        if (site->proxy) {
                ret[n++] = "proxy";
                ret[n++] = "proxy_http";
                ret[n++] = "headers";
        }
        ret[n] = NULL;
        return n;
}

static void apache_names(FILE *f, const WebSite *site) {
        fprintf(f, "        ServerName %s\n", site->domains[0]);
        for (char **d = site->domains + 1; *d; d++)
                fprintf(f, "        ServerAlias %s\n", *d);
}

static void apache_content(FILE *f, const WebSite *site, bool tls) {
        if (site->root) {
                fprintf(f, "        DocumentRoot \"%s\"\n", site->root);
                fprintf(f, "        <Directory \"%s\">\n", site->root);
                fputs("                Options FollowSymLinks\n"
                      "                AllowOverride None\n"
                      "                Require all granted\n"
                      "        </Directory>\n"
                      "        DirectoryIndex index.html index.htm\n", f);
                return;
        }

        /* mod_proxy adds X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Server itself. */
        fputs("        ProxyPreserveHost On\n", f);
        fprintf(f, "        ProxyPass \"/\" \"%s\"\n", site->proxy);
        fprintf(f, "        ProxyPassReverse \"/\" \"%s\"\n", site->proxy);
        fprintf(f, "        RequestHeader set X-Forwarded-Proto \"%s\"\n", tls ? "https" : "http");
}

static int apache_tls(FILE *f, const WebSite *site) {
        _cleanup_free_ char *fullchain = NULL, *privkey = NULL;
        int r;

        r = tls_certificate_paths(site->tls, &fullchain, &privkey);
        if (r < 0)
                return r;
        fputs("        SSLEngine on\n", f);
        fprintf(f, "        SSLCertificateFile \"%s\"\n", fullchain);
        fprintf(f, "        SSLCertificateKeyFile \"%s\"\n", privkey);
        fputs("        SSLProtocol -all +TLSv1.2 +TLSv1.3\n"
              "        SSLHonorCipherOrder off\n"
              "        <IfModule http2_module>\n"
              "                Protocols h2 http/1.1\n"
              "        </IfModule>\n"
              "\n", f);
        return 0;
}

int apache_site_render(const WebSite *site, char **ret) {
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

        /* Port 80 either redirects or serves the site itself. SERVER_NAME is the requested host
         * without its port, because UseCanonicalName is off by default. */
        fputs("<VirtualHost *:80>\n", f);
        apache_names(f, site);
        fputc('\n', f);
        if (site->redirect_http)
                fputs("        RewriteEngine On\n"
                      "        RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [R=301,L]\n", f);
        else
                apache_content(f, site, /* tls= */ false);
        fputs("</VirtualHost>\n", f);

        if (site->tls) {
                fputs("\n<VirtualHost *:443>\n", f);
                apache_names(f, site);
                fputc('\n', f);
                r = apache_tls(f, site);
                if (r < 0)
                        return r;
                apache_content(f, site, /* tls= */ true);
                fputs("</VirtualHost>\n", f);
        }

        /* fclose() stores the final buffer in text. */
        if (fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}
