/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/userdata/include.c: the URL list of #include and #include-once bodies, the
 * scheme checks, redaction of URLs in messages, and the include-once store, against an HTTP server
 * on 127.0.0.1 that a forked child runs. The decoder is a stub that records what it is given. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "test-helpers.h"
#include "userdata/include.h"

#define SERVER_LOG_MAX 65536
#define SERVER_LIFETIME_SEC 60
#define ROUTES_MAX 8
#define DECODED_MAX 64
#define TEXT_MAX 1024
/* Far above any sensible cap on one included body. */
#define HUGE_BODY_SIZE (1024U * 1024U * 1024U)
/* Far more URLs than one body may list. */
#define MANY_URLS 1000
/* Longer than any URL kiln accepts. */
#define LONG_URL_SIZE 100000
#define TEST_INSTANCE_ID "i-0123456789abcdef0"
#define STORE_DIR "var/lib/kiln/instances/" TEST_INSTANCE_ID "/include-once"

/* ---- An HTTP/1.1 server in a child process, replying by path ---- */

typedef struct Route {
        const char *path;        /* the request path, without the query */
        int status;
        const char *body;
        unsigned times;          /* requests this route answers before the next route for the same path
                                  * takes over; 0 for any number */
        size_t declared_size;    /* when set, the Content-Length sent, and no body follows */
        bool close_after;        /* close the connection after the reply: the server takes one
                                  * connection at a time, and a nested include opens another */
} Route;

typedef struct Server {
        pid_t pid;
        int port;
        int listen_fd;
        int log_fd;              /* read end: "CONNECT\n" per connection, "GET TARGET\n" per request */
        char log[SERVER_LOG_MAX];
} Server;

static void write_all(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t k = write(fd, data, size);
                if (k <= 0)
                        return;
                data += k;
                size -= (size_t) k;
        }
}

/* Read one request head (up to the blank line). Returns its length, 0 at end of stream. */
static size_t server_read_head(int fd, char *buf, size_t size) {
        size_t n = 0;

        while (n + 1 < size) {
                ssize_t k = read(fd, buf + n, 1);
                if (k <= 0)
                        return 0;
                n++;
                buf[n] = '\0';
                if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
                        return n;
        }
        return 0;
}

static const Route *server_route(const Route *routes, size_t n, unsigned *used, const char *path) {
        for (size_t i = 0; i < n; i++) {
                if (!streq(routes[i].path, path))
                        continue;
                if (routes[i].times > 0 && used[i] >= routes[i].times)
                        continue;
                used[i]++;
                return &routes[i];
        }
        return NULL;
}

/* Reply to one request; a path without a route gets 404. Returns false when the connection is to be
 * closed. */
static bool server_reply(int fd, const Route *route) {
        static const Route not_found = { .status = 404, .body = "" };
        const char *location = "";
        char head[256];
        size_t size;

        if (!route)
                route = &not_found;
        if (route->status / 100 == 3)
                location = "Location: http://127.0.0.1:9/elsewhere\r\n";
        size = route->declared_size > 0 ? route->declared_size : strlen(route->body ?: "");
        (void) snprintf(head, sizeof(head), "HTTP/1.1 %d Status\r\nContent-Length: %zu\r\n%s\r\n",
                        route->status, size, location);
        write_all(fd, head, strlen(head));
        if (route->declared_size > 0)
                return false;
        write_all(fd, route->body ?: "", strlen(route->body ?: ""));
        return !route->close_after;
}

static _noreturn_ void server_run(int listen_fd, int log_fd, const Route *routes, size_t n) {
        unsigned used[ROUTES_MAX] = {};

        for (;;) {
                int fd = accept(listen_fd, NULL, NULL);
                char head[8192], line[8192 + 8];

                if (fd < 0)
                        _exit(1);
                write_all(log_fd, "CONNECT\n", strlen("CONNECT\n"));
                while (server_read_head(fd, head, sizeof(head)) > 0) {
                        char target[8192] = "";

                        (void) sscanf(head, "GET %8191s", target);
                        (void) snprintf(line, sizeof(line), "GET %s\n", target);
                        write_all(log_fd, line, strlen(line));
                        target[strcspn(target, "?")] = '\0';
                        if (!server_reply(fd, server_route(routes, n, used, target)))
                                break;
                }
                close(fd);
        }
}

