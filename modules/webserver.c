/* SPDX-License-Identifier: Apache-2.0 */
/* The webserver module: one nginx or apache site file per entry of webserver.sites, checked with
 * the server's own configuration test before the server reloads, and put back as it was when the
 * test fails. kiln's files are named kiln-NAME.conf (000-kiln-NAME.conf for apache's default
 * site, which must load first). In a run where every listed site applies, such a file whose site
 * is no longer listed is removed, and the distribution's default site that a kiln default site
 * replaced is enabled again once no kiln site is the default. */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "build-config.h"
#include "command.h"
#include "domains.h"
#include "lib/exec-util.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "lib/parse-util.h"
#include "log.h"
#include "module.h"
#include "report.h"
#include "tls.h"
#include "webserver.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-bus.h>
#endif

/* Maximum size of a site file, module link target or certificate file that kiln reads back. */
#define WEB_FILE_MAX (1024U * 1024U)
/* Time limit of the server's configuration test and reload commands. */
#define WEB_COMMAND_TIMEOUT_USEC (60 * USEC_PER_SEC)
/* Maximum length of the version that `nginx -v` prints, such as "1.22.1". */
#define WEB_VERSION_OUTPUT_MAX 256U
/* Maximum size of a pid file. */
#define WEB_PID_FILE_MAX 64U
#define SYSTEMD_RUNTIME_DIR "/run/systemd/system"

static const char *const web_server_table[_WEB_SERVER_MAX] = {
        [WEB_SERVER_NGINX] = "nginx",
        [WEB_SERVER_APACHE] = "apache",
};

const char *web_server_to_string(WebServerKind k) {
        return k >= 0 && k < _WEB_SERVER_MAX ? web_server_table[k] : NULL;
}

WebServerKind web_server_from_string(const char *s) {
        for (size_t i = 0; s && i < _WEB_SERVER_MAX; i++)
                if (streq(web_server_table[i], s))
                        return (WebServerKind) i;
        return _WEB_SERVER_INVALID;
}

void web_site_done(WebSite *s) {
        free(s->name);
        strv_free(s->domains);
        free(s->root);
        free(s->proxy);
        free(s->tls);
        free(s->tls_fingerprint);
        *s = (WebSite) {};
}

/* Where one distribution keeps one server's configuration. */
typedef struct WebLayout {
        const char *name;
        WebServerKind kind;
        const char *binary;              /* present when the server is installed */
        const char *site_dir;            /* site files, present when the layout applies */
        const char *enabled_dir;         /* links that enable sites, or NULL when site_dir is read */
        const char *link_prefix;         /* what a link in enabled_dir points to, before the file name */
        const char *mods_dir;            /* apache on Debian: mods-available and mods-enabled below it */
        const char *distro_default_link; /* the link that enables the distribution's default site */
        const char *removed_default;     /* the state file that records the target of distro_default_link
                                          * while kiln has removed that link for a kiln default site */
        const char *test_command;        /* run with "-t" (nginx) or "configtest" (apache) */
        const char *reload_argv[4];
        const char *pid_file;
        const char *unit;
} WebLayout;

/* Debian and Ubuntu; Alpine (http.d); RHEL, Fedora and Amazon Linux (conf.d). Checked in order. */
static const WebLayout web_layouts[] = {
        { .name = "Debian nginx", .kind = WEB_SERVER_NGINX, .binary = "/usr/sbin/nginx",
          .site_dir = "/etc/nginx/sites-available", .enabled_dir = "/etc/nginx/sites-enabled",
          .link_prefix = "/etc/nginx/sites-available/", .distro_default_link = "/etc/nginx/sites-enabled/default",
          .removed_default = "/var/lib/kiln/webserver-nginx-removed-default", .test_command = "nginx", .reload_argv = { "nginx", "-s", "reload" }, .pid_file = "/run/nginx.pid",
          .unit = "nginx.service" },
        { .name = "Alpine nginx", .kind = WEB_SERVER_NGINX, .binary = "/usr/sbin/nginx",
          .site_dir = "/etc/nginx/http.d", .test_command = "nginx", .reload_argv = { "nginx", "-s", "reload" },
          .pid_file = "/run/nginx/nginx.pid", .unit = "nginx.service" },
        { .name = "RHEL nginx", .kind = WEB_SERVER_NGINX, .binary = "/usr/sbin/nginx",
          .site_dir = "/etc/nginx/conf.d", .test_command = "nginx", .reload_argv = { "nginx", "-s", "reload" },
          .pid_file = "/run/nginx.pid", .unit = "nginx.service" },
        { .name = "Debian apache", .kind = WEB_SERVER_APACHE, .binary = "/usr/sbin/apache2",
          .site_dir = "/etc/apache2/sites-available", .enabled_dir = "/etc/apache2/sites-enabled",
          .link_prefix = "../sites-available/", .mods_dir = "/etc/apache2",
          .distro_default_link = "/etc/apache2/sites-enabled/000-default.conf",
          .removed_default = "/var/lib/kiln/webserver-apache-removed-default", .test_command = "apache2ctl",
          .reload_argv = { "apache2ctl", "graceful" }, .pid_file = "/run/apache2/apache2.pid",
          .unit = "apache2.service" },
        { .name = "RHEL apache", .kind = WEB_SERVER_APACHE, .binary = "/usr/sbin/httpd",
          .site_dir = "/etc/httpd/conf.d", .test_command = "apachectl", .reload_argv = { "apachectl", "graceful" },
          .pid_file = "/run/httpd/httpd.pid", .unit = "httpd.service" },
        { .name = "Alpine apache", .kind = WEB_SERVER_APACHE, .binary = "/usr/sbin/httpd",
          .site_dir = "/etc/apache2/conf.d", .test_command = "apachectl",
          .reload_argv = { "apachectl", "graceful" }, .pid_file = "/run/apache2/httpd.pid",
          .unit = "apache2.service" },
};


