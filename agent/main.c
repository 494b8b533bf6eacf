/* SPDX-License-Identifier: Apache-2.0 */
/* kiln: a boot-time agent for cloud machine images. */

#include "cli.h"

int main(int argc, char *argv[]) {
        return cli_main(argc, argv);
}
