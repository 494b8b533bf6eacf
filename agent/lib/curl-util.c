/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP requests over libcurl. CURLcode is used in this file only, and callers get -errno and a message.
 * libcurl is loaded on first use, by dlopen_curl(). */

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "lib/curl-dlopen.h"
#include "lib/curl-util.h"
#include "lib/parse-util.h"

#define HTTP_USER_AGENT "kiln/" KILN_VERSION

/* First allocation for a response body. It doubles from here up to the caller's max_body. */
#define HTTP_BODY_INITIAL_SIZE 4096

/* Longest Retry-After delay kept, so that converting it to microseconds cannot overflow. */
#define HTTP_RETRY_AFTER_MAX_SEC (UINT64_MAX / USEC_PER_SEC)

struct HttpClient {
        CURL *curl;
        HttpClientFlags flags;
        char error_buffer[CURL_ERROR_SIZE];
};

/* Longest Retry-After value kept. An HTTP-date needs 29 bytes. */
#define HTTP_RETRY_AFTER_SIZE_MAX 64

/* The body and headers that one transfer collects while it runs. */
typedef struct HttpTransfer {
        char *body;
        size_t size;
        size_t allocated;
        size_t max;
        bool too_large;
        char retry_after[HTTP_RETRY_AFTER_SIZE_MAX];
} HttpTransfer;

static const char *const http_method_table[_HTTP_METHOD_MAX] = {
        [HTTP_METHOD_GET] = "GET",
        [HTTP_METHOD_PUT] = "PUT",
};

const char *http_method_to_string(HttpMethod m) {
        if (m < 0 || m >= _HTTP_METHOD_MAX)
                return NULL;
        return http_method_table[m];
}

void http_response_done(HttpResponse *r) {
        if (!r)
                return;
        free(r->body);
        *r = (HttpResponse) {};
}

static void curl_slist_freep(struct curl_slist **l) {
        if (*l)
                sym_curl_slist_free_all(*l);
}

static void http_transfer_done(HttpTransfer *t) {
        free(t->body);
        *t = (HttpTransfer) {};
}

