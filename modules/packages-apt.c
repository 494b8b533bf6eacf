/* SPDX-License-Identifier: Apache-2.0 */
/* The apt backend of the packages module (being written). */

#include "packages.h"

const PackageBackend package_backend_apt = { .name = "apt" };
