#!/usr/bin/env bash
# Copied from ../shared/windows/build-mingw-deps.sh (the script that built the shared
# mingw-grpc-1.51.1-prefix.tar.xz); tools/windows/mingw-prefix.sh runs it when that tarball
# is missing. Only change: the toolchain file is cmake/mingw-toolchain.cmake.
# build-mingw-deps.sh: cross-compile gRPC 1.51.1 and everything it needs as
# static libraries for Windows x64 (x86_64-w64-mingw32), into one prefix that
# a CMake project consumes with find_package(gRPC CONFIG REQUIRED).
#
# Usage:  build-mingw-deps.sh SRC PREFIX      (or SRC=... PREFIX=... build-mingw-deps.sh)
#
# Inputs
#   SRC     directory with the upstream source trees, as unpacked from the
#           .orig tarballs of Debian 12's source packages:
#             grpc-1.51.1  protobuf-3.21.12  abseil-20220623.1  c-ares-1.18.1
#             re2-2022-06-01  zlib-1.2.13  openssl-3.0.*
#           and, optionally, Debian's <pkg>_<ver>.debian.tar.xz files, from
#           which the C/C++ security patches for abseil and c-ares are applied.
#           A missing tree is fetched with `apt-get source --download-only`
#           (root, Debian archive reachable): a deb-src list is written to
#           /etc/apt/sources.list.d/build-mingw-deps-src.sources and removed
#           once the sources are in. The .orig tarball is unpacked, not
#           Debian's patched tree: Debian's gRPC patches de-vendor abseil and
#           BoringSSL, which breaks gRPC's "module" providers used here.
#   PREFIX  install prefix; created. Refused if it exists, is not empty and
#           was not made by this script.
#   BUILD   work directory (default: $(dirname PREFIX)/build); wiped first.
#   JOBS    parallel compile jobs (default 2);  NICE  niceness (default 10).
#   SKIP_UNSECURE  1 (default): do not build grpc_unsecure/grpc++_unsecure,
#           which a TLS client never links (saves ~1/3 of the gRPC compile).
#   Debian packages needed (installed by the script when run as root):
#           g++-mingw-w64-x86-64-posix cmake ninja-build make perl patch
#           python3 python3-six unicode-data xz-utils bzip2
#
# Outputs (in PREFIX; static .a libraries only, no DLLs, no executables)
#   include/{grpc,grpcpp,google/protobuf,absl,openssl,re2,ares*.h,zlib.h}
#   lib/lib{grpc,grpc++,gpr,upb,address_sorting,protobuf,absl_*,re2,cares,
#           zlibstatic,ssl,crypto}.a
#   lib/cmake/{grpc,protobuf,absl,c-ares,re2}/  CMake package configs
#   lib/pkgconfig/*.pc, share/grpc/roots.pem
#   share/mingw-deps/{BUILDINFO,mingw-toolchain.cmake}  provenance, toolchain
#
# The mingw toolchain file is cmake/mingw-toolchain.cmake in this repository;
# consumers use the same file (docs/windows.md).
#
# Time: 26 minutes measured on a 2-core Debian 12 VM (JOBS=2, NICE=10):
# OpenSSL 3.5 min, gRPC configure 1 min, gRPC+protobuf+abseil build 21 min.
#
# Fixes found while making this work are marked "FIX:" below.

set -euo pipefail
shopt -s inherit_errexit

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLCHAIN_FILE="$SCRIPT_DIR/../../cmake/mingw-toolchain.cmake"
TRIPLE=x86_64-w64-mingw32

SRC=${1:-${SRC:-}}
PREFIX=${2:-${PREFIX:-}}
if [[ -z "$SRC" || -z "$PREFIX" ]]; then
  echo "usage: $0 SRC PREFIX   (or set SRC and PREFIX in the environment)" >&2
  exit 2
fi
mkdir -p "$SRC"
SRC=$(cd "$SRC" && pwd)
PREFIX=$(realpath -m "$PREFIX")
BUILD=$(realpath -m "${BUILD:-$(dirname "$PREFIX")/build}")
JOBS=${JOBS:-2}
NICE=${NICE:-10}
SKIP_UNSECURE=${SKIP_UNSECURE:-1}
PREFIX_MARKER="$PREFIX/.made-by-build-mingw-deps"
APT_SRC_LIST=/etc/apt/sources.list.d/build-mingw-deps-src.sources

