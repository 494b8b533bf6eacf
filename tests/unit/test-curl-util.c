/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/lib/curl-util.c: the retry policy, Retry-After parsing, and requests
 * against a scripted HTTP server on 127.0.0.1 that a forked child runs. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/curl-util.h"
#include "lib/macro.h"

#define SEC USEC_PER_SEC
#define TEST_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define TEST_BODY_MAX 4096
#define SERVER_LOG_MAX 65536
#define SERVER_LIFETIME_SEC 60

/* ---- A scripted HTTP/1.1 server in a child process ---- */

/* One scripted reply: raw bytes sent after a request head arrives. */
typedef struct Reply {
        const char *bytes;
        size_t size;             /* 0 for strlen(bytes) */
        unsigned delay_msec;     /* pause before replying */
        bool close_after;        /* close the connection after replying */
} Reply;

typedef struct Server {
        pid_t pid;
        int port;
        int log_fd;              /* read end: "CONNECT\n" per connection, then each request head */
        char log[SERVER_LOG_MAX];
} Server;

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

static void write_all(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t k = write(fd, data, size);
                if (k <= 0)
                        return;
                data += k;
                size -= (size_t) k;
        }
}

static _noreturn_ void server_run(int listen_fd, int log_fd, const Reply *replies, size_t n) {
        size_t next = 0;

        for (;;) {
                int fd = accept(listen_fd, NULL, NULL);
                char head[8192];

                if (fd < 0)
                        _exit(1);
                write_all(log_fd, "CONNECT\n", strlen("CONNECT\n"));

                while (server_read_head(fd, head, sizeof(head)) > 0) {
                        const Reply *a = next < n ? &replies[next++] : NULL;

                        write_all(log_fd, head, strlen(head));
                        if (!a)
                                break;
                        if (a->delay_msec > 0)
                                usleep(a->delay_msec * 1000);
                        write_all(fd, a->bytes, a->size > 0 ? a->size : strlen(a->bytes));
                        if (a->close_after)
                                break;
                }
                close(fd);
        }
}

static void server_start(Server *s, const Reply *replies, size_t n) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(addr);
        int fd, pipe_fds[2];

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &addr, sizeof(addr)), 0);
        assert_int_equal(listen(fd, 8), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &addr, &len), 0);
        assert_int_equal(pipe2(pipe_fds, O_CLOEXEC), 0);

        *s = (Server) { .port = ntohs(addr.sin_port), .log_fd = pipe_fds[0] };
        s->pid = fork();
        assert_true(s->pid >= 0);
        if (s->pid == 0) {
                /* Never outlive a test that failed before it could stop the server. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                alarm(SERVER_LIFETIME_SEC);
                close(pipe_fds[0]);
                server_run(fd, pipe_fds[1], replies, n);
        }
        close(fd);
        close(pipe_fds[1]);
}

/* Stop the server and collect what it logged into s->log. */
static void server_stop(Server *s) {
        size_t n = 0;
        ssize_t k;

        assert_int_equal(kill(s->pid, SIGTERM), 0);
        assert_int_equal(waitpid(s->pid, NULL, 0), s->pid);
        while (n + 1 < sizeof(s->log) && (k = read(s->log_fd, s->log + n, sizeof(s->log) - 1 - n)) > 0)
                n += (size_t) k;
        s->log[n] = '\0';
        close(s->log_fd);
}

static unsigned count_occurrences(const char *haystack, const char *needle) {
        unsigned n = 0;

        for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
                n++;
        return n;
}

static char *server_url(const Server *s, const char *path) {
        char *url = NULL;

        assert_true(asprintf(&url, "http://127.0.0.1:%d%s", s->port, path) > 0);
        return url;
}

/* One request to path on a fresh client. */
static int request_once(const Server *s, HttpMethod method, const char *path, const char *const *headers,
                        usec_t timeout, size_t max_body, HttpResponse *ret, char **reterr) {
        _cleanup_http_client_free_ HttpClient *c = NULL;
        _cleanup_free_ char *url = server_url(s, path);

        assert_int_equal(http_client_new(HTTP_CLIENT_NO_PROXY, &c, /* reterr_message= */ NULL), 0);
        return http_request(c, method, url, headers, timeout, max_body, ret, reterr);
}

/* ---- http_request ---- */

static void http_request_returns_body(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/a", NULL, TEST_TIMEOUT_USEC, TEST_BODY_MAX,
                                      &response, NULL), 0);
        server_stop(&s);

        assert_int_equal(response.status, 200);
        assert_int_equal(response.body_size, 5);
        assert_string_equal(response.body, "hello");
        assert_int_equal(response.retry_after_usec, 0);
}