/* Bind the listening socket, so that routes can name the port before the server starts. */
static void server_bind(Server *s) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(addr);

        *s = (Server) { .pid = -1, .log_fd = -1 };
        s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s->listen_fd >= 0);
        assert_int_equal(bind(s->listen_fd, (struct sockaddr *) &addr, sizeof(addr)), 0);
        assert_int_equal(listen(s->listen_fd, 16), 0);
        assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *) &addr, &len), 0);
        s->port = ntohs(addr.sin_port);
}

static void server_start(Server *s, const Route *routes, size_t n) {
        int pipe_fds[2];

        assert_true(n <= ROUTES_MAX);
        assert_int_equal(pipe2(pipe_fds, O_CLOEXEC), 0);
        s->log_fd = pipe_fds[0];
        s->pid = fork();
        assert_true(s->pid >= 0);
        if (s->pid == 0) {
                /* Never outlive a test that failed before it could stop the server. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                alarm(SERVER_LIFETIME_SEC);
                close(pipe_fds[0]);
                server_run(s->listen_fd, pipe_fds[1], routes, n);
        }
        close(pipe_fds[1]);
}

/* Stop the server and collect its request log into s->log. */
static void server_stop(Server *s) {
        size_t n = 0;
        ssize_t k;

        assert_int_equal(kill(s->pid, SIGTERM), 0);
        assert_int_equal(waitpid(s->pid, NULL, 0), s->pid);
        while (n + 1 < sizeof(s->log) && (k = read(s->log_fd, s->log + n, sizeof(s->log) - 1 - n)) > 0)
                n += (size_t) k;
        s->log[n] = '\0';
        close(s->log_fd);
        close(s->listen_fd);
}

/* The number of lines of the server's log that start with prefix. */
static unsigned count_logged(const Server *s, const char *prefix) {
        unsigned n = 0;

        for (const char *line = s->log; *line; line = strchr(line, '\n') + 1)
                if (strneq(line, prefix, strlen(prefix)))
                        n++;
        return n;
}

static unsigned count_requests(const Server *s) {
        return count_logged(s, "GET ");
}

/* ---- The decoder stub ---- */

typedef struct Decoded {
        char label[TEXT_MAX];
        char data[TEXT_MAX];
        size_t size;
        unsigned depth;
} Decoded;

static Decoded decoded[DECODED_MAX];
static size_t n_decoded;

static int decode_record(Context *ctx, const char *label, const char *data, size_t size, unsigned depth) {
        Decoded *d;

        assert_true(n_decoded < DECODED_MAX);
        d = &decoded[n_decoded++];
        (void) snprintf(d->label, sizeof(d->label), "%s", label);
        assert_true(size < sizeof(d->data));
        memcpy(d->data, data, size);
        d->data[size] = '\0';
        d->size = size;
        d->depth = depth;
        return 0;
}

/* Decode as kiln's decoder does for #include bodies: include again, at the depth given. */
static int decode_nested(Context *ctx, const char *label, const char *data, size_t size, unsigned depth) {
        (void) decode_record(ctx, label, data, size, depth);
        if (size >= strlen("#include") && memcmp(data, "#include", strlen("#include")) == 0)
                return include_process(ctx, label, data, size, false, depth, decode_nested);
        return 0;
}

/* ---- Fixtures and helpers ---- */

static int setup(void **state) {
        *state = test_root_new();
        n_decoded = 0;
        return 0;
}

static int teardown(void **state) {
        TestRoot *t = *state;

        t->ctx.instance = instance_free(t->ctx.instance);
        test_root_free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

static void set_instance(Context *ctx) {
        ctx->instance = instance_new();
        assert_non_null(ctx->instance);
        ctx->instance->instance_id = strdup(TEST_INSTANCE_ID);
        assert_non_null(ctx->instance->instance_id);
}

static int process(Context *ctx, const char *body, bool once) {
        return include_process(ctx, "user-data", body, strlen(body), once, /* depth= */ 0, decode_record);
}

static const char *message_of(const json_t *list, size_t i) {
        const char *m = json_string_value(json_object_get(json_array_get(list, i), "message"));

        assert_non_null(m);
        return m;
}

static void assert_contains(const char *text, const char *needle) {
        if (!strstr(text, needle))
                fail_msg("'%s' does not contain '%s'", text, needle);
}

static void assert_not_contains(const char *text, const char *needle) {
        if (strstr(text, needle))
                fail_msg("'%s' contains '%s'", text, needle);
}

/* "http://127.0.0.1:PORT" followed by path. */
static char *url(const Server *s, const char *path) {
        char *u = NULL;

        assert_true(asprintf(&u, "http://127.0.0.1:%d%s", s->port, path) >= 0);
        return u;
}

/* The path of the stored body of an include-once URL, relative to the root. */
static char *stored_path(const char *u) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        char hex[2 * EVP_MAX_MD_SIZE + 1], *path = NULL;

        assert_true(EVP_Digest(u, strlen(u), digest, &len, EVP_sha256(), NULL));
        for (unsigned i = 0; i < len; i++)
                (void) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
        assert_true(asprintf(&path, "%s/%s", STORE_DIR, hex) >= 0);
        return path;
}

static void write_stored(const Context *ctx, const char *path, const char *text) {
        int r = write_file_atomic(ctx->root_fd, path, text, strlen(text), 0600, (uid_t) -1, (gid_t) -1,
                                  WRITE_MKDIR_PARENTS);

        assert_int_equal(r, 0);
}

static unsigned count_files(const Context *ctx, const char *dir) {
        _cleanup_free_ char *path = NULL;
        unsigned n = 0;
        struct dirent *e;
        DIR *d;

        assert_true(asprintf(&path, "%s/%s", ctx->root, dir) >= 0);
        d = opendir(path);
        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* ---- URL list ---- */

static void include_process_fetches_urls_in_order(void **state) {
        Server s;
        _cleanup_free_ char *a = NULL, *b = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = {
                { .path = "/a", .status = 200, .body = "#cloud-config\n" },
                { .path = "/b", .status = 200, .body = "#!/bin/sh\n" },
        };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        b = url(&s, "/b");
        assert_true(asprintf(&body, "#include\n%s\n%s\n", a, b) >= 0);

        assert_int_equal(process(ctx_of(state), body, false), 0);
        server_stop(&s);

        assert_int_equal(n_decoded, 2);
        assert_string_equal(decoded[0].data, "#cloud-config\n");
        assert_string_equal(decoded[1].data, "#!/bin/sh\n");
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
        assert_int_equal(count_logged(&s, "CONNECT"), 1);
}

static void include_process_passes_depth_and_label(void **state) {
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL, *label = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "x" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        assert_true(asprintf(&body, "#include\n%s\n", a) >= 0);
        assert_true(asprintf(&label, "vendor-data from '%s'", a) >= 0);

        assert_int_equal(include_process(ctx_of(state), "vendor-data", body, strlen(body), false, 1,
                                         decode_record), 0);
        server_stop(&s);

        assert_int_equal(n_decoded, 1);
        assert_int_equal(decoded[0].depth, 2);
        assert_string_equal(decoded[0].label, label);
}

static void include_process_keeps_origin_in_nested_label(void **state) {
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL, *label = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "x" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        assert_true(asprintf(&body, "#include\n%s\n", a) >= 0);
        assert_true(asprintf(&label, "user-data from '%s'", a) >= 0);

        assert_int_equal(include_process(ctx_of(state), "user-data from 'http://example.com/outer'", body,
                                         strlen(body), false, 1, decode_record), 0);
        server_stop(&s);

        assert_int_equal(n_decoded, 1);
        assert_string_equal(decoded[0].label, label);
}

static void include_process_skips_comments_and_blank_lines(void **state) {
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "x" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        assert_true(asprintf(&body, "#include\n\n# a comment\n   \n\t\n  %s  \n# http://127.0.0.1:9/not\n",
                             a) >= 0);

        assert_int_equal(process(ctx_of(state), body, false), 0);
        server_stop(&s);

        assert_int_equal(n_decoded, 1);
        assert_int_equal(count_requests(&s), 1);
}

static void include_process_reads_url_after_header(void **state) {
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "x" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        assert_true(asprintf(&body, "#include %s\n", a) >= 0);

        assert_int_equal(process(ctx_of(state), body, false), 0);
        server_stop(&s);

        assert_int_equal(n_decoded, 1);
}

static void include_process_header_ignores_case(void **state) {
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "x" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        assert_true(asprintf(&body, "#INCLUDE\t%s", a) >= 0);

        assert_int_equal(process(ctx_of(state), body, false), 0);
        server_stop(&s);

        assert_int_equal(n_decoded, 1);
}

static void include_process_reads_crlf_lines(void **state) {
        Server s;
        _cleanup_free_ char *a = NULL, *b = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = {
                { .path = "/a", .status = 200, .body = "A" },
                { .path = "/b", .status = 200, .body = "B" },
        };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        b = url(&s, "/b");
        assert_true(asprintf(&body, "#include\r\n%s\r\n%s\r\n", a, b) >= 0);

        assert_int_equal(process(ctx_of(state), body, false), 0);
        server_stop(&s);

        assert_int_equal(n_decoded, 2);
        assert_string_equal(decoded[1].data, "B");
}

static void include_process_accepts_header_only(void **state) {
        assert_int_equal(process(ctx_of(state), "#include\n", false), 0);
        assert_int_equal(n_decoded, 0);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 0);
}

static void include_process_limits_urls_per_body(void **state) {
        Context *ctx = ctx_of(state);
        _cleanup_free_ char *body = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&body, &size);

        assert_non_null(f);
        fputs("#include\n", f);
        for (unsigned i = 0; i < MANY_URLS; i++)
                fprintf(f, "ftp://127.0.0.1:9/%u\n", i);
        assert_int_equal(fclose(f), 0);

        assert_true(process(ctx, body, false) < 0);

        assert_true(json_array_size(ctx->errors) > 1);
        assert_true(json_array_size(ctx->errors) < MANY_URLS);
        assert_contains(message_of(ctx->errors, json_array_size(ctx->errors) - 1), "at most");
}

/* ---- Scheme checks ---- */

static void include_process_rejects_file_scheme(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "x" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        assert_true(asprintf(&body, "#include\nfile:///etc/passwd\n%s\n", a) >= 0);

        assert_int_equal(process(ctx, body, false), -EINVAL);
        server_stop(&s);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), "'file:///etc/passwd'");
        assert_contains(message_of(ctx->errors, 0), "http:// and https://");
        assert_int_equal(n_decoded, 1);
        assert_int_equal(count_requests(&s), 1);
}

