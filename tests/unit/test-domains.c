/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until the unit's tests are written. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test-helpers.h"

static void placeholder_builds(void **state) {
        (void) state;
        assert_true(1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(placeholder_builds),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
