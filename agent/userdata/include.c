/* SPDX-License-Identifier: Apache-2.0 */
/* #include and #include-once: fetch the URLs that user data lists and decode their bodies.
 *
 * Grammar, as cloud-init's user-data processor reads it: the body is split into lines. A line that
 * starts with "#include-once" (in any case) turns include-once mode on, one that starts with
 * "#include" turns it off, and in both cases the rest of the line is read like any other line.
 * A line (or rest of a line) that starts with '#' is a comment, a blank one is skipped, and
 * anything else, with surrounding blanks stripped, is one URL. */

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/curl-util.h"
#include "lib/fileio.h"
#include "lib/time-util.h"
#include "log.h"
#include "report.h"
#include "userdata/include.h"

/* Levels of included bodies: a body fetched for the top-level user data is at depth 1, and a body
 * at depth INCLUDE_DEPTH_MAX may not include more. This also stops a URL that includes itself. */
#define INCLUDE_DEPTH_MAX 3U
/* URLs fetched from one body; the lines after the last of them are reported and skipped. */
#define INCLUDE_URLS_MAX 32U
/* Maximum length of a URL. Pre-signed URLs carry long signatures, but stay well under this. */
#define INCLUDE_URL_MAX 8192U
/* Maximum size of the body fetched from one URL. */
#define INCLUDE_BODY_MAX (4U * 1024U * 1024U)
/* Time allowed for one request, connection included. */
#define INCLUDE_TIMEOUT_USEC (10 * USEC_PER_SEC)
/* Requests per URL when the server responds with 429 or 5xx or the connection fails. The pause
 * between them doubles from 1 s up to 4 s, with jitter (see http_retry_delay()), and a Retry-After of the
 * server is followed up to that maximum, so one URL takes at most 4 x 10 s plus 12 s of pauses. */
#define INCLUDE_ATTEMPTS_MAX 4U
/* Time for all #include fetches of one run together, so that slow servers cannot hold the boot
 * for each URL's timeout and retries in turn (32 URLs per body, three levels deep). */
#define INCLUDE_TOTAL_USEC (120 * USEC_PER_SEC)
#define INCLUDE_RETRY_BASE_USEC (1 * USEC_PER_SEC)
#define INCLUDE_RETRY_MAX_USEC (4 * USEC_PER_SEC)
/* Maximum length of a URL in messages, after its scheme. A longer URL is cut and ends in "...". */
#define INCLUDE_REDACTED_URL_MAX 200U
/* Maximum length of what messages keep as a scheme ("https" and the like are far shorter). */
#define INCLUDE_REDACTED_SCHEME_MAX 16U

#define INCLUDE_ONCE_DIR "include-once"

static const char blanks[] = " \t\r\n\v\f";

/* The state of one include_process() call. */
typedef struct IncludeRun {
        Context *ctx;
        const char *source;      /* where the URLs were listed, for messages */
        const char *origin;      /* "user-data" or "vendor-data": the start of source */
        unsigned depth;
        include_decode_fn decode;
        HttpClient *client;      /* created at the first request, shared by all URLs of the body */
        int result;              /* the first error */
} IncludeRun;

static void include_run_done(IncludeRun *run) {
        run->client = http_client_free(run->client);
}

static void include_run_fail(IncludeRun *run, int r) {
        if (run->result == 0 && r < 0)
                run->result = r;
}

static bool has_prefix_nocase(const char *s, size_t len, const char *prefix) {
        size_t n = strlen(prefix);
        return len >= n && strncasecmp(s, prefix, n) == 0;
}

static bool is_blank(char c) {
        return c != '\0' && strchr(blanks, c);
}

/* Strip blanks from both ends of s[0..*len). */
static const char *strip(const char *s, size_t *len) {
        while (*len > 0 && is_blank(s[0])) {
                s++;
                (*len)--;
        }
        while (*len > 0 && is_blank(s[*len - 1]))
                (*len)--;
        return s;
}

/* Read one line: switch include-once mode on its header, and return 1 with the URL in
 * *ret_url, *ret_len when it lists one, 0 when it is a header, a comment or blank. */
static int parse_line(const char *line, size_t len, bool *once, const char **ret_url, size_t *ret_len) {
        if (has_prefix_nocase(line, len, "#include-once")) {
                line += strlen("#include-once");
                len -= strlen("#include-once");
                *once = true;
        } else if (has_prefix_nocase(line, len, "#include")) {
                line += strlen("#include");
                len -= strlen("#include");
                *once = false;
        }
        line = strip(line, &len);
        if (len == 0 || line[0] == '#')
                return 0;
        *ret_url = line;
        *ret_len = len;
        return 1;
}