static void include_process_stops_when_time_ran_out(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "x" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        assert_true(asprintf(&body, "#include\n%s\n", a) >= 0);

        /* The time for all includes of the run ended before this body. */
        ctx->include_deadline = 1;
        assert_true(process(ctx, body, false) < 0);
        server_stop(&s);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), "for all includes of this boot ran out");
        assert_int_equal(n_decoded, 0);
        assert_int_equal(count_requests(&s), 0);
}

static void include_process_rejects_url_without_scheme(void **state) {
        Context *ctx = ctx_of(state);

        assert_int_equal(process(ctx, "#include\nexample.com/user-data.yaml\n", false), -EINVAL);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), "'example.com/user-data.yaml'");
}

static void include_process_accepts_scheme_in_any_case(void **state) {
        Server s;
        _cleanup_free_ char *body = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "x" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        assert_true(asprintf(&body, "#include\nHTTP://127.0.0.1:%d/a\n", s.port) >= 0);

        assert_int_equal(process(ctx_of(state), body, false), 0);
        server_stop(&s);

        assert_int_equal(n_decoded, 1);
}

static void include_process_rejects_blank_inside_url(void **state) {
        Context *ctx = ctx_of(state);

        assert_int_equal(process(ctx, "#include\nhttp://127.0.0.1:9/a b\n", false), -EINVAL);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), "blanks or control characters");
}