/* Fill site from one entry of sites that the declarations accepted. A site without domains takes
 * default_domains (the top-level domains, may be NULL). Returns 0, -ENOMEM, or -ENODATA when the
 * site has no domains at all, with site->name set. */
static int web_site_from_json(const json_t *entry, char *const *default_domains, WebSite *site) {
        const json_t *domains = json_object_get(entry, "domains"), *proxy = json_object_get(entry, "proxy");
        const json_t *root = json_object_get(entry, "root"), *tls = json_object_get(entry, "tls");
        size_t n;

        site->name = strdup(json_string_value(json_object_get(entry, "name")));
        if (!site->name)
                return -ENOMEM;
        if (json_is_null(domains))
                domains = NULL;
        if (!domains) {
                if (strv_length(default_domains) == 0)
                        return -ENODATA;
                n = strv_length(default_domains);
                site->domains = calloc(n + 1, sizeof(char *));
                if (!site->domains)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        if (!(site->domains[i] = strdup(default_domains[i])))
                                return -ENOMEM;
        }

        n = !domains ? 0 : json_is_array(domains) ? json_array_size(domains) : 1;
        if (domains) {
                site->domains = calloc(n + 1, sizeof(char *));
                if (!site->domains)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                const json_t *d = json_is_array(domains) ? json_array_get(domains, i) : domains;

                site->domains[i] = strdup(json_string_value(d));
                if (!site->domains[i])
                        return -ENOMEM;
                /* Host names are case-insensitive; both servers match them in lower case. */
                for (char *c = site->domains[i]; *c; c++)
                        if (*c >= 'A' && *c <= 'Z')
                                *c = (char) (*c - 'A' + 'a');
        }

        if (root && !(site->root = strdup(json_string_value(root))))
                return -ENOMEM;
        if (proxy && !(site->proxy = web_proxy_normalize(json_string_value(proxy))))
                return -ENOMEM;
        if (tls && !(site->tls = strdup(json_string_value(tls))))
                return -ENOMEM;
        site->redirect_http = web_boolean_value_or(json_object_get(entry, "redirect_http"), site->tls != NULL);
        site->is_default = web_boolean_value_or(json_object_get(entry, "default"), false);
        return 0;
}

/* ---- The server and its layout ---- */

static const WebLayout *web_layout_find(int root_fd, WebServerKind kind) {
        for (size_t i = 0; i < ELEMENTSOF(web_layouts); i++) {
                const WebLayout *l = &web_layouts[i];

                if (l->kind == kind && root_exists(root_fd, l->binary) > 0 && root_exists(root_fd, l->site_dir) > 0)
                        return l;
        }
        return NULL;
}

/* The layout of the requested server, or of the installed one: nginx when both are. Returns NULL
 * after reporting. */
static const WebLayout *web_layout_choose(Context *ctx, const json_t *cfg) {
        const char *server = json_string_value(json_object_get(cfg, "server"));
        const WebLayout *nginx, *apache, *l;

        if (server) {
                l = web_layout_find(ctx->root_fd, web_server_from_string(server));
                if (!l)
                        (void) report_error(ctx, -1, 0, "webserver.server is '%s', but %s is not installed in the "
                                            "image. Install it with the packages key.", server,
                                            streq(server, "nginx") ? "nginx" : "apache2 or httpd");
                return l;
        }

        nginx = web_layout_find(ctx->root_fd, WEB_SERVER_NGINX);
        apache = web_layout_find(ctx->root_fd, WEB_SERVER_APACHE);
        if (nginx && apache)
                log_info("Both nginx and apache are installed and webserver.server is not set, using nginx.");
        l = nginx ?: apache;
        if (!l)
                (void) report_error(ctx, -1, 0, "Failed to find a web server: neither nginx nor apache is "
                                    "installed in the image. Install one with the packages key.");
        return l;
}

/* The site file's name: apache reads the files of a directory in order and serves unknown names
 * from the first virtual host, so its default site sorts first. */
static char *web_site_file_name(const WebLayout *layout, const WebSite *site) {
        char *s;

        if (asprintf(&s, "%skiln-%s.conf", layout->kind == WEB_SERVER_APACHE && site->is_default ? "000-" : "",
                     site->name) < 0)
                return NULL;
        return s;
}

static bool web_file_name_is_kiln(const char *name) {
        size_t n = strlen(name);

        if (strneq(name, "000-", 4)) {
                name += 4;
                n -= 4;
        }
        return strneq(name, "kiln-", 5) && n > strlen("kiln-.conf") && streq(name + n - 5, ".conf");
}

/* ---- Certificates ---- */

