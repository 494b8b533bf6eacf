/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for agent/userdata/mime.c (MIME messages, base64, quoted-printable) and for the MIME
 * paths of userdata_decode() that need generated input: limits, vendor data, many gzip parts.
 * Fixed MIME inputs and the typing of their parts are data cases of test-userdata.c
 * (tests/data/userdata/mime-*). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "lib/macro.h"
#include "report.h"
#include "test-helpers.h"
#include "userdata/mime.h"
#include "userdata/userdata.h"

static MimeMessage parse(const char *text) {
        MimeMessage m = {};

        assert_int_equal(mime_parse(text, strlen(text), USERDATA_PARTS_MAX, &m), 0);
        return m;
}

static void assert_part_data(const MimePart *p, const char *expected) {
        assert_non_null(p->data);
        assert_int_equal(p->size, strlen(expected));
        assert_memory_equal(p->data, expected, p->size);
}

static void assert_contains(const char *text, const char *needle) {
        if (!strstr(text, needle))
                fail_msg("'%s' does not contain '%s'", text, needle);
}

/* ---- mime_is_message ---- */

static void mime_is_message_content_type_first(void **state) {
        assert_true(mime_is_message("Content-Type: text/plain\n\nx\n", 27));
}

static void mime_is_message_mime_version_first(void **state) {
        static const char text[] = "MIME-Version: 1.0\nContent-Type: text/plain\n\nx\n";

        assert_true(mime_is_message(text, strlen(text)));
}

static void mime_is_message_field_names_any_case(void **state) {
        static const char text[] = "mime-version: 1.0\n\nx\n";

        assert_true(mime_is_message(text, strlen(text)));
}

static void mime_is_message_other_fields_only(void **state) {
        static const char text[] = "runcmd: [ls]\nhostname: x\n";

        assert_false(mime_is_message(text, strlen(text)));
}

static void mime_is_message_cloud_config(void **state) {
        static const char text[] = "#cloud-config\nContent-Type: text/plain\n";

        assert_false(mime_is_message(text, strlen(text)));
}

static void mime_is_message_space_before_colon(void **state) {
        static const char text[] = "Content-Type : text/plain\n\nx\n";

        assert_false(mime_is_message(text, strlen(text)));
}

static void mime_is_message_continuation_first(void **state) {
        static const char text[] = " Content-Type: text/plain\n\nx\n";

        assert_false(mime_is_message(text, strlen(text)));
}

static void mime_is_message_empty(void **state) {
        assert_false(mime_is_message("", 0));
}

/* ---- mime_parse: structure ---- */

static void mime_parse_quoted_boundary(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=\"==a b==\"\n\n--==a b==\n\none\n--==a b==--\n");

        assert_int_equal(m.n_parts, 1);
        assert_part_data(&m.parts[0], "one");
}

static void mime_parse_unquoted_boundary(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=abc\n\n--abc\n\none\n--abc\n\ntwo\n--abc--\n");

        assert_int_equal(m.n_parts, 2);
        assert_part_data(&m.parts[1], "two");
}

static void mime_parse_boundary_in_folded_field(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed;\n\tboundary=\"folded\"\n\n--folded\n\none\n--folded--\n");

        assert_int_equal(m.n_parts, 1);
        assert_part_data(&m.parts[0], "one");
}

static void mime_parse_boundary_param_any_case(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: Multipart/Mixed; BOUNDARY=abc\n\n--abc\n\none\n--abc--\n");

        assert_int_equal(m.n_parts, 1);
}

static void mime_parse_boundary_compared_exactly(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=abc\n\n--abc\n\n--ABC\n--abcd\n--abc--\n");

        assert_int_equal(m.n_parts, 1);
        assert_part_data(&m.parts[0], "--ABC\n--abcd");
}

static void mime_parse_boundary_line_trailing_blanks(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=abc\n\n--abc \t\n\none\n--abc-- \n");

        assert_int_equal(m.n_parts, 1);
        assert_false(m.unterminated);
}

static void mime_parse_crlf_line_break_belongs_to_boundary(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=abc\r\n\r\n--abc\r\n\r\nline\r\n\r\n--abc--\r\n");

        assert_part_data(&m.parts[0], "line\r\n");
}

static void mime_parse_preamble_ignored(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=abc\n\npreamble\n--abc\n\none\n--abc--\nepilogue\n");

        assert_int_equal(m.n_parts, 1);
        assert_part_data(&m.parts[0], "one");
}

