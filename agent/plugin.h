/* SPDX-License-Identifier: Apache-2.0 */
/* Exec plugins: modules that a site adds as executables in ROOT/usr/lib/kiln/modules.d (being
 * written). */
#pragma once