static void include_process_rejects_nul_inside_url(void **state) {
        Context *ctx = ctx_of(state);
        static const char body[] = "#include\nhttp://127.0.0.1:9/a\0b\n";

        assert_int_equal(include_process(ctx, "user-data", body, sizeof(body) - 1, false, 0, decode_record),
                         -EINVAL);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), "control characters");
}

static void include_process_rejects_overlong_url(void **state) {
        Context *ctx = ctx_of(state);
        char body[LONG_URL_SIZE + 64];
        int n = snprintf(body, sizeof(body), "#include\nhttp://127.0.0.1:9/");

        memset(body + n, 'a', LONG_URL_SIZE);
        body[n + LONG_URL_SIZE] = '\0';

        assert_int_equal(process(ctx, body, false), -EINVAL);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), "longer than");
        /* The message shows the start of the URL only. */
        assert_contains(message_of(ctx->errors, 0), "aaa...'");
        assert_true(strlen(message_of(ctx->errors, 0)) < 1000);
}

/* ---- Failures ---- */

static void include_process_reports_404_and_continues(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *a = NULL, *missing = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "A" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        missing = url(&s, "/missing.yaml");
        a = url(&s, "/a");
        assert_true(asprintf(&body, "#include\n%s\n%s\n", missing, a) >= 0);

        assert_true(process(ctx, body, false) < 0);
        server_stop(&s);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), missing);
        assert_contains(message_of(ctx->errors, 0), "404");
        assert_int_equal(n_decoded, 1);
        assert_string_equal(decoded[0].data, "A");
}

