# Copied from ../shared/windows/mingw-toolchain.cmake (the toolchain the gRPC prefix was built
# with); used by tools/windows/build-agent.sh.
# CMake toolchain file: cross-compile for Windows x64 with Debian's MinGW-w64
# (packages g++-mingw-w64-x86-64-posix, binutils-mingw-w64-x86-64).
#
# The POSIX-threads variant of the compiler is named explicitly: the win32
# variant has no std::thread/std::mutex, which gRPC, abseil and protobuf need.
#
# Usage (building the dependency prefix, or a consumer of it):
#   cmake -G Ninja -DCMAKE_TOOLCHAIN_FILE=/path/mingw-toolchain.cmake \
#         -DCMAKE_PREFIX_PATH=/path/to/prefix ...
# The prefix is taken from MINGW_DEPS_PREFIX (cache variable or environment)
# or from CMAKE_PREFIX_PATH, and added to CMAKE_FIND_ROOT_PATH so that only
# it and the MinGW sysroot are searched for libraries, headers and CMake
# packages (never the host's /usr/lib, which holds Linux abseil/protobuf).

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(MINGW_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER   ${MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER  ${MINGW_TRIPLE}-windres)
# CMake cannot derive the binutils prefix from a "-posix" compiler name.
set(CMAKE_AR     ${MINGW_TRIPLE}-ar     CACHE FILEPATH "MinGW ar")
set(CMAKE_RANLIB ${MINGW_TRIPLE}-ranlib CACHE FILEPATH "MinGW ranlib")
set(CMAKE_STRIP  ${MINGW_TRIPLE}-strip  CACHE FILEPATH "MinGW strip")

if(NOT MINGW_DEPS_PREFIX AND DEFINED ENV{MINGW_DEPS_PREFIX})
  set(MINGW_DEPS_PREFIX "$ENV{MINGW_DEPS_PREFIX}")
endif()
set(CMAKE_FIND_ROOT_PATH /usr/${MINGW_TRIPLE} ${MINGW_DEPS_PREFIX} ${CMAKE_PREFIX_PATH})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)   # protoc, grpc_cpp_plugin run on the host
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