T_START=$SECONDS
T_STEP=$SECONDS
TIMINGS=()
APPLIED_PATCHES=()

log() { printf '[build-mingw-deps %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
step() {  # step NAME: close the previous step's timer and open a new one
  T_STEP=$SECONDS
  log "=== $1"
  CURRENT_STEP=$1
}
step_done() {
  local d=$((SECONDS - T_STEP))
  TIMINGS+=("$(printf '%-28s %s' "$CURRENT_STEP" "$(fmt_secs $d)")")
  log "=== $CURRENT_STEP done in $(fmt_secs $d)"
}
run() { nice -n "$NICE" "$@"; }

remove_deb_src() {
  if [[ -n "${APT_SRC_ADDED:-}" ]]; then
    rm -f "$APT_SRC_LIST"
    APT_SRC_ADDED=
    apt-get update -qq >/dev/null 2>&1 || true
    log "removed $APT_SRC_LIST"
  fi
}
trap remove_deb_src EXIT

# --- checks ------------------------------------------------------------------
step "check tools"
BUILD_DEPS=(g++-mingw-w64-x86-64-posix cmake ninja-build make perl patch
            python3 python3-six unicode-data xz-utils bzip2)
missing=()
for p in "${BUILD_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $EUID -eq 0 ]] || die "missing packages: ${missing[*]} (apt-get install them)"
  log "apt-get install ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
for tool in "$TRIPLE-gcc-posix" "$TRIPLE-g++-posix" "$TRIPLE-ar" "$TRIPLE-ranlib" \
            "$TRIPLE-windres" "$TRIPLE-strip" cmake ninja make perl patch python3; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done
python3 -c 'import six' 2>/dev/null || die "python3 (from PATH) lacks the six module"
[[ -f "$TOOLCHAIN_FILE" ]] || die "missing $TOOLCHAIN_FILE"
if [[ -e "$PREFIX" && -n "$(ls -A "$PREFIX")" && ! -f "$PREFIX_MARKER" ]]; then
  die "$PREFIX is not empty and was not made by this script; refusing to overwrite"
fi
log "SRC=$SRC PREFIX=$PREFIX BUILD=$BUILD JOBS=$JOBS NICE=$NICE SKIP_UNSECURE=$SKIP_UNSECURE"
log "compiler: $("$TRIPLE-g++-posix" --version | head -1); $(cmake --version | head -1)"
step_done

# --- sources -----------------------------------------------------------------
# newest_match GLOB: the highest-versioned path in SRC matching GLOB, if any.
newest_match() {
  local matches
  shopt -s nullglob
  # shellcheck disable=SC2206  # the glob is meant to expand
  matches=("$SRC"/$1)
  shopt -u nullglob
  ((${#matches[@]})) && printf '%s\n' "${matches[@]}" | sort -V | tail -1
}

# find_tree GLOB...: first directory in SRC matching one of the globs.
find_tree() {
  local g d
  for g in "$@"; do
    for d in "$SRC"/$g; do
      [[ -d "$d" ]] && { echo "$d"; return 0; }
    done
  done
  return 1
}

add_deb_src() {
  [[ -n "${APT_SRC_ADDED:-}" ]] && return 0
  [[ $EUID -eq 0 ]] || die "fetching sources needs root (apt-get); or put the trees into $SRC"
  local codename
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  cat >"$APT_SRC_LIST" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  APT_SRC_ADDED=1
  log "added $APT_SRC_LIST; apt-get update"
  apt-get update -qq
}

# fetch_source PKG ORIG_GLOB: download Debian's source package and unpack its
# .orig tarball (upstream code) into SRC. The newest version is tried first,
# then the older ones the archive lists.
# FIX: zlib's newest is in bookworm-security, whose pool returned 404 for
# its source files here; bookworm's 1:1.2.13.dfsg-1 has the same .orig.
fetch_source() {
  local pkg=$1 orig_glob=$2 orig ver
  local -a versions
  add_deb_src
  mapfile -t versions < <(apt-cache showsrc "$pkg" | awk '/^Version:/ {print $2}' | sort -urV)
  for ver in "${versions[@]}"; do
    log "apt-get source --download-only $pkg=$ver"
    if (cd "$SRC" && apt-get source --download-only -qq "$pkg=$ver"); then
      orig=$(newest_match "$orig_glob") || true
      [[ -n "$orig" ]] && break
    fi
  done
  [[ -n "${orig:-}" ]] || die "could not fetch $orig_glob (package $pkg)"
  log "unpacking $(basename "$orig")"
  tar -xf "$orig" -C "$SRC"
}

# locate VAR PKG ORIG_GLOB DIR_GLOB...: set VAR to the source tree in SRC,
# fetching it first if no directory matches.
locate() {
  local var=$1 pkg=$2 orig_glob=$3 d; shift 3
  if ! d=$(find_tree "$@"); then
    fetch_source "$pkg" "$orig_glob"
    d=$(find_tree "$@") || die "no source tree for $pkg in $SRC after fetching"
  fi
  printf -v "$var" '%s' "$d"
}

step "locate sources"
locate GRPC_SRC     grpc     'grpc_1.51.1.orig.tar.*'        grpc-1.51.1
locate PROTOBUF_SRC protobuf 'protobuf_3.21.12.orig.tar.*'   protobuf-3.21.12
locate ABSL_SRC     abseil   'abseil_20220623.1.orig.tar.*'  abseil-20220623.1
locate CARES_SRC    c-ares   'c-ares_1.18.1.orig.tar.*'      c-ares-1.18.1
locate RE2_SRC      re2      're2_20220601*.orig.tar.*'      re2-2022-06-01 're2-20220601*'
locate ZLIB_SRC     zlib     'zlib_1.2.13*.orig.tar.*'       'zlib-1.2.13*'
locate OPENSSL_SRC  openssl  'openssl_3.0.*.orig.tar.*'      'openssl-3.0.*'
remove_deb_src
for v in GRPC_SRC PROTOBUF_SRC ABSL_SRC CARES_SRC RE2_SRC ZLIB_SRC OPENSSL_SRC; do
  log "$(printf '%-13s %s' "$v" "${!v}")"
done
step_done

# --- work tree ---------------------------------------------------------------
step "prepare work tree"
rm -rf "$BUILD"
mkdir -p "$BUILD/src" "$PREFIX"
touch "$PREFIX_MARKER"
# OpenSSL builds in its source tree; gRPC gets its submodules copied into
# third_party/, where gRPC_*_PROVIDER=module expects them (the GitHub archive
# has those directories empty).
cp -a "$OPENSSL_SRC" "$BUILD/src/openssl"
cp -a "$GRPC_SRC" "$BUILD/src/grpc"
TP="$BUILD/src/grpc/third_party"
for pair in "$ABSL_SRC:abseil-cpp" "$PROTOBUF_SRC:protobuf" "$RE2_SRC:re2" \
            "$CARES_SRC:cares/cares" "$ZLIB_SRC:zlib"; do
  from=${pair%%:*} to=$TP/${pair#*:}
  rm -rf "$to"
  cp -a "$from" "$to"
done

# FIX: gRPC's CMakeLists downloads proto archives (opencensus-proto, ...)
# from GitHub unless their third_party directory exists; they are only
# used with gRPC_BUILD_CODEGEN, and there is no network here.
mkdir -p "$TP"/{envoy-api,googleapis,opencensus-proto/src,xds}

# FIX: Debian's re2 .orig (dfsg) lacks the generated tables perl_groups.cc,
# unicode_casefold.cc and unicode_groups.cc. Regenerate them as Debian's
# package build does (REBUILD_TABLES=1), from Debian's unicode-data.
if [[ ! -f "$TP/re2/re2/perl_groups.cc" ]]; then
  log "regenerating re2 tables from /usr/share/unicode"
  (
    cd "$TP/re2"
    sed -i 's|^_UNICODE_DIR = .*|_UNICODE_DIR = "/usr/share/unicode"|' re2/unicode.py
    perl re2/make_perl_groups.pl >re2/perl_groups.cc
    python3 re2/make_unicode_casefold.py >re2/unicode_casefold.cc
    python3 re2/make_unicode_groups.py >re2/unicode_groups.cc
  )
fi

# FIX: Debian's zlib .orig (dfsg) has no win32/zlib1.rc, which zlib's CMake
# needs for the zlib1.dll it always builds on MinGW. Only the static
# zlibstatic is wanted: keep the DLL and zlib's test programs out of "all".
zlib_cml="$TP/zlib/CMakeLists.txt"
sed -i -E 's/^(\s*add_library\(zlib SHARED) /\1 EXCLUDE_FROM_ALL /;
           s/^(\s*add_executable\((example|minigzip)(64)?) /\1 EXCLUDE_FROM_ALL /' "$zlib_cml"
[[ $(grep -c 'EXCLUDE_FROM_ALL' "$zlib_cml") -eq 5 ]] || die "zlib CMakeLists.txt edit did not match"

# apply_debian_patches DIR DEBIAN_TARBALL_GLOB PATCH...: apply the named
# patches from a Debian source package's debian.tar.xz, if that file is there.
apply_debian_patches() {
  local dir=$1 glob=$2 tarball p; shift 2
  tarball=$(newest_match "$glob") || true
  if [[ -z "$tarball" ]]; then
    log "WARNING: no $glob in $SRC; Debian's security patches not applied to $(basename "$dir")"
    return 0
  fi
  for p in "$@"; do
    log "patch $(basename "$dir") < $(basename "$tarball"):$p"
    tar -xJf "$tarball" -O "debian/patches/$p" | patch -d "$dir" -p1 -s --no-backup-if-mismatch
    APPLIED_PATCHES+=("$(basename "$tarball" .debian.tar.xz):$p")
  done
}
# Security fixes Debian 12 carries for the C/C++ code we compile (the
# protobuf ones are Java/Python only).
apply_debian_patches "$TP/abseil-cpp" 'abseil_20220623.1-*.debian.tar.xz' CVE-2025-0838.patch
apply_debian_patches "$TP/cares/cares" 'c-ares_1.18.1-*.debian.tar.xz' \
  CVE-2022-4904.diff CVE-2023-31130.diff CVE-2023-32067.diff
# Everything is compiled as C++17, where abseil's default options make
# absl::any/optional/string_view/variant aliases of the std:: types. Pin that
# choice in the installed options.h (as vcpkg does), so that a consumer
# compiling as C++14 gets a compile error instead of undefined references.
sed -i -E 's/^(#define ABSL_OPTION_USE_STD_(ANY|OPTIONAL|STRING_VIEW|VARIANT)) 2$/\1 1/' \
  "$TP/abseil-cpp/absl/base/options.h"
[[ $(grep -cE '^#define ABSL_OPTION_USE_STD_[A-Z_]+ 1$' "$TP/abseil-cpp/absl/base/options.h") -eq 4 ]] ||
  die "abseil options.h edit did not match"

# FIX: Debian's backport of CVE-2023-31130 uses INADDRSZ, which only Unix
# <arpa/nameser.h> defines; c-ares itself (and its upstream fix) uses
# NS_INADDRSZ. The MinGW build stopped with "'INADDRSZ' undeclared".
sed -i 's/\bINADDRSZ\b/NS_INADDRSZ/g' "$TP/cares/cares/src/lib/inet_net_pton.c"

# Edits to gRPC's build files (work copy only).
python3 - "$BUILD/src/grpc" "$SKIP_UNSECURE" <<'PYEOF'
import sys, pathlib
root, skip_unsecure = pathlib.Path(sys.argv[1]), sys.argv[2] == "1"

def once(text, needle):
    i = text.find(needle)
    if i < 0 or text.find(needle, i + 1) >= 0:
        sys.exit(f"gRPC build-file edit: expected exactly one {needle!r}")
    return i

# FIX: the generated gRPCConfig.cmake does not look for protobuf when
# protobuf is built as a gRPC module, so a consumer's find_package(gRPC)
# failed with "gRPC::grpc++ ... protobuf::libprotobuf not found".
# FIX: OpenSSL is a static library here; FindOpenSSL adds ws2_32/crypt32 to
# OpenSSL::Crypto only with OPENSSL_USE_STATIC_LIBS, and OpenSSL 3's
# BCryptGenRandom needs bcrypt as well, else a consumer's link fails with
# undefined references from libcrypto.a.
cfg = root / "cmake/gRPCConfig.cmake.in"
text = cfg.read_text()
anchor = "# Depend packages\n"
i = once(text, anchor) + len(anchor)
text = text[:i] + """\
# Added by build-mingw-deps.sh: static MinGW prefix.
if(NOT TARGET protobuf::libprotobuf)
  find_package(protobuf CONFIG)
endif()
set(OPENSSL_USE_STATIC_LIBS TRUE)
""" + text[i:]
text = text.replace("# Targets\n", """\
if(TARGET OpenSSL::Crypto)
  set_property(TARGET OpenSSL::Crypto APPEND PROPERTY
    INTERFACE_LINK_LIBRARIES bcrypt)
endif()

# Targets
""", 1)
cfg.write_text(text)

if skip_unsecure:
    # Wrap the grpc_unsecure and grpc++_unsecure targets (definition through
    # their install() block) in if(NOT MINGW_DEPS_SKIP_UNSECURE).
    cml = root / "CMakeLists.txt"
    text = cml.read_text()
    for t in ("grpc_unsecure", "grpc++_unsecure"):
        a = once(text, f"\nadd_library({t}\n") + 1
        inst = text.find(f"install(TARGETS {t} EXPORT gRPCTargets", a)
        end = text.find("\nendif()\n", inst) if inst >= 0 else -1
        if end < 0:
            sys.exit(f"gRPC build-file edit: cannot find the end of {t}")
        end += len("\nendif()\n")
        text = (text[:a] + "if(NOT MINGW_DEPS_SKIP_UNSECURE)\n" + text[a:end]
                + "endif() # MINGW_DEPS_SKIP_UNSECURE\n" + text[end:])
    cml.write_text(text)
PYEOF
step_done

# --- OpenSSL -----------------------------------------------------------------
step "OpenSSL $(basename "$OPENSSL_SRC")"
(
  cd "$BUILD/src/openssl"
  # CC=gcc-posix: OpenSSL puts --cross-compile-prefix in front, giving
  # x86_64-w64-mingw32-gcc-posix (same compiler as everything else).
  # --libdir=lib: mingw64 would otherwise install into lib64.
  run ./Configure mingw64 no-shared no-tests \
    --cross-compile-prefix="$TRIPLE-" --prefix="$PREFIX" --libdir=lib \
    CC=gcc-posix CXX=g++-posix
  run make -j"$JOBS" build_libs >"$BUILD/openssl-build.log" 2>&1 ||
    { tail -40 "$BUILD/openssl-build.log"; die "OpenSSL build failed"; }
  run make install_dev >"$BUILD/openssl-install.log" 2>&1 ||
    { tail -40 "$BUILD/openssl-install.log"; die "OpenSSL install failed"; }
)
[[ -f "$PREFIX/lib/libssl.a" && -f "$PREFIX/lib/libcrypto.a" ]] || die "OpenSSL libraries not installed"
step_done

# --- gRPC with abseil, protobuf, re2, c-ares, zlib as modules ------------------
step "configure gRPC"
CMAKE_ARGS=(
  -G Ninja
  -S "$BUILD/src/grpc" -B "$BUILD/grpc"
  -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN_FILE"
  -DMINGW_DEPS_PREFIX="$PREFIX"
  -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_INSTALL_PREFIX="$PREFIX"
  -DBUILD_SHARED_LIBS=OFF
  # One C++ standard for everything: abseil's absl::string_view/optional/...
  # are std:: aliases in C++17, so consumers must use C++17 too;
  # ABSL_PROPAGATE_CXX_STD makes the absl targets require cxx_std_17.
  -DCMAKE_CXX_STANDARD=17
  -DABSL_PROPAGATE_CXX_STD=ON
  -DgRPC_INSTALL=ON
  -DgRPC_BUILD_TESTS=OFF
  -DgRPC_BUILD_CODEGEN=OFF        # host protoc/grpc_cpp_plugin are used instead
  -DgRPC_BUILD_CSHARP_EXT=OFF
  -DgRPC_BUILD_GRPC_CPP_PLUGIN=OFF
  -DgRPC_BUILD_GRPC_CSHARP_PLUGIN=OFF
  -DgRPC_BUILD_GRPC_NODE_PLUGIN=OFF
  -DgRPC_BUILD_GRPC_OBJECTIVE_C_PLUGIN=OFF
  -DgRPC_BUILD_GRPC_PHP_PLUGIN=OFF
  -DgRPC_BUILD_GRPC_PYTHON_PLUGIN=OFF
  -DgRPC_BUILD_GRPC_RUBY_PLUGIN=OFF
  -DgRPC_ABSL_PROVIDER=module
  -DgRPC_PROTOBUF_PROVIDER=module
  -DgRPC_RE2_PROVIDER=module
  -DgRPC_CARES_PROVIDER=module
  -DgRPC_ZLIB_PROVIDER=module
  -DgRPC_SSL_PROVIDER=package
  -DOPENSSL_ROOT_DIR="$PREFIX"
  -DOPENSSL_USE_STATIC_LIBS=TRUE
  -Dprotobuf_BUILD_PROTOC_BINARIES=OFF
  -Dprotobuf_BUILD_LIBPROTOC=OFF
  -Dprotobuf_BUILD_TESTS=OFF
  -Dprotobuf_WITH_ZLIB=OFF
  -DRE2_BUILD_TESTING=OFF
  -DCARES_BUILD_TOOLS=OFF
  -DCARES_BUILD_TESTS=OFF
  # zlib's own install() would add zlib1.dll and its import library, which
  # find_package(ZLIB) prefers; gRPC installs the static zlibstatic itself.
  -DSKIP_INSTALL_LIBRARIES=ON
  -DSKIP_INSTALL_FILES=ON
)
[[ "$SKIP_UNSECURE" == 1 ]] && CMAKE_ARGS+=(-DMINGW_DEPS_SKIP_UNSECURE=ON)
run cmake "${CMAKE_ARGS[@]}" >"$BUILD/grpc-configure.log" 2>&1 ||
  { tail -60 "$BUILD/grpc-configure.log"; die "gRPC configure failed (log: $BUILD/grpc-configure.log)"; }
grep -E "^-- (Found OpenSSL|Found Threads)|CMake Warning" "$BUILD/grpc-configure.log" || true
step_done

step "build gRPC (ninja -j$JOBS)"
run ninja -C "$BUILD/grpc" -j "$JOBS" >"$BUILD/grpc-build.log" 2>&1 ||
  { grep -B2 -A20 -m3 "FAILED:" "$BUILD/grpc-build.log" | head -120; die "gRPC build failed (log: $BUILD/grpc-build.log)"; }
step_done

step "install gRPC"
run ninja -C "$BUILD/grpc" install >"$BUILD/grpc-install.log" 2>&1 ||
  { tail -40 "$BUILD/grpc-install.log"; die "gRPC install failed"; }
if [[ "$SKIP_UNSECURE" == 1 ]]; then
  rm -f "$PREFIX"/lib/pkgconfig/grpc_unsecure.pc "$PREFIX"/lib/pkgconfig/grpc++_unsecure.pc
fi
# Release builds carry no -g, but strip what the assembler/OpenSSL left.
find "$PREFIX/lib" -name '*.a' -exec "$TRIPLE-strip" --strip-debug {} +
rmdir "$PREFIX/bin" 2>/dev/null || true
# Provenance, and the toolchain file, travel with the prefix.
mkdir -p "$PREFIX/share/mingw-deps"
cp "$TOOLCHAIN_FILE" "$PREFIX/share/mingw-deps/"
# shellcheck disable=SC1091
{
  echo "built $(date -u +%Y-%m-%dT%H:%MZ) by build-mingw-deps.sh on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "compiler: $("$TRIPLE-g++-posix" --version | head -1)"
  echo "sources:"
  for v in GRPC_SRC PROTOBUF_SRC ABSL_SRC CARES_SRC RE2_SRC ZLIB_SRC OPENSSL_SRC; do
    echo "  $(basename "${!v}")"
  done
  echo "Debian patches applied: ${APPLIED_PATCHES[*]:-none}"
  echo "gRPC cmake arguments:"
  printf '  %s\n' "${CMAKE_ARGS[@]}"
} >"$PREFIX/share/mingw-deps/BUILDINFO"
step_done

# --- verify ------------------------------------------------------------------
step "verify prefix"
for f in lib/cmake/grpc/gRPCConfig.cmake lib/cmake/protobuf/protobuf-config.cmake \
         lib/cmake/absl/abslConfig.cmake lib/libgrpc++.a lib/libgrpc.a lib/libprotobuf.a \
         lib/libssl.a lib/libcrypto.a lib/libzlibstatic.a lib/libcares.a lib/libre2.a \
         include/grpcpp/grpcpp.h include/openssl/ssl.h; do
  [[ -e "$PREFIX/$f" ]] || die "missing $PREFIX/$f"
done
if find "$PREFIX" \( -name '*.dll' -o -name '*.dll.a' -o -name '*.exe' \) | grep -q .; then
  die "prefix contains DLLs or executables: $(find "$PREFIX" -name '*.dll*' -o -name '*.exe')"
fi
log "prefix size: $(du -sh "$PREFIX" | cut -f1); $(find "$PREFIX/lib" -name '*.a' | wc -l) static libraries"
step_done

log "timings:"
for t in "${TIMINGS[@]}"; do log "  $t"; done
log "  $(printf '%-28s %s' total "$(fmt_secs $((SECONDS - T_START)))")"