static void mime_parse_nested_in_order(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=o\n\n"
                "--o\n\nfirst\n"
                "--o\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\nsecond\n--i\n\nthird\n--i--\n"
                "--o\n\nfourth\n--o--\n");

        assert_int_equal(m.n_parts, 4);
        assert_part_data(&m.parts[2], "third");
        assert_part_data(&m.parts[3], "fourth");
}

static void mime_parse_inner_unterminated_ends_at_outer(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=o\n\n"
                "--o\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\ninner\n"
                "--o\n\nouter\n--o--\n");

        assert_int_equal(m.n_parts, 2);
        assert_part_data(&m.parts[0], "inner");
        assert_part_data(&m.parts[1], "outer");
}

/* A message with levels multiparts, one inside the other, around one text part. */
static char *nested_message(unsigned levels) {
        char *body = strdup("\ndeep");

        assert_non_null(body);
        for (unsigned i = 0; i < levels; i++) {
                char *outer;

                assert_true(asprintf(&outer, "Content-Type: multipart/mixed; boundary=b%u\n\n--b%u\n%s\n--b%u--",
                                     i, i, body, i) > 0);
                free(body);
                body = outer;
        }
        return body;
}

static void mime_parse_depth_at_limit(void **state) {
        _cleanup_free_ char *text = nested_message(USERDATA_MIME_DEPTH_MAX);
        _cleanup_(mime_message_done) MimeMessage m = parse(text);

        assert_int_equal(m.parts[0].problem, MIME_PROBLEM_NONE);
}

static void mime_parse_depth_over_limit(void **state) {
        _cleanup_free_ char *text = nested_message(USERDATA_MIME_DEPTH_MAX + 1);
        _cleanup_(mime_message_done) MimeMessage m = parse(text);

        assert_int_equal(m.parts[0].problem, MIME_PROBLEM_TOO_DEEP);
}

static void mime_parse_parts_over_max_dropped(void **state) {
        static const char text[] = "Content-Type: multipart/mixed; boundary=a\n\n--a\n\n1\n--a\n\n2\n--a\n\n3\n--a--\n";
        _cleanup_(mime_message_done) MimeMessage m = {};

        assert_int_equal(mime_parse(text, strlen(text), 2, &m), 0);
        assert_int_equal(m.n_parts, 2);
        assert_true(m.parts_dropped);
}

static void mime_parse_unterminated_flagged(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=a\n\n--a\n\none\n--a\n\ntwo\n");

        assert_true(m.unterminated);
}

static void mime_parse_unterminated_keeps_last_part(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=a\n\n--a\n\none\n--a\n\ntwo\n");

        assert_part_data(&m.parts[1], "two\n");
}

static void mime_parse_no_boundary_problem(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("Content-Type: multipart/mixed\n\n--a\n\none\n--a--\n");

        assert_int_equal(m.parts[0].problem, MIME_PROBLEM_NO_BOUNDARY);
}

static void mime_parse_empty_boundary_problem(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("Content-Type: multipart/mixed; boundary=\"\"\n\n--\n");

        assert_int_equal(m.parts[0].problem, MIME_PROBLEM_NO_BOUNDARY);
}

static void mime_parse_boundary_not_found_problem(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=a\n\n--b\n\none\n--b--\n");

        assert_int_equal(m.parts[0].problem, MIME_PROBLEM_BOUNDARY_NOT_FOUND);
}

static void mime_parse_part_without_headers(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=a\n\n--a\n#!/bin/sh\necho hi\n--a--\n");

        assert_part_data(&m.parts[0], "#!/bin/sh\necho hi");
}

static void mime_parse_empty_part(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("Content-Type: multipart/mixed; boundary=a\n\n--a\n--a--\n");

        assert_int_equal(m.n_parts, 1);
        assert_int_equal(m.parts[0].size, 0);
}

/* ---- mime_parse: fields of a part ---- */

static void mime_parse_type_lower_case(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("Content-Type: Text/X-ShellScript; charset=UTF-8\n\nx");

        assert_string_equal(m.parts[0].content_type, "text/x-shellscript");
}

static void mime_parse_type_missing_is_text_plain(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("MIME-Version: 1.0\n\nx");

        assert_string_equal(m.parts[0].content_type, "text/plain");
}

