/* SPDX-License-Identifier: Apache-2.0 */
/* Exec plugins (being written). */

#include "plugin.h"
