/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Preload library that records the peak resident set size (VmHWM) of the one process it is loaded
 * into. /usr/bin/time reports the peak of the largest process of a tree, so this is how the
 * benchmark tells kiln's own peak from that of the commands kiln runs. Set KILN_BENCH_RSS_FILE to the file that gets one line
 * "VmHWM_KIB\n" when the process exits through exit(). The constructor removes LD_PRELOAD and
 * KILN_BENCH_RSS_FILE from the environment, so commands that the process starts never load it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RSS_FILE_PATH_MAX 4096

static char rss_file[RSS_FILE_PATH_MAX];
static pid_t owner_pid;

__attribute__((constructor)) static void peak_rss_init(void) {
        const char *path = getenv("KILN_BENCH_RSS_FILE");

        if (!path || strlen(path) >= sizeof(rss_file))
                return;
        memcpy(rss_file, path, strlen(path) + 1);
        owner_pid = getpid();
        (void) unsetenv("KILN_BENCH_RSS_FILE");
        (void) unsetenv("LD_PRELOAD");
}

__attribute__((destructor)) static void peak_rss_write(void) {
        char line[256];
        FILE *status, *out;

        /* A forked child that calls exit() before its exec must not report its own peak. */
        if (rss_file[0] == '\0' || getpid() != owner_pid)
                return;
        status = fopen("/proc/self/status", "re");
        if (!status)
                return;
        out = fopen(rss_file, "we");
        while (out && fgets(line, sizeof(line), status))
                if (strncmp(line, "VmHWM:", 6) == 0)
                        fprintf(out, "%ld\n", strtol(line + 6, NULL, 10));
        if (out)
                fclose(out);
        fclose(status);
}