static void include_process_rejects_body_over_limit(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *big = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/big", .status = 200, .declared_size = HUGE_BODY_SIZE } };
        server_start(&s, routes, ELEMENTSOF(routes));
        big = url(&s, "/big");
        assert_true(asprintf(&body, "#include\n%s\n", big) >= 0);

        assert_int_equal(process(ctx, body, false), -EFBIG);
        server_stop(&s);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), big);
        assert_contains(message_of(ctx->errors, 0), "larger than the limit");
        assert_int_equal(n_decoded, 0);
}

static void include_process_retries_server_errors(void **state) {
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = {
                { .path = "/a", .status = 503, .body = "busy", .times = 1 },
                { .path = "/a", .status = 200, .body = "A" },
        };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        assert_true(asprintf(&body, "#include\n%s\n", a) >= 0);

        assert_int_equal(process(ctx_of(state), body, false), 0);
        server_stop(&s);

        assert_int_equal(count_requests(&s), 2);
        assert_int_equal(n_decoded, 1);
        assert_string_equal(decoded[0].data, "A");
}

static void include_process_reports_redirect(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *moved = NULL, *body = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/moved", .status = 302, .body = "" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        moved = url(&s, "/moved");
        assert_true(asprintf(&body, "#include\n%s\n", moved) >= 0);

        assert_true(process(ctx, body, false) < 0);
        server_stop(&s);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), "302");
        assert_int_equal(n_decoded, 0);
}

static void include_process_rejects_depth_beyond_limit(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *loop = NULL, *body = NULL;
        unsigned requests;

        server_bind(&s);
        loop = url(&s, "/loop");
        assert_true(asprintf(&body, "#include\n%s\n", loop) >= 0);
        /* The body includes itself, so only the depth limit ends the recursion. */
        Route routes[] = { { .path = "/loop", .status = 200, .body = body, .close_after = true } };
        server_start(&s, routes, ELEMENTSOF(routes));

        assert_true(include_process(ctx, "user-data", body, strlen(body), false, 0, decode_nested) < 0);
        server_stop(&s);

        requests = count_requests(&s);
        assert_true(requests >= 1);
        assert_true(requests < DECODED_MAX);
        assert_int_equal(n_decoded, requests);
        assert_int_equal(decoded[requests - 1].depth, requests);
        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), "nest deeper");
}

/* ---- Redaction ---- */