static void mime_parse_type_malformed_is_text_plain(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("Content-Type: text/plain/extra\n\nx");

        assert_string_equal(m.parts[0].content_type, "text/plain");
}

static void mime_parse_first_field_wins(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: text/cloud-config\ncontent-type: text/x-shellscript\n\nx");

        assert_string_equal(m.parts[0].content_type, "text/cloud-config");
}

static void mime_parse_body_without_blank_line(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("MIME-Version: 1.0\n#cloud-config\n");

        assert_part_data(&m.parts[0], "#cloud-config\n");
}

static void mime_parse_filename_from_disposition(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: text/plain; name=other\nContent-Disposition: attachment; filename=\" a.sh \"\n\nx");

        assert_string_equal(m.parts[0].filename, "a.sh");
}

static void mime_parse_filename_from_name(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("Content-Type: text/plain; name=\"b;c.sh\"\n\nx");

        assert_string_equal(m.parts[0].filename, "b;c.sh");
}

static void mime_parse_filename_rfc2231(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: text/plain\nContent-Disposition: attachment; filename*=UTF-8'en'caf%C3%A9.sh\n\nx");

        assert_string_equal(m.parts[0].filename, "caf\xc3\xa9.sh");
}

static void mime_parse_filename_rfc2231_continued(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: text/plain\nContent-Disposition: attachment;\n filename*1=\"-two\";"
                " filename*0*=utf-8''one%21; filename*2=.sh\n\nx");

        assert_string_equal(m.parts[0].filename, "one!-two.sh");
}

static void mime_parse_filename_absent(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("Content-Type: text/plain\n\nx");

        assert_null(m.parts[0].filename);
}

static void mime_parse_merge_type(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: text/cloud-config\nX-Merge-Type: dict()\nMerge-Type:  list(append)+dict()+str() \n\nx");

        assert_string_equal(m.parts[0].merge_type, "list(append)+dict()+str()");
}

static void mime_parse_x_merge_type(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("Content-Type: text/cloud-config\nX-Merge-Type: dict()\n\nx");

        assert_string_equal(m.parts[0].merge_type, "dict()");
}

static void mime_parse_base64_body(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: text/x-shellscript\nContent-Transfer-Encoding: Base64\n\nIyEv\nYmlu\nL3No\n");

        assert_part_data(&m.parts[0], "#!/bin/sh");
}

static void mime_parse_base64_invalid_problem(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\nIy*v\n");

        assert_int_equal(m.parts[0].problem, MIME_PROBLEM_INVALID_BASE64);
}

static void mime_parse_quoted_printable_body(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\na=3Db=\nc\n");

        assert_part_data(&m.parts[0], "a=bc\n");
}

static void mime_parse_identity_encodings(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse(
                "Content-Type: multipart/mixed; boundary=a\n\n"
                "--a\nContent-Transfer-Encoding: 7BIT\n\none\n"
                "--a\nContent-Transfer-Encoding: 8bit\n\ntwo\n"
                "--a\nContent-Transfer-Encoding: binary\n\nthree\n--a--\n");

        assert_part_data(&m.parts[0], "one");
        assert_part_data(&m.parts[1], "two");
        assert_part_data(&m.parts[2], "three");
}

static void mime_parse_unknown_encoding_problem(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("Content-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n");

        assert_int_equal(m.parts[0].problem, MIME_PROBLEM_UNKNOWN_ENCODING);
}

static void mime_parse_unknown_encoding_named(void **state) {
        _cleanup_(mime_message_done) MimeMessage m = parse("Content-Transfer-Encoding: X-UUencode \n\nbegin 644 x\n");

        assert_string_equal(m.parts[0].encoding, "x-uuencode");
}

/* ---- mime_qp_decode ---- */

static void assert_qp(const char *text, const char *expected) {
        _cleanup_free_ char *out = NULL;
        size_t size;

        assert_int_equal(mime_qp_decode(text, strlen(text), &out, &size), 0);
        assert_int_equal(size, strlen(expected));
        assert_memory_equal(out, expected, size);
}

static void mime_qp_decode_hex_upper(void **state) {
        assert_qp("Gr=C3=BC=C3=9Fe", "Gr\xc3\xbc\xc3\x9f" "e");
}

static void mime_qp_decode_hex_lower(void **state) {
        assert_qp("=c3=a9", "\xc3\xa9");
}

static void mime_qp_decode_soft_break_lf(void **state) {
        assert_qp("long=\nline", "longline");
}