static void http_request_keeps_nul_bytes(void **state) {
#define NUL_REPLY "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na\0b"
        static const Reply replies[] = {
                { NUL_REPLY, sizeof(NUL_REPLY) - 1 },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, TEST_TIMEOUT_USEC, TEST_BODY_MAX,
                                      &response, NULL), 0);
        server_stop(&s);

        assert_int_equal(response.body_size, 3);
        assert_memory_equal(response.body, "a\0b", 4);
}

static void http_request_returns_error_status(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n<html/>\r\n" },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/missing", NULL, TEST_TIMEOUT_USEC, TEST_BODY_MAX,
                                      &response, NULL), 0);
        server_stop(&s);

        assert_int_equal(response.status, 404);
}

static void http_request_reads_retry_after(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n" },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, TEST_TIMEOUT_USEC, TEST_BODY_MAX,
                                      &response, NULL), 0);
        server_stop(&s);

        assert_int_equal(response.status, 429);
        assert_int_equal(response.retry_after_usec, 2 * SEC);
        assert_int_equal(response.body_size, 0);
        assert_non_null(response.body);
}

static void http_request_rejects_declared_large_body(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789" },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        _cleanup_free_ char *message = NULL;
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, TEST_TIMEOUT_USEC, 10, &response, &message),
                         -EFBIG);
        server_stop(&s);

        assert_string_equal(message, "response larger than 10 bytes");
}

static void http_request_rejects_streamed_large_body(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n" },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, TEST_TIMEOUT_USEC, 10, &response, NULL),
                         -EFBIG);
        server_stop(&s);
}

static void http_request_accepts_body_of_max_size(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n" },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, TEST_TIMEOUT_USEC, 10, &response, NULL), 0);
        server_stop(&s);

        assert_string_equal(response.body, "0123456789");
}

static void http_request_reports_truncated_body(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", .close_after = true },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        _cleanup_free_ char *message = NULL;
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, TEST_TIMEOUT_USEC, TEST_BODY_MAX,
                                      &response, &message), -EPIPE);
        server_stop(&s);

        assert_non_null(message);
}

static void http_request_reports_refused_connection(void **state) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(addr);
        _cleanup_(http_response_done) HttpResponse response = {};
        _cleanup_free_ char *message = NULL;
        Server s = {};
        int fd;

        /* A port that was bound and released has nothing listening on it. */
        fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &addr, sizeof(addr)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &addr, &len), 0);
        s.port = ntohs(addr.sin_port);
        close(fd);

        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, TEST_TIMEOUT_USEC, TEST_BODY_MAX,
                                      &response, &message), -ECONNREFUSED);
        assert_string_equal(message, strerror(ECONNREFUSED));
}

static void http_request_times_out(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", .delay_msec = 3000 },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, 200 * USEC_PER_MSEC, TEST_BODY_MAX,
                                      &response, NULL), -ETIMEDOUT);
        server_stop(&s);
}

static void http_request_rejects_zero_timeout(void **state) {
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s = { .port = 9 };

        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, 0, TEST_BODY_MAX, &response, NULL),
                         -ETIMEDOUT);
}

