/* SPDX-License-Identifier: Apache-2.0 */
/* Construction and destruction of Instance values. */

#include <stdlib.h>

#include "context.h"

Instance *instance_new(void) {
        Instance *i = calloc(1, sizeof(Instance));

        if (!i)
                return NULL;
        i->metadata = json_object();
        i->raw = json_object();
        if (!i->metadata || !i->raw)
                return instance_free(i);
        return i;
}

Instance *instance_free(Instance *i) {
        if (!i)
                return NULL;
        free(i->datasource);
        free(i->instance_id);
        json_decref(i->metadata);
        json_decref(i->raw);
        free(i->user_data);
        free(i->vendor_data);
        free(i);
        return NULL;
}
