/* tests/fuzz/fuzz.h - the entry points every fuzz target defines (libFuzzer's
 * names, so one harness builds three ways): linked with AFL++'s driver
 * (afl-clang-fast -fsanitize=fuzzer, scripts/fuzz.sh), with clang's libFuzzer,
 * or with fuzz_replay.c, the plain main that ctest runs over the target's
 * corpus/ and crashes/ directories. */
#ifndef TTML_FUZZ_H
#define TTML_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* One-time setup (may be a no-op); returns 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
/* Run one input; returns 0. Bugs show up as sanitizer reports or aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