static void mime_qp_decode_soft_break_crlf(void **state) {
        assert_qp("long=\r\nline", "longline");
}

static void mime_qp_decode_soft_break_blanks(void **state) {
        assert_qp("long= \t\nline", "longline");
}

static void mime_qp_decode_soft_break_at_end(void **state) {
        assert_qp("end=", "end");
}

static void mime_qp_decode_trailing_blanks_removed(void **state) {
        assert_qp("a  \nb\t\r\nc ", "a\nb\r\nc");
}

static void mime_qp_decode_inner_blanks_kept(void **state) {
        assert_qp("a \t b", "a \t b");
}

static void mime_qp_decode_invalid_escape_kept(void **state) {
        assert_qp("a=ZZb=4", "a=ZZb=4");
}

static void mime_qp_decode_escaped_equals(void **state) {
        assert_qp("x=3D=3D", "x==");
}

/* ---- mime_base64_decode ---- */

static void mime_base64_decode_whitespace_anywhere(void **state) {
        _cleanup_free_ char *out = NULL;
        size_t size;

        assert_int_equal(mime_base64_decode(" aGVs\r\nbG8=\n", 12, &out, &size), 0);
        assert_string_equal(out, "hello");
}

static void mime_base64_decode_padding_removed(void **state) {
        _cleanup_free_ char *out = NULL;
        size_t size;

        assert_int_equal(mime_base64_decode("YQ==", 4, &out, &size), 0);
        assert_int_equal(size, 1);
}

static void mime_base64_decode_empty(void **state) {
        _cleanup_free_ char *out = NULL;
        size_t size = 1;

        assert_int_equal(mime_base64_decode("\n", 1, &out, &size), 0);
        assert_int_equal(size, 0);
}

static void mime_base64_decode_bad_length(void **state) {
        _cleanup_free_ char *out = NULL;
        size_t size;

        assert_int_equal(mime_base64_decode("YQ=", 3, &out, &size), -EINVAL);
}

static void mime_base64_decode_bad_character(void **state) {
        _cleanup_free_ char *out = NULL;
        size_t size;

        assert_int_equal(mime_base64_decode("YQ*=", 4, &out, &size), -EINVAL);
}

/* ---- userdata_decode with generated MIME input ---- */

static int setup(void **state) {
        *state = test_root_new();
        return 0;
}

static int teardown(void **state) {
        TestRoot *t = *state;

        parts_free(t->ctx.parts, t->ctx.n_parts);
        t->ctx.parts = NULL;
        t->ctx.n_parts = 0;
        test_root_free(t);
        return 0;
}

static Context *ctx_of(void **state) {
        return &((TestRoot *) *state)->ctx;
}

static const char *message_of(const json_t *list, size_t i) {
        const char *m = json_string_value(json_object_get(json_array_get(list, i), "message"));

        assert_non_null(m);
        return m;
}

/* A multipart message of n cloud-config parts. Caller frees it. */
static char *many_parts(size_t n) {
        size_t cap = 64 + n * 64, len;
        char *text = malloc(cap);

        assert_non_null(text);
        len = (size_t) snprintf(text, cap, "Content-Type: multipart/mixed; boundary=p\n\n");
        for (size_t i = 0; i < n; i++)
                len += (size_t) snprintf(text + len, cap - len, "--p\n\n#cloud-config\nhostname: h%zu\n", i);
        (void) snprintf(text + len, cap - len, "--p--\n");
        return text;
}

static void userdata_decode_mime_parts_at_limit(void **state) {
        _cleanup_free_ char *text = many_parts(USERDATA_PARTS_MAX);

        assert_int_equal(userdata_decode(ctx_of(state), "user-data", text, strlen(text)), 0);
        assert_int_equal(ctx_of(state)->n_parts, USERDATA_PARTS_MAX);
}

static void userdata_decode_mime_parts_over_limit_error(void **state) {
        _cleanup_free_ char *text = many_parts(USERDATA_PARTS_MAX + 5);

        assert_int_equal(userdata_decode(ctx_of(state), "user-data", text, strlen(text)), -E2BIG);
        assert_int_equal(json_array_size(ctx_of(state)->errors), 1);
}