static void bio_free_allp(BIO **b) {
        BIO_free_all(*b);
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static void x509_freep(X509 **x) {
        X509_free(*x);
}

static void evp_pkey_freep(EVP_PKEY **k) {
        EVP_PKEY_free(*k);
}

static int pem_file_read(int root_fd, const char *path, BIO **ret) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        BIO *bio;
        int r;

        r = read_file_at(root_fd, path, WEB_FILE_MAX, &data, &size);
        if (r < 0)
                return r;
        bio = BIO_new(BIO_s_mem());
        if (!bio || BIO_write(bio, data, (int) size) != (int) size) {
                BIO_free_all(bio);
                return -ENOMEM;
        }
        OPENSSL_cleanse(data, size);
        *ret = bio;
        return 0;
}

/* Whether the tls key of config lists a certificate called name. */
static bool tls_config_defines(const json_t *config, const char *name) {
        const json_t *certificates = json_object_get(json_object_get(config, "tls"), "certificates");
        const json_t *entry;
        size_t i;

        json_array_foreach(certificates, i, entry)
                if (streq(json_string_value(json_object_get(entry, "name")) ?: "", name))
                        return true;
        return false;
}

/* Check that the site's certificate and key are installed and belong together, and record the
 * certificate's fingerprint. Returns 0, or <0 after reporting against item. */
static int web_site_tls_check(Context *ctx, const json_t *config, int item, WebSite *site) {
        _cleanup_free_ char *chain = NULL, *key = NULL;
        _cleanup_(bio_free_allp) BIO *chain_bio = NULL, *key_bio = NULL;
        _cleanup_(x509_freep) X509 *cert = NULL;
        _cleanup_(evp_pkey_freep) EVP_PKEY *pkey = NULL;
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned digest_size = 0;
        int r;

        r = tls_certificate_paths(site->tls, &chain, &key);
        if (r < 0)
                return report_error(ctx, item, r, "Failed to check the certificate '%s' of site '%s': %m", site->tls,
                                    site->name);

        r = pem_file_read(ctx->root_fd, chain, &chain_bio);
        if (r == -ENOENT && !tls_config_defines(config, site->tls))
                return report_error(ctx, item, r, "Site '%s' names the certificate '%s', which tls.certificates does "
                                    "not define and which is not installed in '%s', so the site is not changed. "
                                    "Define it in tls.certificates.", site->name, site->tls, chain);
        if (r < 0)
                return report_error(ctx, item, r, "Failed to read the certificate '%s' of site '%s' from '%s', so the "
                                    "site is not changed: %m", site->tls, site->name, chain);
        r = pem_file_read(ctx->root_fd, key, &key_bio);
        if (r < 0)
                return report_error(ctx, item, r, "Failed to read the private key '%s' of site '%s', so the site is "
                                    "not changed: %m", key, site->name);

        cert = PEM_read_bio_X509(chain_bio, /* x= */ NULL, /* cb= */ NULL, /* u= */ NULL);
        if (!cert)
                return report_error(ctx, item, 0, "The certificate file '%s' of site '%s' contains no valid PEM "
                                    "certificate, so the site is not changed.", chain, site->name);
        pkey = PEM_read_bio_PrivateKey(key_bio, /* x= */ NULL, /* cb= */ NULL, /* u= */ NULL);
        if (!pkey)
                return report_error(ctx, item, 0, "The private key file '%s' of site '%s' contains no valid PEM "
                                    "private key, so the site is not changed.", key, site->name);
        if (X509_check_private_key(cert, pkey) != 1)
                return report_error(ctx, item, 0, "The private key '%s' does not match the certificate '%s' of "
                                    "site '%s', so the site is not changed.", key, chain, site->name);

        if (X509_digest(cert, EVP_sha256(), digest, &digest_size) != 1)
                return report_error(ctx, item, -ENOMEM, "Failed to hash the certificate '%s': %m", chain);
        site->tls_fingerprint = malloc(digest_size * 2 + 1);
        if (!site->tls_fingerprint)
                return report_error(ctx, item, -ENOMEM, "Failed to hash the certificate '%s': %m", chain);
        for (unsigned i = 0; i < digest_size; i++)
                (void) snprintf(site->tls_fingerprint + 2 * i, 3, "%02x", digest[i]);
        return 0;
}

/* ---- The files and links kiln changes, and their previous state ---- */

typedef enum EntryType {
        ENTRY_ABSENT,
        ENTRY_FILE,
        ENTRY_LINK,
        ENTRY_OTHER,             /* a directory or device: never replaced */
} EntryType;

/* What is at one path: the content and mode of a file, or the target of a symbolic link. */
typedef struct Entry {
        EntryType type;
        char *data;
        size_t size;
        mode_t mode;
} Entry;

typedef struct Change {
        char *path;
        int item;                /* the site it belongs to, or -1 */
        bool only_if_absent;     /* an apache module link: any existing entry enables the module */
        Entry want;
        Entry before;
} Change;

typedef struct Plan {
        Change *changes;
        size_t n;
} Plan;

static void plan_done(Plan *p) {
        for (size_t i = 0; i < p->n; i++) {
                free(p->changes[i].path);
                free(p->changes[i].want.data);
                free(p->changes[i].before.data);
        }
        free(p->changes);
        *p = (Plan) {};
}

