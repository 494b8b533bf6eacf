/* SPDX-License-Identifier: Apache-2.0 */
/* Robustness of the user-data decoder and the YAML parser against truncated and corrupted input.
 *
 * Every file in $KILN_TEST_DATA/robustness/ is a valid user-data document. Each of its prefixes
 * (lengths 0 to n) and each single-byte corruption (every offset, replaced by each byte of
 * substitute_bytes) goes through userdata_decode() and userdata_merge() on a fresh Context, and
 * through yaml_parse_json() directly. A run must not crash or trip a sanitizer. The decoder must
 * succeed or record at least one error or warning, and every recorded message must be non-empty.
 * The YAML parser must succeed or fail with -EINVAL or -E2BIG, a non-empty message and a line
 * inside the input.
 *
 * A document longer than OFFSETS_MAX bytes is tested at OFFSETS_MAX evenly spaced prefix lengths
 * and offsets (a fixed stride, so a failure reproduces) to keep this test under about 30 s in the
 * normal build and 90 s under AddressSanitizer. Adding a file to the directory adds four tests and
 * needs no C code. Documents must not name a URL: an #include that a corruption produces would
 * otherwise reach for the network, and unit tests run outside a test namespace.
 *
 * A failure names the document and the input. A sanitizer report ends the process first, so to
 * find the input behind one, run the test with KILN_ROBUSTNESS_TRACE=1, which prints each input
 * before testing it. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/fileio.h"
#include "lib/macro.h"
#include "lib/yaml-util.h"
#include "log.h"
#include "test-helpers.h"
#include "userdata/userdata.h"

#define DOCUMENT_SIZE_MAX (64U * 1024U)
#define DOCUMENTS_MAX 64
/* Prefix lengths and corruption offsets tested per document. Longer documents are sampled. */
#define OFFSETS_MAX 1200U

/* Bytes that break encodings and syntax: NUL, a byte never valid in UTF-8, and characters that
 * YAML, JSON, MIME and Jinja give a meaning. */
static const unsigned char substitute_bytes[] = { 0x00, 0xff, '\n', ':', '{', '"', '\t', '#' };

typedef enum InputKind {
        INPUT_PREFIX,
        INPUT_CORRUPTION,
} InputKind;

/* The input under test, kept so that a crash or failure can name it. */
typedef struct Input {
        const char *document;
        InputKind kind;
        size_t offset;           /* the prefix length, or the offset of the replaced byte */
        unsigned char byte;      /* the substitute byte of a corruption */
} Input;

typedef struct Document {
        char name[NAME_MAX + 1];
        char *data;
        size_t size;
} Document;

/* The state of one test: its document, a scratch root, the instance that Jinja templates read. */
typedef struct Fixture {
        const Document *document;
        TestRoot *root;
        Instance *instance;
        Input input;
        bool finished;
} Fixture;

/* kiln logs to stderr, which points to null_stream while kiln runs. */
static FILE *real_stderr = NULL;
static FILE *null_stream = NULL;
/* Whether to print each input before testing it, set by KILN_ROBUSTNESS_TRACE. */
static bool trace = false;

static void describe_input(const Input *in, char *buf, size_t size) {
        if (in->kind == INPUT_PREFIX)
                (void) snprintf(buf, size, "document '%s', prefix of %zu bytes", in->document, in->offset);
        else
                (void) snprintf(buf, size, "document '%s', byte at offset %zu replaced by 0x%02x",
                                in->document, in->offset, in->byte);
}

static void begin_input(Fixture *f, Input in) {
        char description[NAME_MAX + 128];

        f->input = in;
        if (!trace)
                return;
        describe_input(&in, description, sizeof(description));
        (void) fprintf(real_stderr, "Testing %s.\n", description);
}

/* kiln logs each diagnostic, and across tens of thousands of inputs that would flood the test log.
 * The log level stays at debug, so every log call still formats its arguments. glibc lets a
 * program assign stderr, and descriptor 2 stays open, so sanitizer reports still reach it. */
static void silence_log(void) {
        stderr = null_stream;
}

static void restore_log(void) {
        stderr = real_stderr;
}