static void userdata_decode_mime_parts_over_limit_message(void **state) {
        _cleanup_free_ char *text = many_parts(USERDATA_PARTS_MAX + 5);

        char expected[64];

        (void) snprintf(expected, sizeof(expected), "more than %d parts", USERDATA_PARTS_MAX);
        (void) userdata_decode(ctx_of(state), "user-data", text, strlen(text));
        assert_contains(message_of(ctx_of(state)->errors, 0), expected);
}

static void userdata_decode_mime_parts_over_limit_keeps_first(void **state) {
        _cleanup_free_ char *text = many_parts(USERDATA_PARTS_MAX + 5);

        (void) userdata_decode(ctx_of(state), "user-data", text, strlen(text));
        assert_int_equal(ctx_of(state)->n_parts, USERDATA_PARTS_MAX);
}

static void userdata_decode_parts_limit_spans_blobs(void **state) {
        _cleanup_free_ char *text = many_parts(USERDATA_PARTS_MAX);

        assert_int_equal(userdata_decode(ctx_of(state), "vendor-data", text, strlen(text)), 0);
        assert_int_equal(userdata_decode(ctx_of(state), "user-data", "#cloud-config\n", 14), -E2BIG);
}

static const char vendor_message[] =
        "Content-Type: multipart/mixed; boundary=v\n\n"
        "--v\nContent-Type: text/cloud-config\n\n#cloud-config\nhostname: vendor\n"
        "--v\nContent-Type: text/x-shellscript-per-boot\n\n#!/bin/sh\necho vendor\n"
        "--v\nContent-Type: text/cloud-boothook\n\n#!/bin/sh\necho vendor hook\n"
        "--v\nContent-Type: application/x-example\n\nfor another program\n"
        "--v--\n";

static void userdata_decode_vendor_mime_part_names(void **state) {
        assert_int_equal(userdata_decode(ctx_of(state), "vendor-data", vendor_message, strlen(vendor_message)), 0);
        assert_int_equal(ctx_of(state)->n_parts, 2);
        assert_string_equal(ctx_of(state)->parts[0].name, "vendor-part-001");
        assert_string_equal(ctx_of(state)->parts[1].name, "vendor-part-002");
}

static void userdata_decode_vendor_mime_parts_flagged(void **state) {
        assert_int_equal(userdata_decode(ctx_of(state), "vendor-data", vendor_message, strlen(vendor_message)), 0);
        assert_true(ctx_of(state)->parts[0].vendor);
        assert_true(ctx_of(state)->parts[1].vendor);
}

static void userdata_decode_vendor_executables_skipped(void **state) {
        assert_int_equal(userdata_decode(ctx_of(state), "vendor-data", vendor_message, strlen(vendor_message)), 0);
        assert_int_equal(json_array_size(ctx_of(state)->warnings), 2);
        assert_contains(message_of(ctx_of(state)->warnings, 0), "a script");
        assert_contains(message_of(ctx_of(state)->warnings, 1), "a boothook");
}

static void userdata_decode_user_part_not_vendor(void **state) {
        assert_int_equal(userdata_decode(ctx_of(state), "user-data", "#!/bin/sh\n", 10), 0);
        assert_false(ctx_of(state)->parts[0].vendor);
}

/* gzip of size zero bytes, base64-encoded on lines of 76 characters. Caller frees it. */
static char *gzip_zeros_base64(size_t size) {
        _cleanup_free_ char *zeros = calloc(1, size), *packed = NULL;
        unsigned long bound = compressBound((unsigned long) size) + 32;
        z_stream zs = {};
        size_t packed_size, lines;
        char *text, *out;

        assert_non_null(zeros);
        packed = malloc(bound);
        assert_non_null(packed);
        assert_int_equal(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
                         Z_OK);
        zs.next_in = (Bytef *) zeros;
        zs.avail_in = (uInt) size;
        zs.next_out = (Bytef *) packed;
        zs.avail_out = (uInt) bound;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        packed_size = zs.total_out;
        assert_int_equal(deflateEnd(&zs), Z_OK);

        lines = (packed_size + 56) / 57;
        text = malloc(lines * 78 + 1);
        assert_non_null(text);
        out = text;
        /* 57 bytes make one 76-character line of base64. */
        for (size_t i = 0; i < packed_size; i += 57) {
                out += EVP_EncodeBlock((unsigned char *) out, (const unsigned char *) packed + i,
                                       (int) MIN((size_t) 57, packed_size - i));
                *out++ = '\n';
        }
        *out = '\0';
        return text;
}

