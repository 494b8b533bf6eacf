/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP requests over libcurl and the retry policy around them. curl's own codes stay inside
 * curl-util.c: callers see -errno and a one-line message. No logging above debug. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "context.h"
#include "lib/macro.h"

typedef enum HttpMethod {
        HTTP_METHOD_GET,
        HTTP_METHOD_PUT,         /* sent with an empty body (Content-Length: 0) */
        _HTTP_METHOD_MAX,
        _HTTP_METHOD_INVALID = -EINVAL,
} HttpMethod;

const char *http_method_to_string(HttpMethod m);

typedef enum HttpClientFlags {
        HTTP_CLIENT_NO_PROXY = 1 << 0,   /* ignore http_proxy and the like from the environment */
        HTTP_CLIENT_ALLOW_HTTPS = 1 << 1, /* allow https:// URLs; plain http:// is always allowed */
} HttpClientFlags;

/* One HTTP response, whatever its status. */
typedef struct HttpResponse {
        long status;
        char *body;              /* NUL-terminated, may contain NUL bytes, never NULL after success */
        size_t body_size;
        usec_t retry_after_usec; /* from a Retry-After header, 0 when absent, invalid or in the past */
} HttpResponse;

/* Free the body of a response and reset it, so that it can be reused. */
void http_response_done(HttpResponse *r);

/* A reusable client. It keeps one curl easy handle, so consecutive requests to the same host share
 * one keep-alive connection. It never follows redirects, so a 3xx is returned like any other status. */
typedef struct HttpClient HttpClient;

/* Create a client, loading libcurl the first time. *ret is owned by the caller. Returns 0,
 * -ENOMEM, -EIO, or the error of dlopen_curl() when libcurl cannot be loaded, with the reason
 * (dlopen_curl_error()) in *reterr_message (caller owns it) when reterr_message is not NULL. */
int http_client_new(HttpClientFlags flags, HttpClient **ret, char **reterr_message);
HttpClient *http_client_free(HttpClient *c);
static inline void http_client_freep(HttpClient **c) {
        http_client_free(*c);
}
#define _cleanup_http_client_free_ _cleanup_(http_client_freep)

/* Send one request and wait for the whole response. headers is a NULL-terminated list of
 * "Name: value" strings, or NULL. timeout_usec bounds the whole request, connection included,
 * and must be at least one millisecond. A body larger than max_body bytes is not stored.
 * Returns 0 with *ret filled for any HTTP status (caller owns it; release it with
 * http_response_done()), or a transport error with a message in *reterr_message (caller owns it):
 * -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH or -ECONNRESET from the connection, -ETIMEDOUT,
 * -EPIPE when the answer ended early, -EFBIG when the body exceeds max_body, -EINVAL for a URL
 * that is malformed or of a scheme the client does not allow, -ENOMEM, or -EIO. */
int http_request(HttpClient *c, HttpMethod method, const char *url, const char *const *headers,
                 usec_t timeout_usec, size_t max_body, HttpResponse *ret, char **reterr_message);

/* Parse a Retry-After value (RFC 9110 section 10.2.3): delay-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT") compared with now. A date in the past gives 0, a delay
 * too large for usec_t gives the largest value. Returns 0, -EINVAL for anything else, or, for a
 * date, the error of dlopen_curl() when libcurl cannot be loaded. */
int http_parse_retry_after(const char *value, time_t now, usec_t *ret);

/* Whether an HTTP status is worth retrying after a pause: 429 and every 5xx. */
bool http_status_is_retryable(long status);

/* Whether a negative errno from http_request() is a transient fault worth retrying: connection
 * errors, timeouts and responses that ended early. */
bool http_error_is_retryable(int error);

/* Compute the pause before retry number attempt (0 for the first retry) with capped exponential
 * backoff and equal jitter. The backoff doubles from base until it reaches max. The pause is
 * between half of the backoff and all of it, picked by random, and never below base.
 * With base 1 s and max 10 s the upper bounds run 1, 2, 4, 8, 10, 10 ... s. */
usec_t http_retry_delay(unsigned attempt, usec_t base, usec_t max, uint64_t random);