static void http_request_reuses_connection(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na" },
                { "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n" },
                { "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc" },
        };
        _cleanup_http_client_free_ HttpClient *c = NULL;
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(http_client_new(HTTP_CLIENT_NO_PROXY, &c, /* reterr_message= */ NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(replies); i++) {
                _cleanup_(http_response_done) HttpResponse response = {};
                _cleanup_free_ char *url = server_url(&s, i == 1 ? "/b" : "/a");

                assert_int_equal(http_request(c, i == 1 ? HTTP_METHOD_PUT : HTTP_METHOD_GET, url, NULL,
                                              TEST_TIMEOUT_USEC, TEST_BODY_MAX, &response, NULL), 0);
        }
        server_stop(&s);

        assert_int_equal(count_occurrences(s.log, "CONNECT\n"), 1);
        assert_int_equal(count_occurrences(s.log, "HTTP/1.1\r\n"), 3);
}

static void http_request_sends_put_with_headers(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\ntoken" },
        };
        static const char *const headers[] = { "X-Test-Header: 42", NULL };
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_PUT, "/latest/api/token", headers, TEST_TIMEOUT_USEC,
                                      TEST_BODY_MAX, &response, NULL), 0);
        server_stop(&s);

        assert_non_null(strstr(s.log, "PUT /latest/api/token HTTP/1.1\r\n"));
        assert_non_null(strstr(s.log, "\r\nX-Test-Header: 42\r\n"));
        assert_non_null(strstr(s.log, "\r\nContent-Length: 0\r\n"));
        assert_null(strstr(s.log, "Expect:"));
        assert_string_equal(response.body, "token");
}

static void http_request_ignores_proxy_environment(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s;

        /* Nothing listens on port 1: the request succeeds only when it skips the proxy. */
        assert_int_equal(setenv("http_proxy", "http://127.0.0.1:1", 1), 0);
        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, TEST_TIMEOUT_USEC, TEST_BODY_MAX,
                                      &response, NULL), 0);
        server_stop(&s);
        assert_int_equal(unsetenv("http_proxy"), 0);

        assert_int_equal(response.status, 200);
}

static void http_request_does_not_follow_redirect(void **state) {
        static const Reply replies[] = {
                { "HTTP/1.1 302 Found\r\nLocation: http://192.0.2.1/elsewhere\r\nContent-Length: 0\r\n\r\n" },
        };
        _cleanup_(http_response_done) HttpResponse response = {};
        Server s;

        server_start(&s, replies, ELEMENTSOF(replies));
        assert_int_equal(request_once(&s, HTTP_METHOD_GET, "/", NULL, TEST_TIMEOUT_USEC, TEST_BODY_MAX,
                                      &response, NULL), 0);
        server_stop(&s);

        assert_int_equal(response.status, 302);
        assert_int_equal(count_occurrences(s.log, "GET "), 1);
}

static void http_request_rejects_https_by_default(void **state) {
        _cleanup_http_client_free_ HttpClient *c = NULL;
        _cleanup_(http_response_done) HttpResponse response = {};

        assert_int_equal(http_client_new(HTTP_CLIENT_NO_PROXY, &c, /* reterr_message= */ NULL), 0);
        assert_int_equal(http_request(c, HTTP_METHOD_GET, "https://127.0.0.1:1/", NULL, TEST_TIMEOUT_USEC,
                                      TEST_BODY_MAX, &response, NULL), -EINVAL);
}

/* ---- http_parse_retry_after ---- */

static void http_parse_retry_after_reads_seconds(void **state) {
        usec_t delay = 0;

        assert_int_equal(http_parse_retry_after("2", 0, &delay), 0);
        assert_int_equal(delay, 2 * SEC);
}

static void http_parse_retry_after_reads_zero(void **state) {
        usec_t delay = 1;

        assert_int_equal(http_parse_retry_after("0", 0, &delay), 0);
        assert_int_equal(delay, 0);
}

static void http_parse_retry_after_allows_blanks(void **state) {
        usec_t delay = 0;

        assert_int_equal(http_parse_retry_after(" 7\r\n", 0, &delay), 0);
        assert_int_equal(delay, 7 * SEC);
}

