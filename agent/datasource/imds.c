/* SPDX-License-Identifier: Apache-2.0 */
/* The client for the EC2 instance metadata service. It picks the first endpoint that responds,
 * uses IMDSv2 with a session token and falls back to IMDSv1, renews a rejected token, and retries
 * transient faults with backoff until a deadline. */

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "datasource/imds.h"
#include "lib/string-util.h"
#include "lib/time-util.h"
#include "log.h"

/* The pause between retries doubles from 1 s up to 10 s, with jitter (see http_retry_delay()). */
#define IMDS_RETRY_BASE_USEC (1 * USEC_PER_SEC)
#define IMDS_RETRY_MAX_USEC (10 * USEC_PER_SEC)
/* New tokens requested over the whole fetch after GETs were rejected with HTTP 401. */
#define IMDS_TOKEN_RENEWALS_MAX 3U
/* Largest response body kept for any path. EC2 limits user data to 16 KiB, but compatible
 * services and future limits may not, so kiln assumes nothing close to that. */
#define IMDS_RESPONSE_SIZE_MAX (32U * 1024U * 1024U)
/* Largest token accepted. Tokens are short strings, and this leaves room for compatible services. */
#define IMDS_TOKEN_SIZE_MAX 4096U

#define IMDS_TOKEN_PATH "/latest/api/token"
#define IMDS_TOKEN_HEADER "X-aws-ec2-metadata-token"
#define IMDS_TOKEN_TTL_HEADER "X-aws-ec2-metadata-token-ttl-seconds"

static void erase_and_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

static void erase_and_freep(char **s) {
        erase_and_free(*s);
}

/* Seconds for messages, to the millisecond without trailing zeros: "120 s", "1.5 s". */
static const char *format_seconds(char buf[static 32], usec_t usec) {
        size_t len;

        (void) snprintf(buf, 32, "%" PRIu64 ".%03" PRIu64, (uint64_t) (usec / USEC_PER_SEC),
                        (uint64_t) (usec % USEC_PER_SEC / USEC_PER_MSEC));
        len = strlen(buf);
        while (buf[len - 1] == '0')
                len--;
        if (buf[len - 1] == '.')
                len--;
        (void) snprintf(buf + len, 32 - len, " s");
        return buf;
}

void imds_done(Imds *m) {
        m->client = http_client_free(m->client);
        erase_and_free(TAKE_PTR(m->token));
        free(m->last_error);
        m->last_error = NULL;
}

static usec_t imds_time_left(const Imds *m) {
        usec_t now = clock_monotonic_usec();

        return now < m->deadline ? m->deadline - now : 0;
}

static void imds_set_token_take(Imds *m, char *token) {
        erase_and_free(m->token);
        m->token = token;
}

/* Send one request to base + path, bounded by the per-request timeout and the deadline. */
static int imds_send(Imds *m, HttpMethod method, const char *base, const char *path,
                     size_t max_body, HttpResponse *ret, char **reterr_message) {
        _cleanup_(erase_and_freep) char *header = NULL;
        _cleanup_free_ char *url = NULL;
        const char *headers[2] = {};
        int r;

        /* asprintf() leaves its pointer undefined on failure, and the cleanup handlers free it. */
        if (asprintf(&url, "%s%s", base, path) < 0) {
                url = NULL;
                return -ENOMEM;
        }

        if (method == HTTP_METHOD_PUT)
                r = asprintf(&header, IMDS_TOKEN_TTL_HEADER ": %u", m->settings->token_ttl_sec);
        else if (m->token)
                r = asprintf(&header, IMDS_TOKEN_HEADER ": %s", m->token);
        else
                r = 0;
        if (r < 0) {
                header = NULL;
                return -ENOMEM;
        }
        headers[0] = header;

        return http_request(m->client, method, url, headers,
                            MIN(m->settings->timeout_usec, imds_time_left(m)),
                            max_body, ret, reterr_message);
}

/* Remember why an attempt failed: an HTTP status, or a transport error and its message. */
static int imds_record_failure(Imds *m, const char *base, const char *path, int error, long status,
                               const char *message) {
        char *text = NULL;
        int r;

        if (error >= 0)
                r = asprintf(&text, "HTTP %ld for %s", status, path);
        else
                r = asprintf(&text, "%s", message ?: strerror(-error));
        if (r < 0)
                return -ENOMEM;

        free(m->last_error);
        m->last_error = text;
        m->last_url = base;
        m->last_status = error >= 0 ? status : 0;
        return 0;
}

/* Pause before the next attempt: the backoff for this attempt, or longer when the service asked
 * for it with Retry-After, but never past the deadline. */
static void imds_backoff(Imds *m, unsigned *attempt, usec_t retry_after, const char *what) {
        usec_t delay = http_retry_delay(*attempt, IMDS_RETRY_BASE_USEC, IMDS_RETRY_MAX_USEC, jitter_random_u64());
        usec_t left = imds_time_left(m);
        char buf[32];

        delay = MIN(MAX(delay, retry_after), left);
        (*attempt)++;
        if (delay == 0)
                return;

        log_debug("Retrying %s in %s (retry %u): %s", what, format_seconds(buf, delay), *attempt,
                  m->last_error ?: "no answer");
        sleep_until_usec(clock_monotonic_usec() + delay);
}

