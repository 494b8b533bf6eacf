/* SPDX-License-Identifier: Apache-2.0 */
/* Part of the webserver module (being written). */

#include "module.h"