static void fail_input(const Input *in, const char *problem) {
        char where[NAME_MAX + 128];

        describe_input(in, where, sizeof(where));
        fail_msg("%s: %s", where, problem);
}

/* ---- Decoder and merge ---- */

static void context_init(Context *ctx, const Fixture *f) {
        *ctx = (Context) {
                .root = f->root->path,
                .root_fd = f->root->ctx.root_fd,
                .system_config = json_object(),
                .config = json_object(),
                .errors = json_array(),
                .warnings = json_array(),
                .current = "userdata",
                .instance = f->instance,
        };
        assert_non_null(ctx->system_config);
        assert_non_null(ctx->config);
        assert_non_null(ctx->errors);
        assert_non_null(ctx->warnings);
}

static void context_done(Context *ctx) {
        parts_free(ctx->parts, ctx->n_parts);
        json_decref(ctx->system_config);
        json_decref(ctx->config);
        json_decref(ctx->config_positions);
        json_decref(ctx->errors);
        json_decref(ctx->warnings);
        *ctx = (Context) {};
}

/* Each recorded diagnostic must carry a message that a reader can act on. jansson has already
 * rejected any message that is not valid UTF-8, so a non-empty string is what remains to check. */
static void check_diagnostics(const Input *in, const json_t *list, const char *kind) {
        const json_t *entry;
        size_t i;

        json_array_foreach(list, i, entry) {
                const json_t *message = json_object_get(entry, "message");
                char problem[128];

                if (!json_is_string(message)) {
                        (void) snprintf(problem, sizeof(problem), "%s entry %zu has no message string",
                                        kind, i);
                        fail_input(in, problem);
                }
                if (json_string_length(message) == 0) {
                        (void) snprintf(problem, sizeof(problem), "%s entry %zu has an empty message",
                                        kind, i);
                        fail_input(in, problem);
                }
        }
}

/* Parts must keep the promises of Part in context.h whatever the input was. */
static void check_parts(const Input *in, const Context *ctx) {
        for (size_t i = 0; i < ctx->n_parts; i++) {
                const Part *p = &ctx->parts[i];

                if (!part_type_to_string(p->type))
                        fail_input(in, "a part has an invalid type");
                if (!p->name || !p->content_type)
                        fail_input(in, "a part has no name or content type");
                if (!p->data)
                        fail_input(in, "a part has no data");
                if (p->data[p->size] != '\0')
                        fail_input(in, "the data of a part is not NUL-terminated");
        }
}

static void check_decode(Fixture *f, const char *data, size_t size) {
        Context ctx;
        int decoded, merged;
        size_t diagnostics;
        char problem[160];

        context_init(&ctx, f);
        silence_log();
        decoded = userdata_decode(&ctx, "user-data", data, size);
        merged = userdata_merge(&ctx);
        restore_log();

        diagnostics = json_array_size(ctx.errors) + json_array_size(ctx.warnings);
        if (decoded < 0 && diagnostics == 0) {
                (void) snprintf(problem, sizeof(problem),
                                "userdata_decode() returned %d (%s) and recorded no diagnostic",
                                decoded, strerror(-decoded));
                fail_input(&f->input, problem);
        }
        if (merged < 0 && diagnostics == 0) {
                (void) snprintf(problem, sizeof(problem),
                                "userdata_merge() returned %d (%s) and recorded no diagnostic",
                                merged, strerror(-merged));
                fail_input(&f->input, problem);
        }
        if (!json_is_object(ctx.config))
                fail_input(&f->input, "the merged config is not an object");
        check_diagnostics(&f->input, ctx.errors, "error");
        check_diagnostics(&f->input, ctx.warnings, "warning");
        check_parts(&f->input, &ctx);
        context_done(&ctx);
}

/* ---- YAML parser ---- */

/* Length of the line break at data[i], 0 if none. YAML 1.1 breaks lines at CR LF, CR, LF, and the
 * UTF-8 forms of NEL, LS and PS, and PyYAML and libyaml count lines that way. */