static int imds_fail_deadline(const Imds *m, char **reterr_message) {
        char buf[32];

        format_seconds(buf, m->settings->max_wait_usec);
        if (m->last_status > 0)
                return set_message(reterr_message, -ETIMEDOUT,
                                   "the metadata service at %s was still unavailable after %s: %s",
                                   m->last_url, buf, m->last_error);
        return set_message(reterr_message, -ETIMEDOUT, "no answer from %s within %s: %s",
                           m->last_url ?: m->settings->metadata_urls[0], buf,
                           m->last_error ?: "no time left for a request");
}

/* Send a request to the endpoint in use, retrying connection errors, timeouts, truncated responses,
 * 429 and 5xx until the deadline. attempt is the number of retries already made for this request.
 * Returns 0 with the first response of another status. */
static int imds_request(Imds *m, HttpMethod method, const char *path, size_t max_body, unsigned attempt,
                        HttpResponse *ret, char **reterr_message) {
        _cleanup_free_ char *what = NULL;

        if (asprintf(&what, "%s %s", http_method_to_string(method), path) < 0) {
                what = NULL;
                return -ENOMEM;
        }

        for (;;) {
                _cleanup_(http_response_done) HttpResponse response = {};
                _cleanup_free_ char *message = NULL;
                int r;

                if (imds_time_left(m) < USEC_PER_MSEC)
                        return imds_fail_deadline(m, reterr_message);

                r = imds_send(m, method, m->base_url, path, max_body, &response, &message);
                if (r >= 0 && !http_status_is_retryable(response.status)) {
                        *ret = response;
                        response = (HttpResponse) {};
                        return 0;
                }
                if (r < 0 && !http_error_is_retryable(r))
                        return set_message(reterr_message, r, "%s failed: %s", what, message ?: strerror(-r));

                r = imds_record_failure(m, m->base_url, path, r, response.status, message);
                if (r < 0)
                        return r;
                imds_backoff(m, &attempt, response.retry_after_usec, what);
        }
}

/* Act on the response to a token request: keep the token, or fall back to IMDSv1. */
static int imds_accept_token(Imds *m, HttpResponse *response, char **reterr_message) {
        long status = response->status;
        char *token;

        switch (status) {
        case 200:
                if (response->body_size == 0 || response->body_size > IMDS_TOKEN_SIZE_MAX ||
                    strlen(response->body) != response->body_size)
                        return set_message(reterr_message, -EBADMSG, "the metadata service returned an invalid token");
                /* The token goes into a header line, so only visible ASCII is acceptable. */
                for (const unsigned char *p = (const unsigned char *) response->body; *p; p++)
                        if (*p <= ' ' || *p >= 0x7f)
                                return set_message(reterr_message, -EBADMSG,
                                                   "the metadata service returned an invalid token");
                token = strdup(response->body);
                explicit_bzero(response->body, response->body_size);
                if (!token)
                        return -ENOMEM;
                imds_set_token_take(m, token);
                m->imdsv1 = false;
                return 0;

        case 403:
        case 404:
        case 405:
                if (!m->settings->imdsv1_fallback)
                        return set_message(reterr_message, -EACCES,
                                           "IMDSv2 is unavailable (HTTP %ld on token request) and datasource.ec2.imdsv1_fallback is false",
                                           status);
                if (!m->imdsv1)
                        log_warning("IMDSv2 is unavailable (HTTP %ld on token request), falling back to IMDSv1", status);
                imds_set_token_take(m, NULL);
                m->imdsv1 = true;
                return 0;

        case 401:
                return set_message(reterr_message, -EPERM,
                                   "the metadata service rejected the token request with HTTP 401");

        default:
                return set_message(reterr_message, -EIO,
                                   "the metadata service answered the token request with HTTP %ld", status);
        }
}

static int imds_request_token(Imds *m, unsigned attempt, char **reterr_message) {
        _cleanup_(http_response_done) HttpResponse response = {};
        int r;

        r = imds_request(m, HTTP_METHOD_PUT, IMDS_TOKEN_PATH, IMDS_TOKEN_SIZE_MAX, attempt, &response,
                         reterr_message);
        if (r < 0)
                return r;
        return imds_accept_token(m, &response, reterr_message);
}

static int imds_fail_connect(const Imds *m, char **errors, char **reterr_message) {
        _cleanup_free_ char *others = NULL;
        char *const *urls = m->settings->metadata_urls;
        char buf[32];

        /* Name the first endpoint in the message and add the last error of each other one. */
        for (size_t i = 1; urls[i]; i++) {
                char *joined = NULL;

                if (asprintf(&joined, "%s%s%s: %s", others ?: "", others ? ", " : "", urls[i],
                             errors[i] ?: "not tried") < 0)
                        return -ENOMEM;
                free(others);
                others = joined;
        }

        format_seconds(buf, m->settings->max_wait_usec);
        return set_message(reterr_message, -ETIMEDOUT, "no answer from %s within %s: %s%s%s%s",
                           urls[0], buf, errors[0] ?: "no time left for a request",
                           others ? " (also tried " : "", others ?: "", others ? ")" : "");
}