/* A copy of url fit for logs and reports. Pre-signed URLs carry a signature or token in the query,
 * and a URL may carry a password before the host, so the user-info part becomes "...@" and the
 * query "?...". A long rest is cut to INCLUDE_REDACTED_URL_MAX bytes and control characters become
 * '?'. Caller owns the result. */
static char *url_redact(const char *url) {
        size_t head = strcspn(url, "/?#"), prefix = 0, authority_len, rest_len;
        const char *authority, *at, *rest;
        bool query, cut;
        char *redacted = NULL;

        /* The scheme and "//" are kept, when the first '/' of the URL starts "://". */
        if (head > 0 && head <= INCLUDE_REDACTED_SCHEME_MAX && url[head - 1] == ':' && url[head] == '/' &&
            url[head + 1] == '/')
                prefix = head + 2;
        authority = url + prefix;
        authority_len = strcspn(authority, "/?#");
        at = memrchr(authority, '@', authority_len);
        rest = at ? at + 1 : authority;
        rest_len = strcspn(rest, "?");
        query = rest[rest_len] == '?';
        cut = rest_len > INCLUDE_REDACTED_URL_MAX;

        if (asprintf(&redacted, "%.*s%s%.*s%s", (int) prefix, url, at ? "...@" : "",
                     (int) MIN(rest_len, (size_t) INCLUDE_REDACTED_URL_MAX), rest,
                     cut ? "..." : (query ? "?..." : "")) < 0)
                return NULL;
        for (char *p = redacted; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
        return redacted;
}

/* Check a URL before any request: http or https, and printable. Returns 0, or -EINVAL with the
 * reason in *ret_reason. */
static int url_check(const char *url, size_t len, const char **ret_reason) {
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) url[i] <= ' ' || url[i] == 0x7f) {
                        *ret_reason = "a URL cannot contain blanks or control characters";
                        return -EINVAL;
                }
        if (!has_prefix_nocase(url, len, "http://") && !has_prefix_nocase(url, len, "https://")) {
                *ret_reason = "only http:// and https:// URLs can be included";
                return -EINVAL;
        }
        return 0;
}

/* The directory that stores the bodies of include-once URLs for the current instance, and the
 * file for url in it (named by the SHA-256 of the URL), relative to the root:
 * var/lib/kiln/instances/ID/include-once/HEX. Caller owns *ret_dir and *ret_file. */
static int include_once_path(const Context *ctx, const char *url, char **ret_dir, char **ret_file) {
        _cleanup_free_ char *dir = NULL, *file = NULL;
        unsigned char digest[EVP_MAX_MD_SIZE];
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        unsigned digest_len = 0;

        if (!EVP_Digest(url, strlen(url), digest, &digest_len, EVP_sha256(), /* impl= */ NULL))
                return -EIO;
        for (unsigned i = 0; i < digest_len; i++)
                (void) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
        hex[2 * digest_len] = '\0';

        if (asprintf(&dir, KILN_STATE_DIR "/instances/%s/" INCLUDE_ONCE_DIR,
                     ctx->instance->instance_id) < 0) {
                dir = NULL;
                return -ENOMEM;
        }
        if (asprintf(&file, "%s/%s", dir, hex) < 0) {
                file = NULL;
                return -ENOMEM;
        }
        *ret_dir = TAKE_PTR(dir);
        *ret_file = TAKE_PTR(file);
        return 0;
}

/* GET url, retrying connection failures, timeouts, 429 and 5xx up to INCLUDE_ATTEMPTS_MAX
 * requests. Returns 0 with the last response (whatever its status), or a transport error
 * from http_request() with its message in *reterr_message. */