static void include_process_redacts_query(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *missing = NULL, *a = NULL, *body = NULL, *shown_missing = NULL, *label = NULL;

        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "A" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        missing = url(&s, "/missing?X-Amz-Signature=secret1");
        a = url(&s, "/a?token=secret2#part");
        shown_missing = url(&s, "/missing?...'");
        assert_true(asprintf(&label, "user-data from 'http://127.0.0.1:%d/a?...'", s.port) >= 0);
        assert_true(asprintf(&body, "#include\n%s\n%s\n", missing, a) >= 0);

        assert_true(process(ctx, body, false) < 0);
        server_stop(&s);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), shown_missing);
        assert_not_contains(message_of(ctx->errors, 0), "secret1");
        assert_int_equal(n_decoded, 1);
        assert_string_equal(decoded[0].label, label);
        /* The request itself carries the query. */
        assert_contains(s.log, "/missing?X-Amz-Signature=secret1");
}

static void include_process_redacts_user_info(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *body = NULL, *shown = NULL;

        server_bind(&s);
        server_start(&s, NULL, 0);
        assert_true(asprintf(&body, "#include\nhttp://admin:secret@127.0.0.1:%d/missing\n", s.port) >= 0);
        assert_true(asprintf(&shown, "'http://...@127.0.0.1:%d/missing'", s.port) >= 0);

        assert_true(process(ctx, body, false) < 0);
        server_stop(&s);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), shown);
        assert_not_contains(message_of(ctx->errors, 0), "secret");
}

static void include_process_redacts_rejected_url(void **state) {
        Context *ctx = ctx_of(state);

        assert_int_equal(process(ctx, "#include\nftp://u:pw@example.com/a?sig=secret\n", false), -EINVAL);

        assert_int_equal(json_array_size(ctx->errors), 1);
        assert_contains(message_of(ctx->errors, 0), "'ftp://...@example.com/a?...'");
        assert_not_contains(message_of(ctx->errors, 0), "secret");
        assert_not_contains(message_of(ctx->errors, 0), "pw");
}

/* ---- #include-once ---- */

