/*
 * replay_main.c - a main() for the harnesses without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file of the directories (or files)
 * given, so that the inputs that once crashed kiln (fuzz/corpus/HARNESS)
 * are regression tests of the ordinary suite, under any compiler
 * (tests/fuzz_replay.cmake). Each input must finish within
 * KN_REPLAY_SECONDS (SIGALRM otherwise: a hang is a finding too); a crash,
 * sanitizer report or abort fails the test, named by the file printed
 * before it runs.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"

#define KN_REPLAY_SECONDS 60

#pragma weak LLVMFuzzerInitialize

static const char *kn_replay_current = "";

static void kn_replay_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "replay: input ran longer than the limit: ";
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, kn_replay_current, strlen(kn_replay_current));
    w = write(2, "\n", 1);
    (void)w;
    _exit(1);
}

/* Run the harness on one file. */
static int kn_replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    unsigned char *data = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            unsigned char *p = realloc(data, cap);
            if (!p) {
                fclose(f);
                free(data);
                return 1;
            }
            data = p;
        }
        n = fread(data + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    printf("replay: %s (%zu bytes)\n", path, len);
    fflush(stdout);
    kn_replay_current = path;
    alarm(KN_REPLAY_SECONDS);
    LLVMFuzzerTestOneInput(data, len);
    alarm(0);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGALRM, kn_replay_alarm);
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int failed = 0, count = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            fprintf(stderr, "replay: no such file or directory: %s\n", argv[a]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= kn_replay_file(argv[a]);
            count++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[a], &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            if (names[i]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[a], names[i]->d_name);
                failed |= kn_replay_file(path);
                count++;
            }
            free(names[i]);
        }
        free(names);
    }
    printf("replay: %d inputs, no crash\n", count);
    return failed;
}
