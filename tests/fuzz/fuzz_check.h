// What the fuzz targets share: a property check that stops the run with the input saved.
// libFuzzer treats abort() as a crash and writes the input to crash-<sha1>.
#ifndef CERTBRIDGE_TESTS_FUZZ_FUZZ_CHECK_H_
#define CERTBRIDGE_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

#endif  // CERTBRIDGE_TESTS_FUZZ_FUZZ_CHECK_H_
