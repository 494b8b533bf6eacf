/* SPDX-License-Identifier: Apache-2.0 */
/* The parts of the phone_home module that unit tests call: the URL and the form body it posts. */
#pragma once

#include <jansson.h>

/* Replace $INSTANCE_ID and ${INSTANCE_ID} in url with instance_id, URL-escaped. Any other $NAME is
 * an error, as in cloud-init, where only INSTANCE_ID is defined. Returns 0 with *ret (caller owns
 * it), -EINVAL with the unknown name in *reterr_name (caller owns it), -ENOMEM, or the error of
 * dlopen_curl() when libcurl, which escapes the id, cannot be loaded. */
int phone_home_url_render(const char *url, const char *instance_id, char **ret, char **reterr_name);

/* Encode fields (an object of strings, in its order) as application/x-www-form-urlencoded.
 * Returns 0 with *ret (caller owns it), -ENOMEM, or the error of dlopen_curl() when libcurl, which
 * escapes the names and values, cannot be loaded. */
int phone_home_form_encode(const json_t *fields, char **ret);

/* A copy of url for messages, without user information and query, which may hold secrets.
 * Returns NULL on allocation failure. */
char *phone_home_url_for_message(const char *url);