/* Parts that each inflate to under USERDATA_INFLATED_MAX, but together to more. */
static void userdata_decode_mime_gzip_parts_share_limit(void **state) {
        size_t part_size = USERDATA_INFLATED_MAX / 2 + 1024;
        _cleanup_free_ char *part = gzip_zeros_base64(part_size), *text = NULL;

        assert_true(asprintf(&text,
                             "Content-Type: multipart/mixed; boundary=g\n\n"
                             "--g\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n\n%s"
                             "--g\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n\n%s"
                             "--g--\n", part, part) > 0);
        assert_int_equal(userdata_decode(ctx_of(state), "user-data", text, strlen(text)), -EFBIG);
        assert_contains(message_of(ctx_of(state)->errors, 0), "part 2 (application/x-gzip)");
}

#define T(f) cmocka_unit_test(f)
#define TS(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(mime_is_message_content_type_first),
                T(mime_is_message_mime_version_first),
                T(mime_is_message_field_names_any_case),
                T(mime_is_message_other_fields_only),
                T(mime_is_message_cloud_config),
                T(mime_is_message_space_before_colon),
                T(mime_is_message_continuation_first),
                T(mime_is_message_empty),
                T(mime_parse_quoted_boundary),
                T(mime_parse_unquoted_boundary),
                T(mime_parse_boundary_in_folded_field),
                T(mime_parse_boundary_param_any_case),
                T(mime_parse_boundary_compared_exactly),
                T(mime_parse_boundary_line_trailing_blanks),
                T(mime_parse_crlf_line_break_belongs_to_boundary),
                T(mime_parse_preamble_ignored),
                T(mime_parse_nested_in_order),
                T(mime_parse_inner_unterminated_ends_at_outer),
                T(mime_parse_depth_at_limit),
                T(mime_parse_depth_over_limit),
                T(mime_parse_parts_over_max_dropped),
                T(mime_parse_unterminated_flagged),
                T(mime_parse_unterminated_keeps_last_part),
                T(mime_parse_no_boundary_problem),
                T(mime_parse_empty_boundary_problem),
                T(mime_parse_boundary_not_found_problem),
                T(mime_parse_part_without_headers),
                T(mime_parse_empty_part),
                T(mime_parse_type_lower_case),
                T(mime_parse_type_missing_is_text_plain),
                T(mime_parse_type_malformed_is_text_plain),
                T(mime_parse_first_field_wins),
                T(mime_parse_body_without_blank_line),
                T(mime_parse_filename_from_disposition),
                T(mime_parse_filename_from_name),
                T(mime_parse_filename_rfc2231),
                T(mime_parse_filename_rfc2231_continued),
                T(mime_parse_filename_absent),
                T(mime_parse_merge_type),
                T(mime_parse_x_merge_type),
                T(mime_parse_base64_body),
                T(mime_parse_base64_invalid_problem),
                T(mime_parse_quoted_printable_body),
                T(mime_parse_identity_encodings),
                T(mime_parse_unknown_encoding_problem),
                T(mime_parse_unknown_encoding_named),
                T(mime_qp_decode_hex_upper),
                T(mime_qp_decode_hex_lower),
                T(mime_qp_decode_soft_break_lf),
                T(mime_qp_decode_soft_break_crlf),
                T(mime_qp_decode_soft_break_blanks),
                T(mime_qp_decode_soft_break_at_end),
                T(mime_qp_decode_trailing_blanks_removed),
                T(mime_qp_decode_inner_blanks_kept),
                T(mime_qp_decode_invalid_escape_kept),
                T(mime_qp_decode_escaped_equals),
                T(mime_base64_decode_whitespace_anywhere),
                T(mime_base64_decode_padding_removed),
                T(mime_base64_decode_empty),
                T(mime_base64_decode_bad_length),
                T(mime_base64_decode_bad_character),
                TS(userdata_decode_mime_parts_at_limit),
                TS(userdata_decode_mime_parts_over_limit_error),
                TS(userdata_decode_mime_parts_over_limit_message),
                TS(userdata_decode_mime_parts_over_limit_keeps_first),
                TS(userdata_decode_parts_limit_spans_blobs),
                TS(userdata_decode_vendor_mime_part_names),
                TS(userdata_decode_vendor_mime_parts_flagged),
                TS(userdata_decode_vendor_executables_skipped),
                TS(userdata_decode_user_part_not_vendor),
                TS(userdata_decode_mime_gzip_parts_share_limit),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
