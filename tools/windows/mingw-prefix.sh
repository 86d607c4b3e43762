#!/usr/bin/env bash
# Makes the static mingw-w64 prefix (gRPC 1.51.1, protobuf 3.21.12, abseil 20220623,
# c-ares, re2, zlib, OpenSSL 3.0) that the Windows agent build links against.
#
#   tools/windows/mingw-prefix.sh PREFIX        e.g. build/windows/prefix
#
# 1. PREFIX already unpacked from the same tarball (stamp file): nothing to do.
# 2. The prebuilt tarball exists (CERTBRIDGE_MINGW_PREFIX_TARBALL, default
#    ../shared/windows/mingw-grpc-1.51.1-prefix.tar.xz next to the repository): unpack it
#    (a few seconds). It is the output of step 3, packed.
# 3. Otherwise build it from Debian 12's source packages with build-mingw-deps.sh
#    (about 26 minutes on two cores; sources go to CERTBRIDGE_MINGW_SRC, default
#    $(dirname PREFIX)/src; fetching them needs root and the Debian archive).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
prefix="${1:?usage: $0 PREFIX}"
tarball="${CERTBRIDGE_MINGW_PREFIX_TARBALL:-${root}/../shared/windows/mingw-grpc-1.51.1-prefix.tar.xz}"
stamp="${prefix}/.certbridge-prefix-stamp"

if [ -f "${tarball}" ]; then
  want="$(stat -c '%s %Y' "${tarball}") $(basename "${tarball}")"
  if [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${want}" ]; then
    exit 0
  fi
  echo "mingw-prefix: unpacking ${tarball}"
  rm -rf "${prefix}" "${prefix}.unpack"
  mkdir -p "${prefix}.unpack"
  # The tarball holds one folder, prefix/.
  tar -C "${prefix}.unpack" -xJf "${tarball}"
  mv "${prefix}.unpack/prefix" "${prefix}"
  rmdir "${prefix}.unpack"
  echo "${want}" > "${stamp}"
  exit 0
fi

if [ -f "${prefix}/share/mingw-deps/BUILDINFO" ]; then
  exit 0  # built by step 3 earlier
fi
echo "mingw-prefix: no ${tarball}; building the prefix from source (about 26 minutes)"
src="${CERTBRIDGE_MINGW_SRC:-$(dirname "${prefix}")/src}"
"${root}/tools/windows/build-mingw-deps.sh" "${src}" "${prefix}"
