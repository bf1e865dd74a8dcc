/* SPDX-License-Identifier: Apache-2.0 */
/* Replay driver for the fuzz targets when they are not built with libFuzzer (gcc, the dev and asan
 * presets): runs LLVMFuzzerTestOneInput on every file of the corpus directories (and files) given,
 * then on deterministic variants of each seed (prefixes, single bit flips, a byte repeated), so CI
 * exercises every decoder on its corpus in every build. Exit 0 when every input returned; a bug
 * shows up as a sanitizer report or a crash. Usage: fuzz_X [-variants N] CORPUS_DIR_OR_FILE...
 * (libFuzzer-style options "-name=value" are accepted and ignored, except -variants=N). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

#define REPLAY_MAX_INPUT (4u * 1024u * 1024u)

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static unsigned long g_runs;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void run(const uint8_t *data, size_t len)
{
    /* A private copy of exactly len bytes, so ASan sees any read past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        fprintf(stderr, "replay: out of memory\n");
        exit(1);
    }
    if (len)
        memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    g_runs++;
}

/* Deterministic neighbours of a seed: what a fuzzer tries first. */
static void run_variants(const uint8_t *data, size_t len, unsigned n)
{
    if (!n || !len)
        return;
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        return;
    uint64_t x = 0x9e3779b97f4a7c15ull ^ len;
    for (unsigned i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t pos = (size_t)(x % len);
        memcpy(buf, data, len);
        switch (i % 4) {
        case 0: /* truncated */
            run(buf, pos);
            break;
        case 1: /* one bit flipped */
            buf[pos] ^= (uint8_t)(1u << ((x >> 32) % 8));
            run(buf, len);
            break;
        case 2: /* a byte set to an edge value */
            buf[pos] = (x >> 40) & 1 ? 0xff : 0x00;
            run(buf, len);
            break;
        default: /* one byte repeated at the end */
            buf[len] = data[pos];
            run(buf, len + 1);
            break;
        }
    }
    free(buf);
}

static int run_file(const char *path, unsigned variants)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    size_t len = buf ? fread(buf, 1, REPLAY_MAX_INPUT, f) : 0;
    fclose(f);
    if (!buf)
        return -1;
    run(buf, len);
    run_variants(buf, len, variants);
    free(buf);
    return 0;
}

static int run_dir(const char *dir, unsigned variants, unsigned long *files)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path, variants) != 0)
                rc = -1;
            (*files)++;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned variants = 64;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    unsigned long files = 0;
    int rc = 0;
    run((const uint8_t *)"", 0);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-variants=", 10) == 0) {
            variants = (unsigned)strtoul(argv[i] + 10, NULL, 10);
            continue;
        }
        if (argv[i][0] == '-')
            continue; /* a libFuzzer option */
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], variants, &files) != 0)
                rc = 1;
        } else {
            if (run_file(argv[i], variants) != 0)
                rc = 1;
            files++;
        }
    }
    if (files == 0) {
        fprintf(stderr, "replay: no corpus files given (usage: %s [-variants=N] DIR|FILE...)\n",
                argv[0]);
        return 1;
    }
    printf("replay: %lu inputs (%lu corpus files, %u variants each)\n", g_runs, files, variants);
    return rc;
}