/* Add a change of path (taken) unless the plan has one for it. data is taken too. */
static int plan_add_take(Plan *p, char *path, int item, EntryType type, char *data, bool only_if_absent) {
        Change *c;

        if (!path) {
                free(data);
                return -ENOMEM;
        }
        for (size_t i = 0; i < p->n; i++)
                if (streq(p->changes[i].path, path)) {
                        free(path);
                        free(data);
                        return 0;
                }

        c = reallocarray(p->changes, p->n + 1, sizeof(Change));
        if (!c) {
                free(path);
                free(data);
                return -ENOMEM;
        }
        p->changes = c;
        p->changes[p->n++] = (Change) {
                .path = path,
                .item = item,
                .only_if_absent = only_if_absent,
                .want = { .type = type, .data = data, .size = data ? strlen(data) : 0, .mode = 0644 },
        };
        return 0;
}

static char *path_join(const char *dir, const char *name) {
        char *s;

        if (asprintf(&s, "%s/%s", dir, name) < 0)
                return NULL;
        return s;
}

/* Open the directory of path inside the root and point *ret_base into path at its last part. */
static int parent_open(int root_fd, const char *path, const char **ret_base) {
        _cleanup_free_ char *dir = strdup(path);
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash || slash[1] == '\0')
                return -EINVAL;
        *ret_base = path + (slash - dir) + 1;
        if (slash == dir)
                slash[1] = '\0';
        else
                *slash = '\0';
        return root_open(root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
}

