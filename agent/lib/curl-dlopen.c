/* SPDX-License-Identifier: Apache-2.0 */
/* The one place that loads libcurl: dlopen(), symbol lookup, version check, curl_global_init(). */

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/curl-dlopen.h"
#include "lib/macro.h"
#include "log.h"

/* libcurl's soname. Its ABI version has been 4 since libcurl 7.16.0. */
#define CURL_LIBRARY_NAME "libcurl.so.4"

/* Test hook: KILN_TEST_LIBCURL=NAME makes dlopen_curl() load the library NAME in place of
 * libcurl.so.4, so that a test can check what kiln does when libcurl is missing (a name that no
 * library has) or lacks a function (another library, such as libz.so.1). Only a file name without
 * '/' is used, which the dynamic linker looks up on the library search path as it does
 * libcurl.so.4. */
#define CURL_LIBRARY_NAME_ENV "KILN_TEST_LIBCURL"

/* The oldest libcurl that kiln's calls work with. Built against libcurl 7.85.0 or later, kiln
 * restricts protocols with CURLOPT_PROTOCOLS_STR, which older versions reject. Built against older
 * headers, it uses CURLOPT_PROTOCOLS and CURLOPT_NOPROXY instead, which came with 7.19.4. */
#if LIBCURL_VERSION_NUM >= 0x075500
#define CURL_DLOPEN_VERSION_MIN 0x075500
#else
#define CURL_DLOPEN_VERSION_MIN 0x071304
#endif

#define CURL_DLSYM_DEFINE(name) typeof(name) *sym_##name = NULL

CURL_DLSYM_DEFINE(curl_easy_cleanup);
CURL_DLSYM_DEFINE(curl_easy_escape);
CURL_DLSYM_DEFINE(curl_easy_getinfo);
CURL_DLSYM_DEFINE(curl_easy_init);
CURL_DLSYM_DEFINE(curl_easy_perform);
CURL_DLSYM_DEFINE(curl_easy_reset);
CURL_DLSYM_DEFINE(curl_easy_setopt);
CURL_DLSYM_DEFINE(curl_easy_strerror);
CURL_DLSYM_DEFINE(curl_free);
CURL_DLSYM_DEFINE(curl_getdate);
CURL_DLSYM_DEFINE(curl_global_init);
CURL_DLSYM_DEFINE(curl_slist_append);
CURL_DLSYM_DEFINE(curl_slist_free_all);
CURL_DLSYM_DEFINE(curl_version_info);

/* A function to resolve: where to store its address, and its name in the library. */
typedef struct CurlSymbol {
        void (**function)(void);
        const char *name;
} CurlSymbol;

#define CURL_SYMBOL(name) { (void (**)(void)) &sym_##name, #name }

static const CurlSymbol curl_symbols[] = {
        CURL_SYMBOL(curl_easy_cleanup),
        CURL_SYMBOL(curl_easy_escape),
        CURL_SYMBOL(curl_easy_getinfo),
        CURL_SYMBOL(curl_easy_init),
        CURL_SYMBOL(curl_easy_perform),
        CURL_SYMBOL(curl_easy_reset),
        CURL_SYMBOL(curl_easy_setopt),
        CURL_SYMBOL(curl_easy_strerror),
        CURL_SYMBOL(curl_free),
        CURL_SYMBOL(curl_getdate),
        CURL_SYMBOL(curl_global_init),
        CURL_SYMBOL(curl_slist_append),
        CURL_SYMBOL(curl_slist_free_all),
        CURL_SYMBOL(curl_version_info),
};

/* The loaded library, never closed, as a linked library is never unloaded either. */
static void *curl_library = NULL;
static bool curl_failure_logged = false;

/* Maximum length of the message of the last load failure, dlerror()'s text included. */
#define CURL_FAILURE_MESSAGE_MAX 512U

/* The message of the last load failure, which dlopen_curl_error() returns. */
static char curl_failure_message[CURL_FAILURE_MESSAGE_MAX];

static void dlclosep(void **library) {
        if (*library)
                (void) dlclose(*library);
}