int http_client_new(HttpClientFlags flags, HttpClient **ret, char **reterr_message) {
        _cleanup_free_ HttpClient *c = NULL;
        int r;

        assert(ret);

        r = dlopen_curl();
        if (r < 0) {
                const char *why = dlopen_curl_error();

                if (reterr_message && why) {
                        *reterr_message = strdup(why);
                        if (!*reterr_message)
                                return -ENOMEM;
                }
                return r;
        }

        c = calloc(1, sizeof(HttpClient));
        if (!c)
                return -ENOMEM;
        c->flags = flags;
        c->curl = sym_curl_easy_init();
        if (!c->curl)
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

HttpClient *http_client_free(HttpClient *c) {
        if (!c)
                return NULL;
        sym_curl_easy_cleanup(c->curl);
        free(c);
        return NULL;
}

static size_t http_body_write(char *data, size_t size, size_t n, void *userdata) {
        HttpTransfer *t = userdata;
        size_t len = size * n;

        if (len > t->max - t->size) {
                t->too_large = true;
                return 0; /* makes curl stop with CURLE_WRITE_ERROR */
        }

        if (t->size + len + 1 > t->allocated) {
                size_t want = MAX(t->allocated, (size_t) HTTP_BODY_INITIAL_SIZE);
                char *p;

                while (want < t->size + len + 1)
                        want = want > SIZE_MAX / 2 ? SIZE_MAX : want * 2;
                want = MIN(want, t->max + 1);
                p = realloc(t->body, want);
                if (!p)
                        return 0;
                t->body = p;
                t->allocated = want;
        }

        memcpy(t->body + t->size, data, len);
        t->size += len;
        t->body[t->size] = '\0';
        return len;
}

/* Keep the Retry-After header of the final response. curl passes each header line with its CRLF,
 * and the status line of every response, so the headers of an interim response are dropped when
 * the next status line arrives. */
static size_t http_header_line(char *data, size_t size, size_t n, void *userdata) {
        static const char name[] = "Retry-After:";
        HttpTransfer *t = userdata;
        size_t len = size * n, value_len;
        const char *value;

        if (len >= 5 && strneq(data, "HTTP/", 5)) {
                t->retry_after[0] = '\0';
                return len;
        }
        if (len < strlen(name) || strncasecmp(data, name, strlen(name)) != 0)
                return len;

        value = data + strlen(name);
        value_len = len - strlen(name);
        while (value_len > 0 && strchr(" \t\r\n", value[value_len - 1]))
                value_len--;
        if (value_len < sizeof(t->retry_after)) {
                memcpy(t->retry_after, value, value_len);
                t->retry_after[value_len] = '\0';
        }
        return len;
}

/* PUT requests carry no body: report end of input at once. */
static size_t http_empty_read(char *buffer, size_t size, size_t n, void *userdata) {
        return 0;
}

/* Whether connect() failed with an errno value that explains more than "could not connect". */
static bool http_connect_errno_is_known(long os_errno) {
        switch (os_errno) {
        case ECONNREFUSED:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case ENETDOWN:
        case EADDRNOTAVAIL:
        case ETIMEDOUT:
                return true;
        default:
                return false;
        }
}

/* Map a failed transfer to a negative errno. CURLcode has about a hundred values and new
 * versions of libcurl add more, so unlisted codes share the default of -EIO. */
static int http_error_from_curl(CURLcode code, long os_errno, bool too_large) {
        switch (code) {
        case CURLE_COULDNT_CONNECT:
                if (http_connect_errno_is_known(os_errno))
                        return (int) -os_errno;
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_PARTIAL_FILE:
        case CURLE_GOT_NOTHING:
                return -EPIPE;
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                return -ECONNRESET;
        case CURLE_FILESIZE_EXCEEDED:
                return -EFBIG;
        case CURLE_WRITE_ERROR:
                return too_large ? -EFBIG : -ENOMEM;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EINVAL;
        default:
                return -EIO;
        }
}

static char *http_error_message(const HttpClient *c, CURLcode code, int error, long os_errno,
                                size_t max_body) {
        char *message = NULL;

        if (error == -EFBIG) {
                if (asprintf(&message, "response larger than %zu bytes", max_body) < 0)
                        return NULL;
                return message;
        }
        /* For a refused or unreachable connection the system's words are clearer than curl's
         * "Couldn't connect to server". */
        if (code == CURLE_COULDNT_CONNECT && os_errno > 0)
                return strdup(strerror((int) os_errno));
        if (c->error_buffer[0] != '\0')
                return strdup(c->error_buffer);
        return strdup(sym_curl_easy_strerror(code));
}

static int http_build_headers(const char *const *headers, struct curl_slist **ret) {
        struct curl_slist *list = NULL;

        for (const char *const *h = headers; h && *h; h++) {
                struct curl_slist *l = sym_curl_slist_append(list, *h);
                if (!l) {
                        sym_curl_slist_free_all(list);
                        return -ENOMEM;
                }
                list = l;
        }

        *ret = list;
        return 0;
}

static int http_setup(HttpClient *c, HttpMethod method, const char *url, struct curl_slist *headers,
                      usec_t timeout_usec, size_t max_body, HttpTransfer *transfer) {
        long timeout_msec = (long) MIN((timeout_usec + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) LONG_MAX);
        CURLcode code = CURLE_OK;

        /* curl_easy_reset() keeps live connections, so keep-alive still works across requests. */
        sym_curl_easy_reset(c->curl);
        c->error_buffer[0] = '\0';

#define HTTP_SETOPT(option, value)                                                 \
        if (code == CURLE_OK)                                                      \
                code = sym_curl_easy_setopt(c->curl, option, value)

        HTTP_SETOPT(CURLOPT_ERRORBUFFER, c->error_buffer);
        HTTP_SETOPT(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 deprecated the bitmask options */
        HTTP_SETOPT(CURLOPT_PROTOCOLS_STR, c->flags & HTTP_CLIENT_ALLOW_HTTPS ? "http,https" : "http");
        HTTP_SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http");
#else
        HTTP_SETOPT(CURLOPT_PROTOCOLS,
                    (long) (c->flags & HTTP_CLIENT_ALLOW_HTTPS ? CURLPROTO_HTTP | CURLPROTO_HTTPS : CURLPROTO_HTTP));
        HTTP_SETOPT(CURLOPT_REDIR_PROTOCOLS, (long) CURLPROTO_HTTP);
#endif
        HTTP_SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
        HTTP_SETOPT(CURLOPT_NOSIGNAL, 1L);
        HTTP_SETOPT(CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
        HTTP_SETOPT(CURLOPT_USERAGENT, HTTP_USER_AGENT);
        HTTP_SETOPT(CURLOPT_TIMEOUT_MS, timeout_msec);
        HTTP_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, timeout_msec);
        HTTP_SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) MIN(max_body, (size_t) INT64_MAX));
        HTTP_SETOPT(CURLOPT_WRITEFUNCTION, http_body_write);
        HTTP_SETOPT(CURLOPT_WRITEDATA, transfer);
        HTTP_SETOPT(CURLOPT_HEADERFUNCTION, http_header_line);
        HTTP_SETOPT(CURLOPT_HEADERDATA, transfer);
        HTTP_SETOPT(CURLOPT_HTTPHEADER, headers);
        if (c->flags & HTTP_CLIENT_NO_PROXY)
                HTTP_SETOPT(CURLOPT_NOPROXY, "*");
        if (method == HTTP_METHOD_PUT) {
                HTTP_SETOPT(CURLOPT_UPLOAD, 1L);
                HTTP_SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t) 0);
                HTTP_SETOPT(CURLOPT_READFUNCTION, http_empty_read);
        }

