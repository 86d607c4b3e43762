#!/usr/bin/env bash
# Makes a Debian bookworm base image for podman with debootstrap --variant=minbase, the given
# packages and bookworm's security updates, and imports it as
# localhost/certbridge-base:bookworm-<key>, where the key hashes the package list. An image of
# that name already in podman's store is reused. Prints the image name.
#
# Usage: deploy/container/make-base.sh "PACKAGE..."
# Environment: CERTBRIDGE_IMAGE_WORK (scratch, default /var/tmp/certbridge-image),
#              DEBIAN_MIRROR (default: the deb.debian.org-style URI in /etc/apt/sources*)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
packages="$(echo "${1:?usage: make-base.sh \"PACKAGE...\"}" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//')"
logs="${CERTBRIDGE_IMAGE_WORK:-/var/tmp/certbridge-image}"
work="$logs/base-$$"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
say() { echo "make-base: $*" >&2; }
die() { echo "make-base: error: $*" >&2; exit 1; }
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"

mirror="${DEBIAN_MIRROR:-$(grep -hoE '^URIs: *http[^ ]*/debian$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')}"
mirror="${mirror:-http://deb.debian.org/debian}"
recipe="bookworm minbase v1 | $packages"
key="$(printf '%s' "$recipe" | sha256sum | cut -c1-16)"
base="localhost/certbridge-base:bookworm-$key"
if podman image exists "$base"; then
  say "$base cached"
else
  say "making base $base with debootstrap from $mirror (takes a few minutes)"
  rootfs="$work/rootfs"
  rm -rf "$rootfs"
  include="$(echo "$packages" | tr ' ' ',')"
  if ! debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$mirror" \
      >"$logs/debootstrap-$key.log" 2>&1; then
    tail -n 20 "$logs/debootstrap-$key.log" >&2
    die "debootstrap failed (full log: $logs/debootstrap-$key.log)"
  fi
  # Security fixes: debootstrap only knows the release itself.
  security="${mirror%/debian}/debian-security"
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
  if ! chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq' \
      >"$logs/upgrade-$key.log" 2>&1; then
    tail -n 20 "$logs/upgrade-$key.log" >&2
    die "apt-get upgrade in the base failed (full log: $logs/upgrade-$key.log)"
  fi
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  tar --numeric-owner -C "$rootfs" -c . |
    podman import --quiet --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
fi
echo "$base"