static size_t line_break_length(const char *data, size_t size, size_t i) {
        const unsigned char *p = (const unsigned char *) data + i;
        size_t left = size - i;

        if (left >= 2 && p[0] == '\r' && p[1] == '\n')
                return 2;
        if (p[0] == '\r' || p[0] == '\n')
                return 1;
        if (left >= 2 && p[0] == 0xc2 && p[1] == 0x85)
                return 2;
        if (left >= 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
                return 3;
        return 0;
}

/* The last line a YAML error may name: the line after the last line break, where the end of the
 * input is. */
static size_t last_error_line(const char *data, size_t size) {
        size_t lines = 1;
        bool ends_with_break = false;

        for (size_t i = 0; i < size;) {
                size_t n = line_break_length(data, size, i);

                ends_with_break = n > 0;
                lines += n > 0;
                i += MAX(n, (size_t) 1);
        }
        /* NOTE: at the end of an input without a final line break, libyaml adds a line break of its
         * own, so kiln names the line after the last one where PyYAML names the last line. */
        return ends_with_break ? lines : lines + 1;
}

static bool is_utf8(const char *s) {
        json_t *j = json_string(s);
        bool ok = j != NULL;

        json_decref(j);
        return ok;
}

static void check_yaml_warnings(const Input *in, const json_t *warnings) {
        const json_t *w;
        size_t i;

        json_array_foreach(warnings, i, w) {
                const char *message = json_string_value(json_object_get(w, "message"));

                if (!json_is_integer(json_object_get(w, "line")))
                        fail_input(in, "a YAML warning has no line");
                if (!message || message[0] == '\0')
                        fail_input(in, "a YAML warning has no message");
        }
}

static void check_yaml_error(const Input *in, int r, const YamlError *err, const char *data, size_t size) {
        size_t length = strnlen(err->message, sizeof(err->message));
        char problem[400];

        if (r != -EINVAL && r != -E2BIG) {
                (void) snprintf(problem, sizeof(problem),
                                "yaml_parse_json() returned %d (%s), expected -EINVAL or -E2BIG",
                                r, strerror(-r));
                fail_input(in, problem);
        }
        if (length == 0)
                fail_input(in, "yaml_parse_json() failed with an empty message");
        if (length == sizeof(err->message))
                fail_input(in, "yaml_parse_json() failed with a message that is not NUL-terminated");
        if (!is_utf8(err->message))
                fail_input(in, "yaml_parse_json() failed with a message that is not valid UTF-8");
        if (size > 0 && err->line == 0) {
                (void) snprintf(problem, sizeof(problem), "yaml_parse_json() failed without a line: '%s'",
                                err->message);
                fail_input(in, problem);
        }
        if (err->line > last_error_line(data, size)) {
                (void) snprintf(problem, sizeof(problem),
                                "yaml_parse_json() reported line %u, past the end of the input at line %zu: "
                                "'%s'",
                                err->line, last_error_line(data, size), err->message);
                fail_input(in, problem);
        }
}

static void check_yaml(Fixture *f, const char *data, size_t size) {
        json_t *doc = NULL, *warnings = NULL, *positions = NULL;
        YamlError err = {};
        int r;

        silence_log();
        r = yaml_parse_json(data, size, &doc, &warnings, &positions, &err);
        restore_log();

        if (r < 0)
                check_yaml_error(&f->input, r, &err, data, size);
        else if (!doc)
                fail_input(&f->input, "yaml_parse_json() succeeded without a value");
        check_yaml_warnings(&f->input, warnings);
        json_decref(doc);
        json_decref(warnings);
        json_decref(positions);
}

/* ---- Inputs ---- */

typedef void (*CheckFn)(Fixture *f, const char *data, size_t size);

static size_t stride_of(size_t n) {
        return n <= OFFSETS_MAX ? 1 : (n + OFFSETS_MAX - 1) / OFFSETS_MAX;
}

/* Each prefix goes to the check as a copy of exactly its length, so AddressSanitizer catches a
 * read past its end. */
static void run_prefixes(Fixture *f, CheckFn check) {
        const Document *d = f->document;
        size_t stride = stride_of(d->size + 1);

        /* The whole document is always among the prefixes, whatever the stride. */
        for (size_t n = 0;; n = MIN(n + stride, d->size)) {
                _cleanup_free_ char *copy = malloc(MAX(n, (size_t) 1));

                assert_non_null(copy);
                memcpy(copy, d->data, n);
                begin_input(f, (Input) { .document = d->name, .kind = INPUT_PREFIX, .offset = n });
                check(f, copy, n);
                if (n == d->size)
                        break;
        }
}

static void run_corruptions(Fixture *f, CheckFn check) {
        const Document *d = f->document;
        _cleanup_free_ char *copy = malloc(MAX(d->size, (size_t) 1));
        size_t stride = stride_of(d->size);

        assert_non_null(copy);
        memcpy(copy, d->data, d->size);
        for (size_t offset = 0; offset < d->size; offset += stride) {
                for (size_t i = 0; i < ELEMENTSOF(substitute_bytes); i++) {
                        if ((unsigned char) d->data[offset] == substitute_bytes[i])
                                continue;
                        copy[offset] = (char) substitute_bytes[i];
                        begin_input(f, (Input) {
                                .document = d->name,
                                .kind = INPUT_CORRUPTION,
                                .offset = offset,
                                .byte = substitute_bytes[i],
                        });
                        check(f, copy, d->size);
                }
                copy[offset] = d->data[offset];
        }
}

static void userdata_decode_prefixes(void **state) {
        run_prefixes(*state, check_decode);
        ((Fixture *) *state)->finished = true;
}

static void userdata_decode_corruptions(void **state) {
        run_corruptions(*state, check_decode);
        ((Fixture *) *state)->finished = true;
}

static void yaml_parse_json_prefixes(void **state) {
        run_prefixes(*state, check_yaml);
        ((Fixture *) *state)->finished = true;
}

static void yaml_parse_json_corruptions(void **state) {
        run_corruptions(*state, check_yaml);
        ((Fixture *) *state)->finished = true;
}

/* ---- Fixture ---- */

/* The EC2 instance that the Jinja document's variables refer to. */
static Instance *make_instance(void) {
        Instance *i = instance_new();

        assert_non_null(i);
        i->datasource = strdup("ec2");
        i->instance_id = strdup("i-0123456789abcdef0");
        assert_non_null(i->datasource);
        assert_non_null(i->instance_id);
        json_decref(i->metadata);
        i->metadata = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s, s]}",
                                "instance_id", "i-0123456789abcdef0",
                                "local_hostname", "Robust-Host",
                                "region", "eu-west-1",
                                "availability_zone", "eu-west-1a",
                                "cloud_name", "aws",
                                "platform", "ec2",
                                "public_ssh_keys", "ssh-ed25519 AAAA one", "ssh-rsa BBBB two");
        json_decref(i->raw);
        i->raw = json_pack("{s:{s:s, s:s, s:s}}",
                           "meta-data",
                           "instance-id", "i-0123456789abcdef0",
                           "instance-type", "t3.small",
                           "local-hostname", "robust-host.internal");
        assert_non_null(i->metadata);
        assert_non_null(i->raw);
        return i;
}

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        f->document = *state;
        f->root = test_root_new();
        f->instance = make_instance();
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;
        char description[NAME_MAX + 128];

        restore_log();
        if (!f->finished) {
                describe_input(&f->input, description, sizeof(description));
                print_message("The test ended early while testing %s.\n", description);
        }
        instance_free(f->instance);
        test_root_free(f->root);
        free(f);
        return 0;
}