static void curl_symbols_reset(void) {
        for (size_t i = 0; i < ELEMENTSOF(curl_symbols); i++)
                *curl_symbols[i].function = NULL;
}

static const char *curl_library_name(void) {
        const char *name = secure_getenv(CURL_LIBRARY_NAME_ENV);

        if (!name || name[0] == '\0')
                return CURL_LIBRARY_NAME;
        if (strchr(name, '/')) {
                log_warning("%s='%s' is a path, not a library file name, ignoring.", CURL_LIBRARY_NAME_ENV,
                            name);
                return CURL_LIBRARY_NAME;
        }
        return name;
}

/* Helpers under agent/lib log at debug level only, but this one logs the first failure at error
 * level. Every HTTP caller reports the failure of its own item, but only the loader has the
 * dlerror() text, so a run without libcurl logs the cause once rather than once per item. */
static int curl_load_failed(const char *name, int error, const char *reason) {
        int level = curl_failure_logged ? LOG_DEBUG : LOG_ERR;

        curl_failure_logged = true;
        (void) snprintf(curl_failure_message, sizeof(curl_failure_message), "cannot load libcurl (%s): %s", name,
                        reason ?: "unknown error");
        return log_full_errno(level, error, "Failed to load %s, needed for HTTP: %s", name,
                              reason ?: "unknown error");
}

static int curl_symbols_resolve(void *library, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(curl_symbols); i++) {
                void (*function)(void) = (void (*)(void)) dlsym(library, curl_symbols[i].name);
                if (!function)
                        return curl_load_failed(name, -ELIBBAD, dlerror());
                *curl_symbols[i].function = function;
        }
        return 0;
}

static int curl_version_check(const curl_version_info_data *info, const char *name) {
        char reason[128];

        if (info->version_num >= CURL_DLOPEN_VERSION_MIN)
                return 0;
        (void) snprintf(reason, sizeof(reason), "libcurl %s is older than %d.%d.%d", info->version,
                        (CURL_DLOPEN_VERSION_MIN >> 16) & 0xff, (CURL_DLOPEN_VERSION_MIN >> 8) & 0xff,
                        CURL_DLOPEN_VERSION_MIN & 0xff);
        return curl_load_failed(name, -EOPNOTSUPP, reason);
}

/* Resolve the functions of a loaded library and start libcurl. On failure some of the sym_
 * pointers may be set. */
static int curl_library_setup(void *library, const char *name) {
        const curl_version_info_data *info;
        int r;

        r = curl_symbols_resolve(library, name);
        if (r < 0)
                return r;

        info = sym_curl_version_info(CURLVERSION_NOW);
        if (!info)
                return curl_load_failed(name, -EOPNOTSUPP, "curl_version_info() returned nothing");
        r = curl_version_check(info, name);
        if (r < 0)
                return r;

        /* curl_global_init() must run before the first easy handle exists. */
        if (sym_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return curl_load_failed(name, -EIO, "curl_global_init() failed");

        log_debug("Loaded %s, libcurl %s.", name, info->version);
        return 0;
}

int dlopen_curl(void) {
        _cleanup_(dlclosep) void *library = NULL;
        const char *name;
        int r;

        if (curl_library)
                return 0;

        name = curl_library_name();
        /* RTLD_NOW resolves every symbol that libcurl itself needs now, so a broken installation
         * fails here and not in the middle of a request. RTLD_NODELETE keeps the library mapped
         * when a failed check below closes the handle, so that no thread-local destructor that
         * libcurl or its dependencies registered is left pointing into unmapped code. */
        library = dlopen(name, RTLD_NOW | RTLD_NODELETE);
        if (!library)
                return curl_load_failed(name, -EOPNOTSUPP, dlerror());

        r = curl_library_setup(library, name);
        if (r < 0) {
                curl_symbols_reset();
                return r;
        }

        curl_library = TAKE_PTR(library);
        curl_failure_message[0] = '\0';
        return 0;
}

const char *dlopen_curl_error(void) {
        return curl_failure_message[0] != '\0' ? curl_failure_message : NULL;
}