static void http_parse_retry_after_reads_http_date(void **state) {
        /* 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT. */
        usec_t delay = 0;

        assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 30, &delay), 0);
        assert_int_equal(delay, 30 * SEC);
}

static void http_parse_retry_after_reads_obsolete_date(void **state) {
        usec_t delay = 0;

        assert_int_equal(http_parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", 1445412480 - 5, &delay), 0);
        assert_int_equal(delay, 5 * SEC);
}

static void http_parse_retry_after_past_date_is_zero(void **state) {
        usec_t delay = 1;

        assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 + 60, &delay), 0);
        assert_int_equal(delay, 0);
}

static void http_parse_retry_after_rejects_garbage(void **state) {
        usec_t delay = 0;

        assert_int_equal(http_parse_retry_after("soon", 0, &delay), -EINVAL);
        assert_int_equal(http_parse_retry_after("", 0, &delay), -EINVAL);
        assert_int_equal(http_parse_retry_after("2.5", 0, &delay), -EINVAL);
        assert_int_equal(http_parse_retry_after("-1", 0, &delay), -EINVAL);
        assert_int_equal(http_parse_retry_after("2 s", 0, &delay), -EINVAL);
}

static void http_parse_retry_after_caps_huge_delay(void **state) {
        usec_t delay = 0;

        assert_int_equal(http_parse_retry_after("99999999999999999999999", 0, &delay), 0);
        assert_true(delay >= UINT64_MAX - SEC);
}

/* ---- Retry policy ---- */

/* The largest pause the policy can choose for an attempt. */
static usec_t upper_delay(unsigned attempt) {
        usec_t backoff = SEC;

        for (unsigned i = 0; i < attempt && backoff < 10 * SEC; i++)
                backoff *= 2;
        backoff = MIN(backoff, 10 * SEC);
        return http_retry_delay(attempt, SEC, 10 * SEC, backoff - backoff / 2);
}

static void http_retry_delay_doubles_up_to_cap(void **state) {
        assert_int_equal(upper_delay(0), 1 * SEC);
        assert_int_equal(upper_delay(1), 2 * SEC);
        assert_int_equal(upper_delay(2), 4 * SEC);
        assert_int_equal(upper_delay(3), 8 * SEC);
        assert_int_equal(upper_delay(4), 10 * SEC);
        assert_int_equal(upper_delay(5), 10 * SEC);
}

static void http_retry_delay_stays_within_jitter_bounds(void **state) {
        static const uint64_t randoms[] = { 0, 1, 499999, 500000, 123456789, UINT64_MAX - 1, UINT64_MAX };

        for (unsigned attempt = 0; attempt < 40; attempt++)
                for (size_t i = 0; i < ELEMENTSOF(randoms); i++) {
                        usec_t cap = attempt >= 4 ? 10 * SEC : SEC << attempt;
                        usec_t d = http_retry_delay(attempt, SEC, 10 * SEC, randoms[i]);

                        assert_true(d >= MAX(cap / 2, SEC));
                        assert_true(d <= cap);
                }
}

static void http_retry_delay_never_below_base(void **state) {
        assert_int_equal(http_retry_delay(0, SEC, 10 * SEC, 0), SEC);
}

static void http_retry_delay_survives_huge_attempt(void **state) {
        assert_true(http_retry_delay(UINT32_MAX, SEC, 10 * SEC, 0) >= 5 * SEC);
        assert_true(http_retry_delay(UINT32_MAX, SEC, 10 * SEC, UINT64_MAX) <= 10 * SEC);
}

static void http_retry_delay_averages_at_least_base(void **state) {
        usec_t sum = 0;

        /* The first retry, ten times, with evenly spread random values. */
        for (uint64_t i = 0; i < 10; i++)
                sum += http_retry_delay(0, SEC, 10 * SEC, i * 50000);
        assert_true(sum / 10 >= SEC);
}

static void http_status_is_retryable_for_throttling_and_5xx(void **state) {
        assert_true(http_status_is_retryable(429));
        assert_true(http_status_is_retryable(500));
        assert_true(http_status_is_retryable(502));
        assert_true(http_status_is_retryable(503));
        assert_true(http_status_is_retryable(599));
}

