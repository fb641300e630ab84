/*
 * fuzz.h: what the libFuzzer targets in tests/fuzz/ share (fuzz_common.c):
 * the definitions src/sippushd.c would give (it holds main), and a quiet
 * logger. Built by scripts/fuzz.sh, outside the autotools build.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "sippushd.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Log errors only (set SIPPUSH_FUZZ_LOG=debug to see everything). */
void	fuzz_log_init(void);

/* A folder of our own for files, removed at exit (not after a crash):
 * under $SIPPUSH_FUZZ_TMP, else /dev/shm or /tmp. */
const char *fuzz_tmpdir(void);

#endif /* FUZZ_H */