/* ---- Documents ---- */

static int compare_documents(const void *a, const void *b) {
        return strcmp(((const Document *) a)->name, ((const Document *) b)->name);
}

static void documents_free(Document *documents, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(documents[i].data);
        free(documents);
}

static int load_document(int dir_fd, const char *name, Document *ret) {
        int r;

        if (snprintf(ret->name, sizeof(ret->name), "%s", name) >= (int) sizeof(ret->name))
                return -ENAMETOOLONG;
        r = read_file_at(dir_fd, name, DOCUMENT_SIZE_MAX, &ret->data, &ret->size);
        if (r < 0)
                return r;
        /* A URL could become an #include that a corruption makes the decoder fetch. */
        if (memmem(ret->data, ret->size, "://", 3)) {
                fprintf(stderr, "Document '%s' contains a URL, which a corruption could turn into an "
                        "#include that reaches the network. Remove the URL.\n", name);
                free(ret->data);
                ret->data = NULL;
                return -EINVAL;
        }
        return 0;
}

/* Load every file of data_dir/robustness, sorted by name. Returns the count, or -errno. */
static int load_documents(const char *data_dir, Document **ret) {
        Document *documents = calloc(DOCUMENTS_MAX, sizeof(Document));
        char path[PATH_MAX];
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        if (!documents)
                return -ENOMEM;
        if (snprintf(path, sizeof(path), "%s/robustness", data_dir) >= (int) sizeof(path)) {
                free(documents);
                return -ENAMETOOLONG;
        }
        d = opendir(path);
        if (!d) {
                free(documents);
                return negative_errno();
        }
        while ((de = readdir(d))) {
                struct stat st;
                int r;

                if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                r = n == DOCUMENTS_MAX ? -E2BIG : load_document(dirfd(d), de->d_name, &documents[n]);
                if (r < 0) {
                        (void) closedir(d);
                        documents_free(documents, n);
                        return r;
                }
                n++;
        }
        (void) closedir(d);
        qsort(documents, n, sizeof(Document), compare_documents);
        *ret = documents;
        return (int) n;
}