/* Find the endpoint: the first of metadata_urls, in order, that sends any HTTP response to the
 * token request. Rounds over all endpoints repeat with backoff until the deadline.
 * NOTE: endpoints are tried one after another, so one that accepts connections but never responds
 * delays the next by the full per-request timeout in every round. */
static int imds_connect(Imds *m, char **reterr_message) {
        char *const *urls = m->settings->metadata_urls;
        size_t n = strv_length(urls);
        _cleanup_strv_free_ char **errors = calloc(n + 1, sizeof(char *));
        _cleanup_(http_response_done) HttpResponse response = {};
        unsigned attempt = 0;
        int r;

        if (!errors)
                return -ENOMEM;

        while (!m->base_url) {
                for (size_t i = 0; i < n && !m->base_url; i++) {
                        _cleanup_free_ char *message = NULL;

                        if (imds_time_left(m) < USEC_PER_MSEC)
                                return imds_fail_connect(m, errors, reterr_message);

                        r = imds_send(m, HTTP_METHOD_PUT, urls[i], IMDS_TOKEN_PATH, IMDS_TOKEN_SIZE_MAX,
                                      &response, &message);
                        if (r >= 0) {
                                m->base_url = urls[i];
                                break;
                        }
                        if (!http_error_is_retryable(r))
                                return set_message(reterr_message, r, "failed to request a token from %s: %s",
                                                   urls[i], message ?: strerror(-r));

                        free(errors[i]);
                        errors[i] = message ? TAKE_PTR(message) : strdup(strerror(-r));
                        r = imds_record_failure(m, urls[i], IMDS_TOKEN_PATH, r, 0, errors[i]);
                        if (r < 0)
                                return r;
                }
                if (!m->base_url)
                        imds_backoff(m, &attempt, 0, "the token request");
        }

        log_info("Using the metadata service at '%s'.", m->base_url);

        /* The endpoint responded but is busy. It is the one in use now, so keep asking it. */
        if (http_status_is_retryable(response.status)) {
                r = imds_record_failure(m, m->base_url, IMDS_TOKEN_PATH, 0, response.status, NULL);
                if (r < 0)
                        return r;
                attempt = 0;
                imds_backoff(m, &attempt, response.retry_after_usec, "PUT " IMDS_TOKEN_PATH);
                return imds_request_token(m, attempt, reterr_message);
        }

        return imds_accept_token(m, &response, reterr_message);
}

int imds_open(Imds *m, const Ec2Settings *settings, char **reterr_message) {
        _cleanup_free_ char *why = NULL;
        int r;

        assert(m);
        assert(settings);

        m->settings = settings;
        m->deadline = clock_monotonic_usec() + settings->max_wait_usec;
        r = http_client_new(HTTP_CLIENT_NO_PROXY, &m->client, &why);
        if (r < 0)
                return set_message(reterr_message, r, "failed to set up an HTTP client: %s", why ?: strerror(-r));

        return imds_connect(m, reterr_message);
}

/* After a GET was rejected with HTTP 401, get a fresh token, up to IMDS_TOKEN_RENEWALS_MAX times. */
static int imds_renew_token(Imds *m, char **reterr_message) {
        if (m->imdsv1)
                return set_message(reterr_message, -EPERM,
                                   "the metadata service rejected requests with HTTP 401 and issues no token");
        if (m->n_token_renewals >= IMDS_TOKEN_RENEWALS_MAX)
                return set_message(reterr_message, -EPERM,
                                   "the metadata service rejected requests with HTTP 401 after %u token renewals",
                                   m->n_token_renewals);

        m->n_token_renewals++;
        log_info("The metadata service rejected the token with HTTP 401, requesting a new one (%u of %u).",
                 m->n_token_renewals, IMDS_TOKEN_RENEWALS_MAX);
        return imds_request_token(m, /* attempt= */ 0, reterr_message);
}

int imds_get(Imds *m, const char *path, HttpResponse *ret, char **reterr_message) {
        for (;;) {
                _cleanup_(http_response_done) HttpResponse response = {};
                int r;

                r = imds_request(m, HTTP_METHOD_GET, path, IMDS_RESPONSE_SIZE_MAX, /* attempt= */ 0, &response,
                                 reterr_message);
                if (r < 0)
                        return r;

                switch (response.status) {
                case 200:
                        *ret = response;
                        response = (HttpResponse) {};
                        return 0;
                case 404:
                        return -ENOENT;
                case 401:
                        r = imds_renew_token(m, reterr_message);
                        if (r < 0)
                                return r;
                        continue;
                case 403:
                        return set_message(reterr_message, -EACCES, "the metadata service is disabled (HTTP 403)");
                default:
                        return set_message(reterr_message, -EIO, "unexpected HTTP %ld for %s%s",
                                           response.status, m->base_url, path);
                }
        }
}