static void http_status_is_retryable_not_for_final_statuses(void **state) {
        assert_false(http_status_is_retryable(200));
        assert_false(http_status_is_retryable(302));
        assert_false(http_status_is_retryable(400));
        assert_false(http_status_is_retryable(401));
        assert_false(http_status_is_retryable(403));
        assert_false(http_status_is_retryable(404));
        assert_false(http_status_is_retryable(405));
}

static void http_error_is_retryable_for_transient_faults(void **state) {
        assert_true(http_error_is_retryable(-ECONNREFUSED));
        assert_true(http_error_is_retryable(-ECONNRESET));
        assert_true(http_error_is_retryable(-EHOSTUNREACH));
        assert_true(http_error_is_retryable(-ENETUNREACH));
        assert_true(http_error_is_retryable(-ETIMEDOUT));
        assert_true(http_error_is_retryable(-EPIPE));
}

static void http_error_is_retryable_not_for_permanent_faults(void **state) {
        assert_false(http_error_is_retryable(-EFBIG));
        assert_false(http_error_is_retryable(-EINVAL));
        assert_false(http_error_is_retryable(-ENOMEM));
        assert_false(http_error_is_retryable(-EIO));
}

static void http_method_to_string_names_methods(void **state) {
        assert_string_equal(http_method_to_string(HTTP_METHOD_GET), "GET");
        assert_string_equal(http_method_to_string(HTTP_METHOD_PUT), "PUT");
        assert_null(http_method_to_string(_HTTP_METHOD_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(http_request_returns_body),
                cmocka_unit_test(http_request_keeps_nul_bytes),
                cmocka_unit_test(http_request_returns_error_status),
                cmocka_unit_test(http_request_reads_retry_after),
                cmocka_unit_test(http_request_rejects_declared_large_body),
                cmocka_unit_test(http_request_rejects_streamed_large_body),
                cmocka_unit_test(http_request_accepts_body_of_max_size),
                cmocka_unit_test(http_request_reports_truncated_body),
                cmocka_unit_test(http_request_reports_refused_connection),
                cmocka_unit_test(http_request_times_out),
                cmocka_unit_test(http_request_rejects_zero_timeout),
                cmocka_unit_test(http_request_reuses_connection),
                cmocka_unit_test(http_request_sends_put_with_headers),
                cmocka_unit_test(http_request_ignores_proxy_environment),
                cmocka_unit_test(http_request_does_not_follow_redirect),
                cmocka_unit_test(http_request_rejects_https_by_default),
                cmocka_unit_test(http_parse_retry_after_reads_seconds),
                cmocka_unit_test(http_parse_retry_after_reads_zero),
                cmocka_unit_test(http_parse_retry_after_allows_blanks),
                cmocka_unit_test(http_parse_retry_after_reads_http_date),
                cmocka_unit_test(http_parse_retry_after_reads_obsolete_date),
                cmocka_unit_test(http_parse_retry_after_past_date_is_zero),
                cmocka_unit_test(http_parse_retry_after_rejects_garbage),
                cmocka_unit_test(http_parse_retry_after_caps_huge_delay),
                cmocka_unit_test(http_retry_delay_doubles_up_to_cap),
                cmocka_unit_test(http_retry_delay_stays_within_jitter_bounds),
                cmocka_unit_test(http_retry_delay_never_below_base),
                cmocka_unit_test(http_retry_delay_survives_huge_attempt),
                cmocka_unit_test(http_retry_delay_averages_at_least_base),
                cmocka_unit_test(http_status_is_retryable_for_throttling_and_5xx),
                cmocka_unit_test(http_status_is_retryable_not_for_final_statuses),
                cmocka_unit_test(http_error_is_retryable_for_transient_faults),
                cmocka_unit_test(http_error_is_retryable_not_for_permanent_faults),
                cmocka_unit_test(http_method_to_string_names_methods),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