static const struct {
        const char *prefix;
        CMUnitTestFunction func;
} test_kinds[] = {
        { "userdata_decode_prefixes", userdata_decode_prefixes },
        { "userdata_decode_corruptions", userdata_decode_corruptions },
        { "yaml_parse_json_prefixes", yaml_parse_json_prefixes },
        { "yaml_parse_json_corruptions", yaml_parse_json_corruptions },
};

static int run_document_tests(Document *documents, size_t n) {
        size_t n_tests = n * ELEMENTSOF(test_kinds);
        _cleanup_free_ struct CMUnitTest *tests = calloc(n_tests, sizeof(struct CMUnitTest));
        int failed;

        if (!tests)
                return 1;
        for (size_t k = 0; k < ELEMENTSOF(test_kinds); k++)
                for (size_t i = 0; i < n; i++) {
                        char *name;

                        if (asprintf(&name, "%s_%s", test_kinds[k].prefix, documents[i].name) < 0)
                                return 1;
                        for (char *p = name; *p; p++)
                                if (*p == '-' || *p == '.')
                                        *p = '_';
                        tests[k * n + i] = (struct CMUnitTest) {
                                .name = name,
                                .test_func = test_kinds[k].func,
                                .setup_func = fixture_setup,
                                .teardown_func = fixture_teardown,
                                .initial_state = &documents[i],
                        };
                }
        failed = _cmocka_run_group_tests("robustness", tests, n_tests, NULL, NULL);
        for (size_t i = 0; i < n_tests; i++)
                free((char *) tests[i].name);
        return failed;
}

int main(void) {
        const char *data_dir = getenv("KILN_TEST_DATA");
        Document *documents = NULL;
        int n, failed;

        if (!data_dir) {
                fprintf(stderr, "KILN_TEST_DATA is not set. Run this test with 'meson test', "
                        "or set it to tests/data.\n");
                return 1;
        }
        n = load_documents(data_dir, &documents);
        if (n <= 0) {
                fprintf(stderr, "Failed to load documents from '%s/robustness': %s\n", data_dir,
                        n < 0 ? strerror(-n) : "no documents");
                return 1;
        }

        real_stderr = stderr;
        null_stream = fopen("/dev/null", "we");
        if (!null_stream) {
                fprintf(stderr, "Failed to open '/dev/null': %m\n");
                documents_free(documents, (size_t) n);
                return 1;
        }
        trace = getenv("KILN_ROBUSTNESS_TRACE");
        log_set_max_level(LOG_DEBUG);

        failed = run_document_tests(documents, (size_t) n);
        documents_free(documents, (size_t) n);
        (void) fclose(null_stream);
        return failed > 0;
}
