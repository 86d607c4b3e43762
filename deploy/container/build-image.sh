#!/usr/bin/env bash
# Builds the certbridge images (broker, agent, certbridgectl, adcs-emulator) with podman from
# binaries already built by CMake, and smoke-tests them.
#
# Usage: deploy/container/build-image.sh [BUILD_DIR]       (default: build)
#
# Works without Docker and without a registry:
#  - The base image is made here with `debootstrap --variant=minbase bookworm` plus the runtime
#    packages of the libraries the binaries link (found with ldd and dpkg -S), then
#    `podman import`ed as localhost/certbridge-base:<key>. The key hashes the package list and
#    this recipe, so re-runs reuse the base (podman's own image store is the cache).
#  - podman runs with deploy/container/containers.conf (runc, capped ulimits) via CONTAINERS_CONF.
#  - The images are built with --network=none: everything comes from the base and the context.
#
# Environment:
#   CERTBRIDGE_IMAGE_TAG   tag of the built images (default: dev)
#   CERTBRIDGE_IMAGE_WORK  scratch directory (default: /var/tmp/certbridge-image)
#   DEBIAN_MIRROR          default: the first deb.debian.org-style URI in /etc/apt/sources*
#
# Result: localhost/{certbridge-broker,certbridge-agent,certbridgectl,adcs-emulator}:TAG
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$(cd "${1:-$repo/build}" && pwd)"
tag="${CERTBRIDGE_IMAGE_TAG:-dev}"
work="${CERTBRIDGE_IMAGE_WORK:-/var/tmp/certbridge-image}"
export CONTAINERS_CONF="$here/containers.conf"
start=$(date +%s)

say() { echo "build-image: $*"; }
die() { echo "build-image: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (rootful podman and debootstrap are what this script knows)"
for tool in podman runc debootstrap objcopy objdump dpkg-query; do
  command -v "$tool" >/dev/null || die "$tool is missing: run tools/install-deps.sh"
done

# binary name -> Containerfile target
declare -A targets=(
  [certbridge-broker]=broker
  [certbridge-agent]=agent
  [certbridgectl]=certbridgectl
  [adcs-emulator]=adcs-emulator
)

# --- 1. Stage the binaries (the build dir is rebuilt under our feet; copy first) ---------
mkdir -p "$work"
context="$work/context"
rm -rf "$context"
mkdir -p "$context/bin"
for bin in "${!targets[@]}"; do
  src="$(find "$build" -type f -name "$bin" -perm -u+x -not -path '*/CMakeFiles/*' | head -n1)"
  [ -n "$src" ] || die "$bin not found under $build: build it first (ninja -C $build)"
  objcopy --strip-debug "$src" "$context/bin/$bin"
done

# --- 2. Runtime packages: the Debian packages owning the libraries the binaries link ------
# Only direct dependencies (ELF NEEDED entries); apt brings theirs. All of them must resolve
# on this machine first. One dpkg-query call for all (each call reads dpkg's whole database).
declare -A libs=()  # library path -> the binary that links it
for bin in "$context"/bin/*; do
  resolved="$(ldd "$bin")"
  if grep -q "not found" <<<"$resolved"; then
    die "$(basename "$bin") has libraries missing on this machine: $(grep 'not found' <<<"$resolved" | tr -s ' \t' ' ')"
  fi
  for soname in $(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}'); do
    lib="$(awk -v s="$soname" '$1 == s && $2 == "=>" {print $3}' <<<"$resolved")"
    [ -n "$lib" ] || die "$(basename "$bin"): ldd does not resolve $soname"
    libs[$lib]="$(basename "$bin")"
  done
done
# dpkg knows a library under /lib or /usr/lib depending on the package (usrmerge): ask for both.
candidates=()
for lib in "${!libs[@]}"; do
  candidates+=("$lib" "$(readlink -f "$lib")" "/usr${lib#/usr}" "${lib#/usr}")
done
owners="$(dpkg-query -S "${candidates[@]}" 2>/dev/null || true)"
declare -A pkgset=([ca-certificates]=1)
for lib in "${!libs[@]}"; do
  owner=""
  for candidate in "$lib" "$(readlink -f "$lib")" "/usr${lib#/usr}" "${lib#/usr}"; do
    owner="$(awk -v p="$candidate" '$2 == p {sub(/:.*/, "", $1); print $1; exit}' <<<"$owners")"
    [ -n "$owner" ] && break
  done
  [ -n "$owner" ] || die "no Debian package owns $lib (linked by ${libs[$lib]})"
  pkgset[$owner]=1