static int fetch(IncludeRun *run, const char *url, const char *redacted, HttpResponse *ret,
                 char **reterr_message) {
        int r;

        if (!run->client) {
                r = http_client_new(HTTP_CLIENT_ALLOW_HTTPS, &run->client, reterr_message);
                if (r < 0)
                        return r;
        }

        if (run->ctx->include_deadline == 0)
                run->ctx->include_deadline = now_monotonic() + INCLUDE_TOTAL_USEC;

        for (unsigned attempt = 1;; attempt++) {
                _cleanup_(http_response_done) HttpResponse response = {};
                _cleanup_free_ char *message = NULL;
                usec_t delay, now = now_monotonic(), left;
                bool last;

                /* http_request() rejects timeouts under 1 ms, so less time than that left ends the fetch. */
                left = run->ctx->include_deadline > now ? run->ctx->include_deadline - now : 0;
                if (left < USEC_PER_MSEC) {
                        if (asprintf(reterr_message, "the %llu s for all includes of this boot ran out",
                                     (unsigned long long) (INCLUDE_TOTAL_USEC / USEC_PER_SEC)) < 0)
                                *reterr_message = NULL;
                        return -ETIMEDOUT;
                }

                r = http_request(run->client, HTTP_METHOD_GET, url, /* headers= */ NULL,
                                 MIN((usec_t) INCLUDE_TIMEOUT_USEC, left), INCLUDE_BODY_MAX, &response, &message);
                last = attempt == INCLUDE_ATTEMPTS_MAX || now_monotonic() + USEC_PER_MSEC >= run->ctx->include_deadline;
                if (r >= 0 && (last || !http_status_is_retryable(response.status))) {
                        *ret = response;
                        response = (HttpResponse) {};
                        return 0;
                }
                if (r < 0 && (last || !http_error_is_retryable(r))) {
                        *reterr_message = TAKE_PTR(message);
                        return r;
                }

                delay = http_retry_delay(attempt - 1, INCLUDE_RETRY_BASE_USEC, INCLUDE_RETRY_MAX_USEC,
                                         jitter_random_u64());
                delay = MAX(delay, MIN(response.retry_after_usec, INCLUDE_RETRY_MAX_USEC));
                if (r >= 0)
                        log_info("Fetching '%s' returned HTTP status %ld, retrying in %llu ms.", redacted,
                                 response.status, (unsigned long long) (delay / USEC_PER_MSEC));
                else
                        log_info("Fetching '%s' failed (%s), retrying in %llu ms.", redacted,
                                 message ?: strerror(-r), (unsigned long long) (delay / USEC_PER_MSEC));
                sleep_until_usec(MIN(clock_monotonic_usec() + delay, run->ctx->include_deadline));
        }
}

/* Fetch url and report why when that fails. Returns 0 with the body in *ret (caller owns it). */
static int fetch_body(IncludeRun *run, const char *url, const char *redacted, HttpResponse *ret) {
        _cleanup_(http_response_done) HttpResponse response = {};
        _cleanup_free_ char *message = NULL;
        int r;

        r = fetch(run, url, redacted, &response, &message);
        if (r == -EFBIG)
                return report_error(run->ctx, -1, r, "Failed to fetch '%s' listed in %s: the body is larger "
                                    "than the limit of %u MiB", redacted, run->source,
                                    INCLUDE_BODY_MAX / 1024U / 1024U);
        if (r < 0)
                return report_error(run->ctx, -1, r, "Failed to fetch '%s' listed in %s: %s", redacted,
                                    run->source, message ?: strerror(-r));
        /* NOTE: http_request() does not return the Location header, so redirects are not followed. */
        if (response.status >= 300 && response.status <= 399)
                return report_error(run->ctx, -1, 0, "Failed to fetch '%s' listed in %s: HTTP status %ld, "
                                    "a redirect, which kiln does not follow; list the URL it points to "
                                    "instead", redacted, run->source, response.status);
        if (response.status < 200 || response.status > 299)
                return report_error(run->ctx, -1, 0, "Failed to fetch '%s' listed in %s: HTTP status %ld",
                                    redacted, run->source, response.status);

        log_info("Fetched '%s' listed in %s (%zu bytes).", redacted, run->source, response.body_size);
        *ret = response;
        response = (HttpResponse) {};
        return 0;
}

/* The body of an include-once URL: the stored copy when there is one, else fetched and stored.
 * Returns 0 with the body in *ret (caller owns it), or -errno after reporting. */
