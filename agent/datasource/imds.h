/* SPDX-License-Identifier: Apache-2.0 */
/* The client for the EC2 instance metadata service, which the EC2 datasource uses to read the
 * instance. All requests of one fetch share one deadline, settings->max_wait_usec after
 * imds_open(). */
#pragma once

#include <stdbool.h>

#include "datasource/ec2.h"
#include "lib/curl-util.h"
#include "lib/macro.h"

/* A connection to the metadata service. Callers start with a zeroed Imds and may read base_url and
 * imdsv1 after imds_open() succeeded. The other fields are private to imds.c. */
typedef struct Imds {
        HttpClient *client;
        const Ec2Settings *settings;
        usec_t deadline;         /* CLOCK_MONOTONIC; the whole fetch ends here */
        const char *base_url;    /* the endpoint in use, borrowed from settings, or NULL before one responded */
        char *token;             /* NULL with IMDSv1; never logged */
        bool imdsv1;
        unsigned n_token_renewals;
        /* The last failed attempt, for the message when the deadline passes. */
        const char *last_url;
        long last_status;        /* 0 when the last failure was not an HTTP response */
        char *last_error;
} Imds;

/* Connect to the metadata service and start the deadline. The endpoint is the first of
 * settings->metadata_urls, in order, that sends any HTTP response to the token request. On it, get
 * a token, or fall back to IMDSv1 when the settings allow it. settings is borrowed and must outlive
 * m. Release m with imds_done() whether this succeeds or not. Returns 0, or -errno with a message
 * in *reterr_message (caller owns it) when one could be built. */
int imds_open(Imds *m, const Ec2Settings *settings, char **reterr_message);

/* Release what m holds and erase its token. */
void imds_done(Imds *m);

/* GET a path, such as "/latest/user-data", from the endpoint in use. Transient faults are retried
 * until the deadline, and a token rejected with HTTP 401 is renewed, up to IMDS_TOKEN_RENEWALS_MAX
 * times over the life of m. Returns 0 with a 200 response, -ENOENT for 404 (final: the path does
 * not exist, and its body is never read), or another -errno with a message. */
int imds_get(Imds *m, const char *path, HttpResponse *ret, char **reterr_message);