static void include_process_once_stores_body(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL, *path = NULL, *data = NULL;
        struct stat st;
        size_t size;
        int fd;

        set_instance(ctx);
        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "#cloud-config\n" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a?one-time=1");
        assert_true(asprintf(&body, "#include-once\n%s\n", a) >= 0);

        assert_int_equal(process(ctx, body, false), 0);
        server_stop(&s);

        path = stored_path(a);
        assert_int_equal(read_file_at(ctx->root_fd, path, 4096, &data, &size), 0);
        assert_string_equal(data, "#cloud-config\n");
        fd = root_open(ctx->root_fd, path, O_RDONLY | O_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        close(fd);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(n_decoded, 1);
}

static void include_process_once_uses_stored_copy(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL, *path = NULL;

        set_instance(ctx);
        server_bind(&s);
        server_start(&s, NULL, 0);
        a = url(&s, "/a?one-time=1");
        path = stored_path(a);
        write_stored(ctx, path, "stored");
        assert_true(asprintf(&body, "#include-once\n%s\n", a) >= 0);

        assert_int_equal(process(ctx, body, false), 0);
        server_stop(&s);

        assert_int_equal(count_requests(&s), 0);
        assert_int_equal(n_decoded, 1);
        assert_string_equal(decoded[0].data, "stored");
        assert_int_equal(json_array_size(ctx->errors), 0);
}

static void include_process_plain_include_fetches_again(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL, *path = NULL;

        set_instance(ctx);
        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "fresh" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        path = stored_path(a);
        write_stored(ctx, path, "stored");
        assert_true(asprintf(&body, "#include\n%s\n", a) >= 0);

        assert_int_equal(process(ctx, body, false), 0);
        server_stop(&s);

        assert_int_equal(count_requests(&s), 1);
        assert_string_equal(decoded[0].data, "fresh");
}

static void include_process_once_header_switches_mode(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *a = NULL, *b = NULL, *body = NULL, *path = NULL;

        set_instance(ctx);
        server_bind(&s);
        Route routes[] = {
                { .path = "/a", .status = 200, .body = "A" },
                { .path = "/b", .status = 200, .body = "B" },
        };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");
        b = url(&s, "/b");
        assert_true(asprintf(&body, "#include-once\n%s\n#include\n%s\n", a, b) >= 0);

        assert_int_equal(process(ctx, body, false), 0);
        server_stop(&s);

        path = stored_path(a);
        assert_int_equal(root_exists(ctx->root_fd, path), 1);
        assert_int_equal(count_files(ctx, STORE_DIR), 1);
        assert_int_equal(n_decoded, 2);
}

static void include_process_once_flag_without_header(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *a = NULL, *path = NULL;

        set_instance(ctx);
        server_bind(&s);
        Route routes[] = { { .path = "/a", .status = 200, .body = "A" } };
        server_start(&s, routes, ELEMENTSOF(routes));
        a = url(&s, "/a");

        assert_int_equal(process(ctx, a, true), 0);
        server_stop(&s);

        path = stored_path(a);
        assert_int_equal(root_exists(ctx->root_fd, path), 1);
}

static void include_process_once_does_not_store_failure(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *missing = NULL, *body = NULL;

        set_instance(ctx);
        server_bind(&s);
        server_start(&s, NULL, 0);
        missing = url(&s, "/missing");
        assert_true(asprintf(&body, "#include-once\n%s\n", missing) >= 0);

        assert_true(process(ctx, body, false) < 0);
        server_stop(&s);

        assert_int_equal(count_files(ctx, STORE_DIR), 0);
        assert_int_equal(json_array_size(ctx->errors), 1);
}

static void include_process_once_without_instance_skips(void **state) {
        Context *ctx = ctx_of(state);
        Server s;
        _cleanup_free_ char *a = NULL, *body = NULL;

        server_bind(&s);
        server_start(&s, NULL, 0);
        a = url(&s, "/a");
        assert_true(asprintf(&body, "#include-once\n%s\n", a) >= 0);

        assert_int_equal(process(ctx, body, false), 0);
        server_stop(&s);

        assert_int_equal(count_requests(&s), 0);
        assert_int_equal(json_array_size(ctx->warnings), 1);
        assert_contains(message_of(ctx->warnings, 0), a);
        assert_int_equal(n_decoded, 0);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        static const char *const proxies[] = {
                "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
        };
        const struct CMUnitTest tests[] = {
                TEST(include_process_fetches_urls_in_order),
                TEST(include_process_passes_depth_and_label),
                TEST(include_process_keeps_origin_in_nested_label),
                TEST(include_process_skips_comments_and_blank_lines),
                TEST(include_process_reads_url_after_header),
                TEST(include_process_header_ignores_case),
                TEST(include_process_reads_crlf_lines),
                TEST(include_process_accepts_header_only),
                TEST(include_process_limits_urls_per_body),
                TEST(include_process_rejects_file_scheme),
                TEST(include_process_stops_when_time_ran_out),
                TEST(include_process_rejects_url_without_scheme),
                TEST(include_process_accepts_scheme_in_any_case),
                TEST(include_process_rejects_blank_inside_url),
                TEST(include_process_rejects_nul_inside_url),
                TEST(include_process_rejects_overlong_url),
                TEST(include_process_reports_404_and_continues),
                TEST(include_process_rejects_body_over_limit),
                TEST(include_process_retries_server_errors),
                TEST(include_process_reports_redirect),
                TEST(include_process_rejects_depth_beyond_limit),
                TEST(include_process_redacts_query),
                TEST(include_process_redacts_user_info),
                TEST(include_process_redacts_rejected_url),
                TEST(include_process_once_stores_body),
                TEST(include_process_once_uses_stored_copy),
                TEST(include_process_plain_include_fetches_again),
                TEST(include_process_once_header_switches_mode),
                TEST(include_process_once_flag_without_header),
                TEST(include_process_once_does_not_store_failure),
                TEST(include_process_once_without_instance_skips),
        };

        /* The requests go to 127.0.0.1 directly, whatever proxy the environment names. */
        for (size_t i = 0; i < ELEMENTSOF(proxies); i++)
                (void) unsetenv(proxies[i]);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