static int fetch_once(IncludeRun *run, const char *url, const char *redacted, HttpResponse *ret) {
        _cleanup_free_ char *dir = NULL, *path = NULL, *data = NULL;
        size_t size;
        int r;

        r = include_once_path(run->ctx, url, &dir, &path);
        if (r < 0)
                return report_error(run->ctx, -1, r, "Failed to find where to store '%s' listed in %s: %m",
                                    redacted, run->source);

        r = read_file_at(run->ctx->root_fd, path, INCLUDE_BODY_MAX, &data, &size);
        if (r >= 0) {
                log_info("Using the stored copy of include-once URL '%s' listed in %s (%zu bytes).",
                         redacted, run->source, size);
                *ret = (HttpResponse) { .status = 200, .body = TAKE_PTR(data), .body_size = size };
                return 0;
        }
        if (r != -ENOENT)
                report_warning(run->ctx, -1, "Failed to read the stored copy of include-once URL '%s' "
                               "listed in %s, ignoring it: %s", redacted, run->source, strerror(-r));

        r = fetch_body(run, url, redacted, ret);
        if (r < 0)
                return r;

        /* Stored before decoding, so that a body that fails to decode is not fetched again either. */
        r = root_mkdir_p(run->ctx->root_fd, dir, 0700, (uid_t) -1, (gid_t) -1);
        if (r >= 0)
                r = write_file_atomic(run->ctx->root_fd, path, ret->body, ret->body_size, 0600, (uid_t) -1,
                                      (gid_t) -1, WRITE_SYNC);
        if (r < 0)
                report_warning(run->ctx, -1, "Failed to store the body of include-once URL '%s' listed in "
                               "%s, so the next run fetches it again, ignoring: %s", redacted, run->source,
                               strerror(-r));
        return 0;
}

/* Fetch one URL (or use its stored copy) and decode its body one level deeper. The URL is
 * text[0..len) of the body, so it may contain any byte. Returns 0, or -errno after reporting. */
static int include_url(IncludeRun *run, const char *text, size_t len, bool once) {
        _cleanup_(http_response_done) HttpResponse body = {};
        _cleanup_free_ char *url = NULL, *redacted = NULL, *label = NULL;
        const char *reason = NULL;
        int r;

        url = strndup(text, len);
        if (!url)
                return -ENOMEM;
        redacted = url_redact(url);
        if (!redacted)
                return -ENOMEM;

        if (len > INCLUDE_URL_MAX)
                return report_error(run->ctx, -1, 0, "Failed to include '%s' listed in %s: the URL is "
                                    "longer than %u bytes", redacted, run->source, INCLUDE_URL_MAX);
        if (url_check(text, len, &reason) < 0)
                return report_error(run->ctx, -1, 0, "Failed to include '%s' listed in %s: %s", redacted,
                                    run->source, reason);
        if (run->depth >= INCLUDE_DEPTH_MAX)
                return report_error(run->ctx, -1, 0, "Failed to include '%s' listed in %s: includes nest "
                                    "deeper than %u levels", redacted, run->source, INCLUDE_DEPTH_MAX);
        if (once && !(run->ctx->instance && run->ctx->instance->instance_id)) {
                /* Fetching would use up a one-time URL with nowhere to keep its body. */
                report_warning(run->ctx, -1, "Cannot include '%s' listed in %s once without an instance to "
                               "store its body for, skipping it.", redacted, run->source);
                return 0;
        }

        r = once ? fetch_once(run, url, redacted, &body) : fetch_body(run, url, redacted, &body);
        if (r < 0)
                return r;

        if (asprintf(&label, "%s from '%s'", run->origin, redacted) < 0) {
                label = NULL;
                return -ENOMEM;
        }
        return run->decode(run->ctx, label, body.body, body.body_size, run->depth + 1);
}

int include_process(Context *ctx, const char *source, const char *body, size_t size, bool once,
                    unsigned depth, include_decode_fn decode) {
        _cleanup_(include_run_done) IncludeRun run = {
                .ctx = ctx,
                .source = source,
                .depth = depth,
                .decode = decode,
        };
        _cleanup_free_ char *origin = NULL;
        const char *end = body + size, *from;
        unsigned n_urls = 0;
        int r;

        /* A label made by this file reads "user-data from 'URL'": nested bodies keep the origin. */
        from = strstr(source, " from '");
        origin = from ? strndup(source, (size_t) (from - source)) : strdup(source);
        if (!origin)
                return -ENOMEM;
        run.origin = origin;

        for (const char *line = body; line < end;) {
                const char *eol = line, *url;
                size_t len;

                while (eol < end && *eol != '\n' && *eol != '\r')
                        eol++;
                if (parse_line(line, (size_t) (eol - line), &once, &url, &len) > 0) {
                        if (n_urls++ == INCLUDE_URLS_MAX) {
                                r = report_error(ctx, -1, 0, "Failed to include the URLs after the first "
                                                 "%u listed in %s: one body may list at most %u",
                                                 INCLUDE_URLS_MAX, source, INCLUDE_URLS_MAX);
                                include_run_fail(&run, r);
                                break;
                        }
                        include_run_fail(&run, include_url(&run, url, len, once));
                }
                line = eol < end ? eol + 1 : end;
        }
        return run.result;
}
