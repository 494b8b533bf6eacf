/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Preload library that records three figures of the one process it is loaded into, without the
 * commands that process runs: the peak resident set size (VmHWM), the private memory at exit
 * (RssAnon) and the CPU time. RssAnon is what the process allocated. It leaves out the pages of
 * the executable and the shared libraries, which the page cache shares with other processes. wait4() reports the peak of
 * the largest process of a tree and the CPU time of the whole tree, so the benchmark uses this
 * library to separate an agent's own cost (kiln, or cloud-init's Python process) from that of the
 * commands it runs (useradd, ssh-keygen, the user's scripts). Set KILN_BENCH_RSS_FILE to the file that gets
 * one line "VMHWM_KIB RSSANON_KIB USER_US SYSTEM_US\n" when the process exits through exit(). The
 * constructor removes LD_PRELOAD and KILN_BENCH_RSS_FILE from the environment, so commands that
 * the process starts never load it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
        struct rusage usage;
        FILE *status, *out;
        long peak = -1, anon = -1;

        /* A forked child that calls exit() before its exec must not report its own peak. */
        if (rss_file[0] == '\0' || getpid() != owner_pid)
                return;
        status = fopen("/proc/self/status", "re");
        if (!status)
                return;
        while (fgets(line, sizeof(line), status))
                if (strncmp(line, "VmHWM:", 6) == 0)
                        peak = strtol(line + 6, NULL, 10);
                else if (strncmp(line, "RssAnon:", 8) == 0)
                        anon = strtol(line + 8, NULL, 10);
        fclose(status);
        if (getrusage(RUSAGE_SELF, &usage) < 0)
                return;
        out = fopen(rss_file, "we");
        if (!out)
                return;
        fprintf(out, "%ld %ld %lld %lld\n", peak, anon,
                (long long) usage.ru_utime.tv_sec * 1000000 + usage.ru_utime.tv_usec,
                (long long) usage.ru_stime.tv_sec * 1000000 + usage.ru_stime.tv_usec);
        fclose(out);
}
