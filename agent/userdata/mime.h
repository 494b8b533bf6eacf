/* SPDX-License-Identifier: Apache-2.0 */
/* MIME messages as user data carries them (RFC 2045, RFC 2046, RFC 2231 parameters), and the
 * encodings of user data and of its parts: base64, quoted-printable and gzip. No logging. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Why a part of a MIME message could not be read. */
typedef enum MimeProblem {
        MIME_PROBLEM_NONE,
        MIME_PROBLEM_NO_BOUNDARY,        /* multipart Content-Type without a boundary parameter */
        MIME_PROBLEM_BOUNDARY_NOT_FOUND, /* no line of the multipart body is the boundary */
        MIME_PROBLEM_TOO_DEEP,           /* multipart nested deeper than USERDATA_MIME_DEPTH_MAX */
        MIME_PROBLEM_INVALID_BASE64,
        MIME_PROBLEM_UNKNOWN_ENCODING,   /* a Content-Transfer-Encoding kiln does not decode */
        _MIME_PROBLEM_MAX,
} MimeProblem;

/* A sentence fragment saying why a part could not be read ("its body is not valid base64"). */
const char *mime_problem_to_string(MimeProblem problem);

/* One leaf of a MIME message: a part that is not itself multipart. */
typedef struct MimePart {
        char *content_type;      /* "type/subtype" in lower case; "text/plain" when missing or malformed */
        char *encoding;          /* Content-Transfer-Encoding in lower case, NULL when absent */
        char *filename;          /* Content-Disposition filename, else Content-Type name, else NULL */
        char *merge_type;        /* Merge-Type (or X-Merge-Type) header, NULL when absent */
        char *launch_index;      /* Launch-Index header, NULL when absent */
        char *data;              /* body after transfer decoding, NUL-terminated; NULL on a problem */
        size_t size;
        MimeProblem problem;
} MimePart;

typedef struct MimeMessage {
        MimePart *parts;         /* leaves in document order; multipart containers are not listed */
        size_t n_parts;
        bool parts_dropped;      /* leaves past the max_parts of mime_parse() were dropped */
        bool unterminated;       /* a multipart body ended without its closing boundary line */
} MimeMessage;

/* True when data starts with a header block (RFC 5322 fields, ended by an empty line or by the
 * first line that is not a field) that has a Content-Type or MIME-Version field. */
bool mime_is_message(const char *data, size_t size);

/* Split a MIME message into its leaves. Nested multiparts are followed up to
 * USERDATA_MIME_DEPTH_MAX levels. A part that cannot be read is listed with its problem set, so
 * the caller can name it. Preamble and epilogue text is ignored. At most max_parts leaves are kept.
 * Returns 0 with *ret filled (release with mime_message_done()), or -ENOMEM. */
int mime_parse(const char *data, size_t size, size_t max_parts, MimeMessage *ret);

void mime_message_done(MimeMessage *m);

/* Decode base64 text: the alphabet, '=' padding and whitespace anywhere, a multiple of 4
 * characters. *ret is NUL-terminated, caller owns it. Returns 0, -EINVAL or -ENOMEM. */
int mime_base64_decode(const char *text, size_t size, char **ret, size_t *ret_size);

/* Decode quoted-printable text as RFC 2045 section 6.7 describes a robust decoder: "=XX" (either
 * case) is one byte, "=" at a line end is a soft line break, blanks at a line end are transport
 * padding and go, and any other '=' is kept as it is. Line ends (LF or CRLF) are kept.
 * *ret is NUL-terminated, caller owns it. Returns 0 or -ENOMEM. */
int mime_qp_decode(const char *text, size_t size, char **ret, size_t *ret_size);

/* Inflate gzip data, every member of it as gzip(1) and Python's gzip module do. *ret is
 * NUL-terminated, caller owns it. Returns 0, -EFBIG past max bytes of output, -EBADMSG on bad
 * data or bytes after the last member, or -ENOMEM. */
int mime_gunzip(const char *data, size_t size, size_t max, char **ret, size_t *ret_size);