#undef HTTP_SETOPT

        if (code == CURLE_OUT_OF_MEMORY)
                return -ENOMEM;
        return code == CURLE_OK ? 0 : -EIO;
}

/* The delay that a Retry-After value requests, 0 when there was none or it cannot be parsed. */
static usec_t http_retry_after(const char *value) {
        usec_t delay = 0;

        if (value[0] == '\0' || http_parse_retry_after(value, time(NULL), &delay) < 0)
                return 0;
        return delay;
}

int http_request(HttpClient *c, HttpMethod method, const char *url, const char *const *headers,
                 usec_t timeout_usec, size_t max_body, HttpResponse *ret, char **reterr_message) {
        _cleanup_(curl_slist_freep) struct curl_slist *header_list = NULL;
        _cleanup_(http_transfer_done) HttpTransfer transfer = { .max = max_body };
        long status = 0, os_errno = 0;
        CURLcode code;
        int r;

        assert(c);
        assert(url);
        assert(ret);
        assert(method >= 0);
        assert(method < _HTTP_METHOD_MAX);
        assert(max_body < SIZE_MAX);

        if (timeout_usec < USEC_PER_MSEC)
                return -ETIMEDOUT;

        r = http_build_headers(headers, &header_list);
        if (r < 0)
                return r;
        r = http_setup(c, method, url, header_list, timeout_usec, max_body, &transfer);
        if (r < 0)
                return r;

        code = sym_curl_easy_perform(c->curl);
        if (code != CURLE_OK) {
                (void) sym_curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
                r = http_error_from_curl(code, os_errno, transfer.too_large);
                if (reterr_message)
                        *reterr_message = http_error_message(c, code, r, os_errno, max_body);
                return r;
        }

        if (sym_curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
                return -EIO;

        if (!transfer.body) {
                transfer.body = strdup("");
                if (!transfer.body)
                        return -ENOMEM;
        }

        *ret = (HttpResponse) {
                .status = status,
                .body = TAKE_PTR(transfer.body),
                .body_size = transfer.size,
                .retry_after_usec = http_retry_after(transfer.retry_after),
        };
        return 0;
}

/* Parse an HTTP-date in any of the three formats that RFC 9110 allows, which curl_getdate() reads. */
static int http_parse_date(const char *value, time_t now, usec_t *ret) {
        time_t t;
        int r;

        r = dlopen_curl();
        if (r < 0)
                return r;

        t = sym_curl_getdate(value, /* unused= */ NULL);
        if (t == (time_t) -1)
                return -EINVAL;
        *ret = t > now ? (usec_t) (t - now) * USEC_PER_SEC : 0;
        return 0;
}

int http_parse_retry_after(const char *value, time_t now, usec_t *ret) {
        uint64_t seconds;
        size_t len;
        int r;

        assert(value);
        assert(ret);

        value += strspn(value, " \t");
        len = strlen(value);
        while (len > 0 && strchr(" \t\r\n", value[len - 1]))
                len--;
        if (len == 0)
                return -EINVAL;

        if (strspn(value, "0123456789") == len) {
                _cleanup_free_ char *digits = strndup(value, len);
                if (!digits)
                        return -ENOMEM;
                r = safe_atou64(digits, &seconds);
                if (r == -ERANGE)
                        seconds = HTTP_RETRY_AFTER_MAX_SEC;
                else if (r < 0)
                        return r;
                *ret = MIN(seconds, HTTP_RETRY_AFTER_MAX_SEC) * USEC_PER_SEC;
                return 0;
        }

        /* A date starts with a weekday name. Checking that also keeps curl_getdate() from reading
         * stray numbers such as "2.5" as a date. */
        if (!((value[0] >= 'A' && value[0] <= 'Z') || (value[0] >= 'a' && value[0] <= 'z')))
                return -EINVAL;

        _cleanup_free_ char *date = strndup(value, len);
        if (!date)
                return -ENOMEM;
        return http_parse_date(date, now, ret);
}

bool http_status_is_retryable(long status) {
        return status == 429 || (status >= 500 && status <= 599);
}

bool http_error_is_retryable(int error) {
        switch (error) {
        case -ECONNREFUSED:
        case -ECONNRESET:
        case -EHOSTUNREACH:
        case -ENETUNREACH:
        case -ENETDOWN:
        case -EADDRNOTAVAIL:
        case -ETIMEDOUT:
        case -EPIPE:
                return true;
        default:
                return false;
        }
}

usec_t http_retry_delay(unsigned attempt, usec_t base, usec_t max, uint64_t random) {
        usec_t backoff = base, half;

        assert(base > 0);
        assert(max >= base);

        for (unsigned i = 0; i < attempt && backoff < max; i++)
                backoff = backoff > max / 2 ? max : backoff * 2;
        backoff = MIN(backoff, max);

        /* Equal jitter spreads the retries of many machines, and the floor at base keeps every
         * retry from being immediate. */
        half = backoff / 2;
        return MAX(half + random % (backoff - half + 1), base);
}
