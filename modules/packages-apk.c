/* SPDX-License-Identifier: Apache-2.0 */
/* The apk backend of the packages module (being written). */

#include "packages.h"

const PackageBackend package_backend_apk = { .name = "apk" };
