/* SPDX-License-Identifier: Apache-2.0 */
/* The parts of the webserver module that its nginx and apache files and its unit test share: the
 * validated site entries and the renderers of one site file for each server. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/macro.h"
#include "schema.h"

/* Maximum number of sites, and of domains in one site. */
#define WEB_SITES_MAX 256U
#define WEB_DOMAINS_MAX 100U
/* Maximum length of a site name, which becomes part of a file name. */
#define WEB_NAME_MAX 64U
/* Maximum length of a root path or proxy URL. */
#define WEB_VALUE_MAX 1024U

typedef enum WebServerKind {
        WEB_SERVER_NGINX,
        WEB_SERVER_APACHE,
        _WEB_SERVER_MAX,
        _WEB_SERVER_INVALID = -EINVAL,
} WebServerKind;

const char *web_server_to_string(WebServerKind k);
WebServerKind web_server_from_string(const char *s);

/* One entry of webserver.sites after validation. Exactly one of root and proxy is set. */
typedef struct WebSite {
        char *name;
        char **domains;          /* lower case, NULL-terminated, at least one */
        char *root;              /* absolute path of static files, or NULL */
        char *proxy;             /* backend URL, ending in '/' when it has a path, or NULL */
        char *tls;               /* certificate name of the tls module (tls.h), or NULL */
        bool redirect_http;      /* port 80 answers 301 to https; only with tls */
        bool is_default;         /* answers requests for names no site lists */
        char *tls_fingerprint;   /* SHA-256 of the certificate, hex, written as a comment so that a
                                  * new certificate changes the file and reloads the server */
} WebSite;

void web_site_done(WebSite *s);

/* Features of the installed server that change what a site file may contain. */
typedef struct WebRenderOptions {
        bool nginx_http2_directive;  /* nginx 1.25.1 or later: `http2 on;` instead of `listen ... http2` */
} WebRenderOptions;

/* The text of one site file (caller owns it). Returns 0, -EINVAL for an invalid certificate name,
 * or -ENOMEM. */
int nginx_site_render(const WebSite *site, const WebRenderOptions *options, char **ret);
int apache_site_render(const WebSite *site, char **ret);

/* Whether nginx at version text ("1.22.1") takes the `http2` directive. Returns 1, 0, or -EINVAL. */
int nginx_version_has_http2_directive(const char *version);

/* The apache modules (names in mods-available, without .load) that site needs, NULL-terminated
 * in static storage, written into ret (size WEB_APACHE_MODULES_MAX). Returns the number. */
#define WEB_APACHE_MODULES_MAX 8U
size_t apache_site_modules(const WebSite *site, const char *ret[static WEB_APACHE_MODULES_MAX]);

/* Validators shared by the run and the key declarations. Each returns 0 or -EINVAL with a reason
 * in reason (size bytes) that follows the value's key as its subject. */
int web_name_check(const char *name, char *reason, size_t size);
int web_domain_check(const char *domain, char *reason, size_t size);
int web_root_check(const char *path, char *reason, size_t size);
int web_proxy_check(const char *url, char *reason, size_t size);

/* The proxy URL as the site file uses it: a URL with a path gets a final '/' so that request paths
 * append to it. Caller owns the result; NULL on allocation failure. */
char *web_proxy_normalize(const char *url);

/* The declaration of the webserver key, which the run checks the whole key against first. */
extern const KeyField webserver_fields[];

/* The site index that a dotted path below webserver names ("sites.2.root" is 2), or -1: the item
 * that problems of that check are reported against. */
int web_path_item(const char *path);

/* The value of a boolean field, also from the strings that the declarations accept with a
 * warning ("yes", "off"), or fallback when it is absent or neither. */
bool web_boolean_value_or(const json_t *v, bool fallback);
