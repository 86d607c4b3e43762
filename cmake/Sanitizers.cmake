# CERTBRIDGE_SANITIZE: a comma-separated -fsanitize= list applied to every target of the
# build (ours and the generated protobuf code), e.g. "address,undefined" or "thread".
# Empty (the default) builds without sanitizers. tools/sanitize.sh and tools/fuzz.sh use it
# in build directories of their own; the main build never sets it.
#
# CERTBRIDGE_FUZZ (default OFF): also instrument for libFuzzer (clang only) and build the
# targets in tests/fuzz. Only tools/fuzz.sh turns it on.
set(CERTBRIDGE_SANITIZE "" CACHE STRING "-fsanitize= list for every target (empty: none)")
option(CERTBRIDGE_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only)" OFF)

if(CERTBRIDGE_SANITIZE)
  add_compile_options(-fsanitize=${CERTBRIDGE_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${CERTBRIDGE_SANITIZE})
  if(CERTBRIDGE_SANITIZE MATCHES "undefined")
    # A UBSan finding fails the test instead of printing a line and carrying on.
    add_compile_options(-fno-sanitize-recover=undefined)
    add_link_options(-fno-sanitize-recover=undefined)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # gcc 12's middle-end warnings (-Wmaybe-uninitialized, -Wstringop-overflow, ...) misfire on
    # sanitizer-instrumented code; -Werror stays on for every other warning.
    add_compile_options(-Wno-error=maybe-uninitialized -Wno-error=stringop-overflow
                        -Wno-error=array-bounds -Wno-error=null-dereference)
  endif()
endif()

if(CERTBRIDGE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CERTBRIDGE_FUZZ needs clang++ (libFuzzer); see tools/fuzz.sh")
  endif()
  # Every library is compiled with coverage feedback; only the fuzz targets link libFuzzer's
  # main (tests/fuzz/CMakeLists.txt adds -fsanitize=fuzzer to them).
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
