/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl, loaded with dlopen() the first time kiln needs HTTP. kiln does not link libcurl, so a
 * run without HTTP (a NoCloud boot, kiln status, validate, query) does not load it and the
 * libraries that it depends on. Code that uses libcurl calls dlopen_curl() first and then calls
 * the sym_ pointers below in place of the functions of the same name. */
#pragma once

#include <curl/curl.h>

/* Each pointer has the type of the prototype in <curl/curl.h> and is NULL until dlopen_curl()
 * succeeds.
 * NOTE: calls through sym_curl_easy_setopt and sym_curl_easy_getinfo skip the argument type checks
 * that curl's typecheck-gcc.h adds to curl_easy_setopt() and curl_easy_getinfo(). Pass numbers as
 * long (1L) or curl_off_t, as the option's documentation specifies. */
#define CURL_DLSYM_DECLARE(name) extern typeof(name) *sym_##name

CURL_DLSYM_DECLARE(curl_easy_cleanup);
CURL_DLSYM_DECLARE(curl_easy_escape);
CURL_DLSYM_DECLARE(curl_easy_getinfo);
CURL_DLSYM_DECLARE(curl_easy_init);
CURL_DLSYM_DECLARE(curl_easy_perform);
CURL_DLSYM_DECLARE(curl_easy_reset);
CURL_DLSYM_DECLARE(curl_easy_setopt);
CURL_DLSYM_DECLARE(curl_easy_strerror);
CURL_DLSYM_DECLARE(curl_free);
CURL_DLSYM_DECLARE(curl_getdate);
CURL_DLSYM_DECLARE(curl_global_init);
CURL_DLSYM_DECLARE(curl_slist_append);
CURL_DLSYM_DECLARE(curl_slist_free_all);
CURL_DLSYM_DECLARE(curl_version_info);

/* Load libcurl.so.4 with dlopen(), resolve every sym_ pointer, check the library's version and run
 * curl_global_init(). After the first success the library stays loaded and further calls return 0
 * at once. A failure is logged at error level the first time only, and each later call tries again.
 * Not thread-safe: kiln loads libcurl from its main thread only.
 * Returns 0, or -EOPNOTSUPP when the library cannot be loaded or is older than kiln needs,
 * -ELIBBAD when it lacks a function, -EIO when curl_global_init() fails. */
int dlopen_curl(void);

/* The reason why the last call of dlopen_curl() failed, such as "cannot load libcurl
 * (libcurl.so.4): libcurl.so.4: cannot open shared object file: No such file or directory", for
 * the error that a caller records. Returns a borrowed string that the next call of dlopen_curl()
 * changes, or NULL when libcurl is loaded or no load failed yet. */
const char *dlopen_curl_error(void);