static int entry_read(int root_fd, const char *path, Entry *ret) {
        _cleanup_close_ int dir_fd = -EBADF;
        const char *base = NULL;
        struct stat st;
        char target[PATH_MAX];
        ssize_t n;

        *ret = (Entry) { .type = ENTRY_ABSENT };
        dir_fd = parent_open(root_fd, path, &base);
        if (dir_fd == -ENOENT)
                return 0;
        if (dir_fd < 0)
                return dir_fd;
        if (fstatat(dir_fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : negative_errno();

        if (S_ISLNK(st.st_mode)) {
                n = readlinkat(dir_fd, base, target, sizeof(target) - 1);
                if (n < 0)
                        return negative_errno();
                target[n] = '\0';
                ret->data = strdup(target);
                if (!ret->data)
                        return -ENOMEM;
                ret->type = ENTRY_LINK;
                ret->size = (size_t) n;
                return 0;
        }
        if (!S_ISREG(st.st_mode)) {
                ret->type = ENTRY_OTHER;
                return 0;
        }

        ret->type = ENTRY_FILE;
        ret->mode = st.st_mode & 07777;
        return read_file_at(root_fd, path, WEB_FILE_MAX, &ret->data, &ret->size);
}

static void entry_done(Entry *e) {
        free(e->data);
        e->data = NULL;
}

static bool entry_equal(const Entry *a, const Entry *b) {
        if (a->type != b->type)
                return false;
        if (a->type == ENTRY_ABSENT)
                return true;
        if (a->type == ENTRY_FILE && a->mode != b->mode)
                return false;
        return a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
}

/* Replace whatever is at path with a symbolic link to target, atomically. */
static int link_replace(int root_fd, const char *path, const char *target) {
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_free_ char *dir = NULL, *temporary = NULL;
        const char *base = NULL;
        int r;

        dir = strndup(path, strrchr(path, '/') - path);
        if (!dir)
                return -ENOMEM;
        r = root_mkdir_p(root_fd, dir, 0755, (uid_t) -1, (gid_t) -1);
        if (r < 0)
                return r;
        dir_fd = parent_open(root_fd, path, &base);
        if (dir_fd < 0)
                return dir_fd;

        if (asprintf(&temporary, ".#kiln-%s", base) < 0)
                return -ENOMEM;
        (void) unlinkat(dir_fd, temporary, 0);
        if (symlinkat(target, dir_fd, temporary) < 0)
                return negative_errno();
        if (renameat(dir_fd, temporary, dir_fd, base) < 0) {
                r = negative_errno();
                (void) unlinkat(dir_fd, temporary, 0);
                return r;
        }
        return fsync(dir_fd) < 0 ? negative_errno() : 0;
}

static int entry_remove(int root_fd, const char *path) {
        _cleanup_close_ int dir_fd = -EBADF;
        const char *base = NULL;

        dir_fd = parent_open(root_fd, path, &base);
        if (dir_fd == -ENOENT)
                return 0;
        if (dir_fd < 0)
                return dir_fd;
        if (unlinkat(dir_fd, base, 0) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

/* Make path what e describes. */
static int entry_apply(int root_fd, const char *path, const Entry *e) {
        /* No default case: the compiler warns when an entry type is missing. */
        switch (e->type) {
        case ENTRY_ABSENT:
                return entry_remove(root_fd, path);
        case ENTRY_FILE:
                return write_file_atomic(root_fd, path, e->data, e->size, e->mode, (uid_t) -1, (gid_t) -1,
                                         WRITE_MKDIR_PARENTS | WRITE_SYNC);
        case ENTRY_LINK:
                return link_replace(root_fd, path, e->data);
        case ENTRY_OTHER:
                return -EISDIR;
        }
        return -EINVAL;
}

/* ---- Planning ---- */

static int plan_add_apache_modules(Context *ctx, Plan *p, const WebLayout *l, int item, const WebSite *site) {
        const char *modules[WEB_APACHE_MODULES_MAX];
        static const char *const suffixes[] = { "load", "conf" };
        int r;

        (void) apache_site_modules(site, modules);
        for (size_t i = 0; modules[i]; i++)
                for (size_t j = 0; j < ELEMENTSOF(suffixes); j++) {
                        _cleanup_free_ char *available = NULL, *target = NULL, *link = NULL;

                        if (asprintf(&available, "%s/mods-available/%s.%s", l->mods_dir, modules[i], suffixes[j]) < 0 ||
                            asprintf(&target, "../mods-available/%s.%s", modules[i], suffixes[j]) < 0 ||
                            asprintf(&link, "%s/mods-enabled/%s.%s", l->mods_dir, modules[i], suffixes[j]) < 0)
                                return -ENOMEM;
                        r = root_exists(ctx->root_fd, available);
                        if (r < 0)
                                return r;
                        if (r == 0 && streq(suffixes[j], "load"))
                                return report_error(ctx, item, 0, "Failed to enable the apache module '%s' for site "
                                                    "'%s': %s is missing.", modules[i], site->name, available);
                        if (r == 0)
                                continue;
                        r = plan_add_take(p, TAKE_PTR(link), item, ENTRY_LINK, TAKE_PTR(target),
                                          /* only_if_absent= */ true);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int plan_add_site(Context *ctx, Plan *p, const WebLayout *l, const WebRenderOptions *options, int item,
                         const WebSite *site) {
        _cleanup_free_ char *name = NULL, *text = NULL;
        int r;

        name = web_site_file_name(l, site);
        if (!name)
                return -ENOMEM;
        r = l->kind == WEB_SERVER_NGINX ? nginx_site_render(site, options, &text) : apache_site_render(site, &text);
        if (r < 0)
                return r;
        r = plan_add_take(p, path_join(l->site_dir, name), item, ENTRY_FILE, TAKE_PTR(text), false);
        if (r < 0)
                return r;

        if (l->enabled_dir) {
                char *target;

                if (asprintf(&target, "%s%s", l->link_prefix, name) < 0)
                        return -ENOMEM;
                r = plan_add_take(p, path_join(l->enabled_dir, name), item, ENTRY_LINK, target, false);
                if (r < 0)
                        return r;
        }
        if (l->mods_dir)
                return plan_add_apache_modules(ctx, p, l, item, site);
        return 0;
}

/* Whether a kiln file name belongs to the site named name. */
static bool file_name_of_site(const char *file, const char *name) {
        if (strneq(file, "000-", 4))
                file += 4;
        file += strlen("kiln-");
        return strlen(file) == strlen(name) + strlen(".conf") && strneq(file, name, strlen(name));
}

/* Plan the removal of the kiln files in dir that the plan does not write and that belong to none
 * of the sites in keep (NULL-terminated names of sites whose update failed). */
static int plan_remove_stale(Context *ctx, Plan *p, const char *dir, char *const *keep) {
        _cleanup_(closedirp) DIR *d = NULL;
        int fd;

        fd = root_open(ctx->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return negative_errno();
        }

        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                bool kept = false;
                int r;

                if (!web_file_name_is_kiln(de->d_name))
                        continue;
                for (char *const *k = keep; k && *k; k++)
                        kept = kept || file_name_of_site(de->d_name, *k);
                if (kept)
                        continue;
                r = plan_add_take(p, path_join(dir, de->d_name), -1, ENTRY_ABSENT, NULL, false);
                if (r < 0)
                        return r;
        }
        return errno > 0 ? -errno : 0;
}

/* Read what each planned path contains now, and drop the changes that are already in place. */
static int plan_read_current(Context *ctx, Plan *p) {
        size_t kept = 0;

        for (size_t i = 0; i < p->n; i++) {
                Change *c = &p->changes[i];
                int r;

                r = entry_read(ctx->root_fd, c->path, &c->before);
                if (r < 0)
                        return report_error(ctx, c->item, r, "Failed to read '%s': %m", c->path);
                if (c->before.type == ENTRY_OTHER)
                        return report_error(ctx, c->item, 0, "'%s' is neither a file nor a symbolic link, so kiln "
                                            "does not replace it.", c->path);

                if (entry_equal(&c->want, &c->before) || (c->only_if_absent && c->before.type != ENTRY_ABSENT)) {
                        free(c->path);
                        free(c->want.data);
                        free(c->before.data);
                        continue;
                }
                p->changes[kept++] = *c;
        }
        p->n = kept;
        return 0;
}

/* ---- Applying, testing and restoring ---- */

/* Put back the first n changes as they were. Returns 0, or the first error after reporting it. */
static int plan_restore(Context *ctx, const Plan *p, size_t n) {
        int failed = 0;

        for (size_t i = n; i > 0; i--) {
                const Change *c = &p->changes[i - 1];
                int r = entry_apply(ctx->root_fd, c->path, &c->before);

                if (r < 0 && failed == 0)
                        failed = report_error(ctx, c->item, r, "Failed to restore '%s': %m", c->path);
        }
        return failed;
}

static int plan_apply(Context *ctx, const Plan *p) {
        for (size_t i = 0; i < p->n; i++) {
                const Change *c = &p->changes[i];
                int r = entry_apply(ctx->root_fd, c->path, &c->want);

                if (r < 0) {
                        (void) report_error(ctx, c->item, r, "Failed to write '%s', restoring the previous sites: %m",
                                            c->path);
                        (void) plan_restore(ctx, p, i);
                        return r;
                }
        }
        return 0;
}

/* The server's messages on one line: its stderr lines joined with " | ". Caller owns it. */
static char *server_message(const char *text) {
        char *s = strdup(text ?: ""), *out, *end;
        size_t n;

        if (!s)
                return NULL;
        n = strlen(s);
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
                s[--n] = '\0';

        /* At most three bytes more per line break. */
        out = malloc(n * 3 + 1);
        if (!out) {
                free(s);
                return NULL;
        }
        out[0] = '\0';
        end = out;
        for (char *line = s, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (line[0] == '\0')
                        continue;
                if (end != out)
                        end = stpcpy(end, " | ");
                end = stpcpy(end, line);
        }
        free(s);
        return out;
}

/* The index of the first site whose file the message names, or -1. */
static int message_site_item(const WebLayout *l, const WebSite *sites, size_t n, const char *message) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *name = web_site_file_name(l, &sites[i]);

                if (name && strstr(message, name))
                        return (int) i;
        }
        return -1;
}

/* Run the server's configuration test inside the root. Returns 0 when it passes, <0 after
 * reporting its messages. */
static int web_config_test(Context *ctx, const WebLayout *l, const WebSite *sites, size_t n) {
        _cleanup_(exec_result_done) ExecResult result = {};
        _cleanup_free_ char *message = NULL;
        const ExecLimits limits = { .timeout_usec = WEB_COMMAND_TIMEOUT_USEC, .kill_grace_usec = COMMAND_KILL_GRACE_USEC };
        char *argv[] = { (char *) l->test_command, l->kind == WEB_SERVER_NGINX ? "-t" : "configtest", NULL };
        char how[64];
        int r;

        r = exec_in_root_limited(ctx->root, argv, /* env= */ NULL, /* input_fd= */ -EBADF, /* output_fd= */ -EBADF,
                                 &limits, &result);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to run '%s' to check the new sites: %m", l->test_command);
        if (result.exit_code == 0 && !result.timed_out) {
                log_debug("%s accepted the configuration.", l->test_command);
                return 0;
        }

        exec_result_format_termination(&result, how, sizeof(how));
        message = server_message(result.stderr_head);
        return report_error(ctx, message_site_item(l, sites, n, message ?: ""), 0,
                            "The %s configuration test %s, so the previous sites are restored: %s", web_server_to_string(l->kind),
                            result.timed_out ? "timed out" : how, message ?: "");
}

static int nginx_render_options(Context *ctx, const WebLayout *l, WebRenderOptions *ret) {
        _cleanup_(exec_result_done) ExecResult result = {};
        const ExecLimits limits = { .timeout_usec = WEB_COMMAND_TIMEOUT_USEC };
        const char *version;
        char buf[WEB_VERSION_OUTPUT_MAX];
        int r;

        *ret = (WebRenderOptions) {};
        if (l->kind != WEB_SERVER_NGINX)
                return 0;

        /* nginx -v prints "nginx version: nginx/1.22.1" on stderr. */
        r = exec_in_root_limited(ctx->root, (char *[]) { "nginx", "-v", NULL }, /* env= */ NULL, -EBADF, -EBADF,
                                 &limits, &result);
        version = r >= 0 && result.exit_code == 0 && result.stderr_head ? strstr(result.stderr_head, "nginx/") : NULL;
        if (!version) {
                log_debug("Failed to read the nginx version, writing the http2 parameter of listen.");
                return 0;
        }
        (void) snprintf(buf, sizeof(buf), "%.*s", (int) strcspn(version + strlen("nginx/"), " \n"),
                        version + strlen("nginx/"));
        ret->nginx_http2_directive = nginx_version_has_http2_directive(buf) > 0;
        return 0;
}

/* ---- Reloading ---- */

/* Whether the server runs on the root: its pid file names a live process whose root directory is
 * the target root. A stale pid file of an image never makes kiln signal an unrelated process. */
static int web_server_running(Context *ctx, const WebLayout *l) {
        _cleanup_free_ char *data = NULL, *proc_root = NULL;
        struct stat root_st, proc_st;
        unsigned pid;
        int r;

        r = read_file_at(ctx->root_fd, l->pid_file, WEB_PID_FILE_MAX, &data, /* ret_size= */ NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        data[strcspn(data, "\n")] = '\0';
        if (safe_atou(data, &pid) < 0 || pid == 0 || pid > INT_MAX)
                return 0;

        if (asprintf(&proc_root, "/proc/%u/root", pid) < 0)
                return -ENOMEM;
        if (stat(proc_root, &proc_st) < 0 || fstat(ctx->root_fd, &root_st) < 0)
                return 0;
        return proc_st.st_dev == root_st.st_dev && proc_st.st_ino == root_st.st_ino;
}

#if HAVE_LIBSYSTEMD
/* Queue ReloadOrRestartUnit through systemd's D-Bus API without waiting for the job, because the
 * server's unit may be ordered after kiln's. Like systemctl reload-or-restart, this starts a
 * stopped server. */
static int web_unit_reload(Context *ctx, const WebLayout *l) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *job = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to connect to the system bus to reload '%s': %m", l->unit);
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "ReloadOrRestartUnit", &error, &reply, "ss",
                               l->unit, "replace");
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to reload '%s': %s", l->unit,
                                    error.message ?: "the call failed");
        if (sd_bus_message_read(reply, "o", &job) < 0)
                job = "(unknown)";
        log_info("Queued the reload of '%s' as job %s.", l->unit, job);
        return 0;
}
#endif

static int web_server_reload(Context *ctx, const WebLayout *l) {
        _cleanup_close_ int output_fd = -EBADF;
        int r;

        /* Only the running system's systemd is asked: a scratch root or an image must never reach
         * the host's service manager. */
        if (ctx->root_is_host && root_exists(ctx->root_fd, SYSTEMD_RUNTIME_DIR) > 0) {
#if HAVE_LIBSYSTEMD
                return web_unit_reload(ctx, l);
#else
                log_debug("kiln was built without libsystemd, reloading with the server's own command.");
#endif
        }

        r = web_server_running(ctx, l);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read the pid file '%s': %m", l->pid_file);
        if (r == 0) {
                log_info("%s is not running, so it reads the new sites when it starts.", web_server_to_string(l->kind));
                return 0;
        }

        output_fd = command_output_open(ctx, "webserver");
        return command_run_limited(ctx, l->reload_argv[0], -1, (char **) l->reload_argv, /* extra_env= */ NULL,
                                   -EBADF, output_fd, WEB_COMMAND_TIMEOUT_USEC);
}

/* ---- The module ---- */

static void plan_log(const Plan *p) {
        for (size_t i = 0; i < p->n; i++) {
                const Change *c = &p->changes[i];

                if (c->want.type == ENTRY_ABSENT)
                        log_info("Removed %s.", c->path);
                else if (c->want.type == ENTRY_LINK)
                        log_info("Linked %s to %s.", c->path, c->want.data);
                else
                        log_info("Wrote %s.", c->path);
        }
}

/* Parse the sites and check their certificates. A site that fails is reported and left as it
 * was: its name goes to keep so that its old files stay. Returns 0 or the first error. */
static int web_sites_load(Context *ctx, const json_t *config, const json_t *entries, char *const *default_domains,
                          WebSite *sites, bool *ok, char **keep) {
        const json_t *entry;
        size_t i, n_keep = 0;
        int failed = 0;

        json_array_foreach(entries, i, entry) {
                int r = web_site_from_json(entry, default_domains, &sites[i]);

                if (r == -ENODATA)
                        r = report_error(ctx, (int) i, -EINVAL, "webserver.sites[%zu] '%s' has no domains, and the "
                                         "top-level domains key lists none, so the site is not changed. Set "
                                         "domains on the site or at the top level.", i, sites[i].name);
                else if (r < 0)
                        return report_error(ctx, (int) i, r, "Failed to read webserver.sites[%zu]: %m", i);
                else if (sites[i].tls)
                        r = web_site_tls_check(ctx, config, (int) i, &sites[i]);
                ok[i] = r >= 0;
                if (r >= 0)
                        continue;
                if (failed == 0)
                        failed = r;
                keep[n_keep] = strdup(sites[i].name);
                if (!keep[n_keep++])
                        return report_error(ctx, (int) i, -ENOMEM, "Failed to read webserver.sites[%zu]: %m", i);
        }
        return failed;
}

/* Plan the removal of the distribution's default site, which also claims default_server on port
 * 80, while a kiln site is the default, and record the link's target so that the link can be put
 * back. */
static int plan_remove_distro_default(Context *ctx, Plan *p, const WebLayout *l) {
        _cleanup_(entry_done) Entry link = {};
        int r;

        r = entry_read(ctx->root_fd, l->distro_default_link, &link);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read '%s': %m", l->distro_default_link);
        if (link.type == ENTRY_ABSENT)
                return 0;
        /* NOTE: only a symbolic link is recorded: a regular file there is removed and not put back. */
        if (link.type == ENTRY_LINK) {
                r = plan_add_take(p, strdup(l->removed_default), -1, ENTRY_FILE, TAKE_PTR(link.data), false);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to prepare the sites: %m");
        }
        r = plan_add_take(p, strdup(l->distro_default_link), -1, ENTRY_ABSENT, NULL, false);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to prepare the sites: %m");
        return 0;
}

/* Plan putting back the distribution's default site link that kiln removed, now that no kiln site
 * is the default. */
static int plan_restore_distro_default(Context *ctx, Plan *p, const WebLayout *l) {
        _cleanup_(entry_done) Entry record = {};
        int r;

        r = entry_read(ctx->root_fd, l->removed_default, &record);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read '%s': %m", l->removed_default);
        if (record.type != ENTRY_FILE)
                return 0;
        if (record.size == 0 || memchr(record.data, '\0', record.size) || strchr(record.data, '\n')) {
                log_warning("'%s' does not contain a link target, so the default site is not enabled again, "
                            "ignoring.", l->removed_default);
                return plan_add_take(p, strdup(l->removed_default), -1, ENTRY_ABSENT, NULL, false);
        }

        /* An existing entry there is the administrator's and stays. */
        r = plan_add_take(p, strdup(l->distro_default_link), -1, ENTRY_LINK, TAKE_PTR(record.data),
                          /* only_if_absent= */ true);
        if (r >= 0)
                r = plan_add_take(p, strdup(l->removed_default), -1, ENTRY_ABSENT, NULL, false);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to prepare the sites: %m");
        return 0;
}

static int web_plan_build(Context *ctx, const WebLayout *l, const WebSite *sites, const bool *ok, size_t n,
                          char *const *keep, Plan *p) {
        WebRenderOptions options;
        bool any_default = false, all_ok = true;
        int r;

        (void) nginx_render_options(ctx, l, &options);
        for (size_t i = 0; i < n; i++) {
                all_ok = all_ok && ok[i];
                if (!ok[i])
                        continue;
                r = plan_add_site(ctx, p, l, &options, (int) i, &sites[i]);
                if (r == -ENOMEM)
                        return report_error(ctx, (int) i, r, "Failed to prepare site '%s': %m", sites[i].name);
                if (r < 0)
                        return r;
                any_default = any_default || sites[i].is_default;
        }

        /* A site that failed may have been the default one. So only a run where every site applied
         * restores the distribution's default site or removes stale files, because a failed site
         * with a new name would otherwise remove the working site that it replaces. */
        if (l->distro_default_link && any_default)
                r = plan_remove_distro_default(ctx, p, l);
        else if (l->distro_default_link && all_ok)
                r = plan_restore_distro_default(ctx, p, l);
        else
                r = 0;
        if (r < 0)
                return r;

        if (all_ok) {
                r = plan_remove_stale(ctx, p, l->site_dir, keep);
                if (r >= 0 && l->enabled_dir)
                        r = plan_remove_stale(ctx, p, l->enabled_dir, keep);
                if (r < 0)
                        return report_error(ctx, -1, r, "Failed to list the sites kiln wrote before in '%s': %m",
                                            l->site_dir);
        } else
                log_debug("A site failed, so no site file is removed as stale in this run.");
        return plan_read_current(ctx, p);
}

/* Write, test and reload the sites that loaded. Returns 1 when something changed, 0 when all
 * was in place, <0 after reporting. */
static int web_sites_apply(Context *ctx, const WebLayout *l, const WebSite *sites, const bool *ok, size_t n,
                           char *const *keep) {
        _cleanup_(plan_done) Plan plan = {};
        int r;

        r = web_plan_build(ctx, l, sites, ok, n, keep, &plan);
        if (r < 0)
                return r;
        if (plan.n == 0) {
                log_debug("The %s sites are already in place, not reloading.", web_server_to_string(l->kind));
                return 0;
        }

        r = plan_apply(ctx, &plan);
        if (r < 0)
                return r;
        r = web_config_test(ctx, l, sites, n);
        if (r < 0) {
                (void) plan_restore(ctx, &plan, plan.n);
                return r;
        }
        plan_log(&plan);

        r = web_server_reload(ctx, l);
        return r < 0 ? r : 1;
}

static int webserver_run(Context *ctx, const json_t *config) {
        const json_t *cfg = json_object_get(config, "webserver"), *entries;
        _cleanup_free_ WebSite *sites = NULL;
        _cleanup_free_ bool *ok = NULL;
        _cleanup_strv_free_ char **keep = NULL, **default_domains = NULL;
        const WebLayout *layout;
        size_t n;
        int r, failed;

        /* The whole key is checked first, with the rules `kiln validate` applies, and a single invalid
         * value leaves every site as it was: a half-applied set of sites may not serve at all. */
        r = schema_check_shape(&webserver_fields[0].shape, cfg, /* positions= */ NULL, 0, report_shape_diagnostic,
                               &(ReportShapeTarget) { .ctx = ctx, .key = "webserver", .item_of = web_path_item });
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to check the webserver key: %m");
        if (r > 0)
                return -EINVAL;

        layout = web_layout_choose(ctx, cfg);
        if (!layout)
                return -ENOENT;
        log_debug("Using the %s layout.", layout->name);

        entries = json_object_get(cfg, "sites");
        n = json_array_size(entries);
        sites = calloc(n + 1, sizeof(WebSite));
        ok = calloc(n + 1, sizeof(bool));
        keep = calloc(n + 1, sizeof(char *));
        if (!sites || !ok || !keep)
                return report_error(ctx, -1, -ENOMEM, "Failed to read webserver.sites: %m");

        r = domains_get(ctx, config, &default_domains);
        if (r < 0)
                return report_error(ctx, -1, r, "Failed to read the top-level domains: %m");

        failed = web_sites_load(ctx, config, entries, default_domains, sites, ok, keep);
        r = failed == -ENOMEM ? failed : web_sites_apply(ctx, layout, sites, ok, n, keep);

        for (size_t i = 0; i < n; i++)
                web_site_done(&sites[i]);
        if (r < 0)
                return r;
        return failed < 0 ? failed : r;
}

static const char *const webserver_config_keys[] = { "webserver", NULL };

const AgentModule module_webserver = {
        .name = "webserver",
        .config_keys = webserver_config_keys,
        .config_fields = webserver_fields,
        .frequency = FREQUENCY_PER_INSTANCE,
        .run = webserver_run,
};
