/* SPDX-License-Identifier: Apache-2.0 */
/* The dnf, yum and zypper backends of the packages module (being written). */

#include "packages.h"

const PackageBackend package_backend_dnf = { .name = "dnf" };
const PackageBackend package_backend_yum = { .name = "yum" };
const PackageBackend package_backend_zypper = { .name = "zypper" };
