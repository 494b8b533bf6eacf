/* SPDX-License-Identifier: Apache-2.0 */
/* The command line: kiln [--root DIR] [--config FILE] COMMAND [OPTIONS]. */
#pragma once

/* Parse argv and run the command. Returns the process exit code. */
int cli_main(int argc, char *argv[]);
