// Loaded with LD_PRELOAD by Benchmarks/linkorder.py: records which 4 KiB pages of the
// executable's code a run touches. The code mapping is made inaccessible before
// main; each first touch of a page faults, the page is made executable again and
// its offset in the mapping is appended to RECORDER_OUT. Page by page, because the
// kernel's fault-around would otherwise map (and count) 64 KiB at a time.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static unsigned long code_start, code_end;
static int out_fd = -1;

static void on_fault(int sig, siginfo_t *info, void *context) {
    (void)context;
    unsigned long address = (unsigned long)info->si_addr;
    if (address >= code_start && address < code_end) {
        unsigned long page = address & ~4095UL;
        mprotect((void *)page, 4096, PROT_READ | PROT_EXEC);
        unsigned long offset = page - code_start;
        if (write(out_fd, &offset, sizeof offset) != sizeof offset) _exit(70);
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

__attribute__((constructor)) static void start_recording(void) {
    const char *binary = getenv("RECORDER_BINARY"), *out = getenv("RECORDER_OUT");
    if (binary == NULL || out == NULL) return;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) return;
    char line[4096];
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char perms[5], path[4000] = "";
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %3999s", &start, &end, perms, path) >= 3
            && perms[2] == 'x' && strcmp(path, binary) == 0) {
            code_start = start;
            code_end = end;
        }
    }
    fclose(maps);
    if (code_start == 0) return;
    out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) return;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &action, NULL);
    mprotect((void *)code_start, code_end - code_start, PROT_NONE);
}