done
packages="$(printf '%s\n' "${!pkgset[@]}" | sort | tr '\n' ' ' | sed 's/ $//')"
say "runtime packages: $packages"

# Real users build FROM debian:bookworm-slim with the Containerfile's default package list:
# it must cover what the binaries need today.
default_list="$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' "$here/Containerfile")"
[ -n "$default_list" ] || die "cannot read ARG RUNTIME_PACKAGES from the Containerfile"
for p in $packages; do
  case " $default_list " in
    *" $p "*) ;;
    *) die "the Containerfile's RUNTIME_PACKAGES default lacks $p (the binaries link it): add it" ;;
  esac
done

# --- 3. The base image, cached by its recipe ------------------------------------------------
base="$("$here/make-base.sh" "$packages")"
podman tag "$base" localhost/certbridge-base:latest  # for test images built on it (tests/deploy)

# --- 4. Can podman run a container here at all? ---------------------------------------------
if ! out="$(podman run --rm --network=none "$base" /bin/true 2>&1)"; then
  echo "$out" >&2
  die "podman cannot run containers on this machine (runtime runc via $CONTAINERS_CONF); see the message above"
fi

# --- 5. Build one image per target -------------------------------------------------------------
for bin in "${!targets[@]}"; do
  target="${targets[$bin]}"
  image="localhost/$bin:$tag"  # images are named after their binary
  if ! podman build --quiet --network=none --target "$target" \
      --build-arg BASE_IMAGE="$base" --build-arg RUNTIME_PACKAGES="$packages" \
      -f "$here/Containerfile" -t "$image" "$context" >"$work/build-$target.log" 2>&1; then
    cat "$work/build-$target.log" >&2
    die "podman build --target $target failed"
  fi
  say "built $image"
done

# --- 6. Smoke tests: as the image runs in Kubernetes (restricted profile) --------------------
run_locked() {
  podman run --rm --network=none --read-only --cap-drop=ALL --security-opt=no-new-privileges "$@"
}
check() {  # check IMAGE BINARY ARGS... : runs it and expects exit 0
  local image="$1" binary="$2"
  shift 2
  local user missing out trace
  user="$(podman image inspect --format '{{.Config.User}}' "$image")"
  [ "$user" = "10001:10001" ] || die "$image runs as '$user', want 10001:10001"
  [ "$(run_locked --entrypoint /usr/bin/id "$image" -u)" = 10001 ] || die "$image: uid is not 10001"
  # The dynamic loader lists what it would load, with no shell and no ldd script.
  trace="$(run_locked --env LD_TRACE_LOADED_OBJECTS=1 "$image" 2>&1 || true)"
  grep -q 'libc.so.6 => ' <<<"$trace" || die "$image: the loader did not list libraries: $trace"
  missing="$(grep 'not found' <<<"$trace" || true)"
  [ -z "$missing" ] || die "$image: missing shared libraries: $missing"
  if ! out="$(run_locked "$image" "$@" 2>&1)"; then
    echo "$out" >&2
    die "$image: '$binary $*' failed under --read-only --cap-drop=ALL"
  fi
  say "ok $image ($binary $*: $(echo "$out" | head -n1))"
}
check "localhost/certbridge-broker:$tag" certbridge-broker --version
check "localhost/certbridge-agent:$tag" certbridge-agent version
check "localhost/certbridgectl:$tag" certbridgectl --help
check "localhost/adcs-emulator:$tag" adcs-emulator --help

# The broker really starts under those restrictions: without a database it stops at config.
out="$(run_locked "localhost/certbridge-broker:$tag" 2>&1 || true)"
echo "$out" | grep -q "database_url or CERTBRIDGE_DATABASE_URL is required" ||
  die "broker did not reach its config check: $out"

# Each rebuild leaves the previous images untagged: drop them so the store does not grow.
podman image prune -f >/dev/null
say "images ready in $(( $(date +%s) - start ))s"
