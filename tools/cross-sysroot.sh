#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds a sysroot for cross-building the device side without foreign-architecture packages on the
# build machine: Debian's ARCH packages of the device's -dev libraries, libc6-dev and everything they
# depend on (resolved by apt-cache from apt's own indexes), fetched with apt-get download (checked
# against the signed indexes) and unpacked with dpkg -x into DIR. Use it with the toolchain files:
#   cmake --preset rpi-armhf -DIOT_CROSS_SYSROOT=$PWD/DIR   (CMAKE_SYSROOT, pkg-config, qemu -L DIR)
# Needs: dpkg --add-architecture ARCH and apt-get update (tools/install-deps.sh does both), no root
# for the rest. Safe to run again: does nothing while DIR/.complete lists the same package versions.
# Usage: tools/cross-sysroot.sh ARCH DIR [EXTRA-PACKAGE...]   ARCH: armhf, arm64 (any Debian arch)
set -euo pipefail

usage() { sed -n '3,10p' "$0"; }
die() { echo "cross-sysroot: $*" >&2; exit 1; }

case ${1:-} in
  -h|--help) usage; exit 0 ;;
  -*) echo "cross-sysroot: unknown option $1" >&2; usage >&2; exit 2 ;;
esac
[ $# -ge 2 ] || { usage >&2; exit 2; }
arch=$1
dir=$2
shift 2
extra=("$@")

# What the device side links against (tools/install-deps.sh CROSS_DEV) and the C library.
ROOTS=(libpaho-mqtt-dev libssl-dev libprotobuf-c-dev libmbedtls-dev libinih-dev libcmocka-dev
  libsystemd-dev libc6-dev "${extra[@]}")
# pkg-config modules the device build asks for: checked once the sysroot is unpacked.
PC_MODULES=(libssl libcrypto libprotobuf-c inih libsystemd cmocka)

for tool in apt-cache apt-get dpkg-deb dpkg-architecture realpath timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian's apt, dpkg-dev, coreutils)"
done
triplet=$(dpkg-architecture -a "$arch" -qDEB_HOST_MULTIARCH 2>/dev/null) ||
  die "unknown Debian architecture '$arch'"
if [ "$arch" != "$(dpkg --print-architecture)" ] &&
  ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  die "apt has no $arch indexes: run 'dpkg --add-architecture $arch && apt-get update' as root"
fi
apt-cache show --no-all-versions "libc6:$arch" >/dev/null 2>&1 ||
  die "apt knows no libc6:$arch: run 'apt-get update' (as root) after dpkg --add-architecture $arch"

# The closure of Depends and Pre-Depends; only the packages of ARCH (Architecture: all ones, e.g.
# libtirpc-common's /etc/netconfig, and virtual names are not needed to compile, link or run).
roots=()
for p in "${ROOTS[@]}"; do roots+=("$p:$arch"); done
closure=$(apt-cache depends --recurse --important --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances "${roots[@]}" 2>&1) ||
  die "apt-cache could not resolve ${roots[*]}: $closure"
mapfile -t pkgs < <(grep -E "^[a-z0-9][a-z0-9+.-]*:$arch\$" <<<"$closure" | sort -u)
[ ${#pkgs[@]} -ge ${#ROOTS[@]} ] || die "resolved only ${#pkgs[@]} packages: ${pkgs[*]}"
# Pin each to apt's candidate version: the list (DIR/.complete) changes when a version does.
list=$(apt-cache show --no-all-versions "${pkgs[@]}" |
  awk -v a="$arch" '/^Package: /{p=$2} /^Version: /{print p ":" a "=" $2}' | sort -u)
[ "$(wc -l <<<"$list")" -eq ${#pkgs[@]} ] || die "no candidate version for some of ${pkgs[*]}"

if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$list" ]; then
  echo "cross-sysroot: $dir is up to date ($(wc -l <<<"$list") packages for $arch)"
  exit 0
fi
# Never wipe a directory that this script did not make.
if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -f "$dir/.cross-sysroot" ]; then
  die "$dir is not empty and was not made by this script: choose another directory"
fi
mkdir -p "$dir/.debs"
dir=$(realpath "$dir")
echo "$arch" >"$dir/.cross-sysroot"
rm -f "$dir/.complete"
find "$dir" -mindepth 1 -maxdepth 1 ! -name .debs ! -name .cross-sysroot -exec rm -rf {} +

# The downloaded NAME:ARCH=VERSION: apt names it NAME_VERSION_ARCH.deb, the epoch's ':' as %3a.
deb_of() {
  local name=${1%%:*} ver=${1#*=}
  find "$dir/.debs" -maxdepth 1 -name "${name}_${ver/:/%3a}_*.deb" -print -quit
}
# Download what is not there yet (apt verifies each file against the signed indexes).
need=()
while IFS= read -r spec; do
  [ -n "$(deb_of "$spec")" ] || need+=("$spec")
done <<<"$list"
if [ ${#need[@]} -gt 0 ]; then
  echo "cross-sysroot: downloading ${#need[@]} of $(wc -l <<<"$list") $arch packages"
  (cd "$dir/.debs" && timeout 900 apt-get download -q -o Acquire::Retries=3 \
    -o APT::Sandbox::User=root "${need[@]}") || die "apt-get download failed (see above)"
fi

echo "cross-sysroot: unpacking into $dir"
n=0
while IFS= read -r spec; do
  deb=$(deb_of "$spec")
  [ -n "$deb" ] || die "apt-get download left no .deb for $spec"
  dpkg-deb -x "$deb" "$dir" || die "dpkg-deb -x $deb failed"
  n=$((n + 1))
done <<<"$list"
# Drop the .debs of versions no longer in the list.
for deb in "$dir"/.debs/*.deb; do
  base=${deb##*/} keep=0
  while IFS= read -r spec; do
    name=${spec%%:*} ver=${spec#*=}
    case $base in "${name}_${ver/:/%3a}_"*) keep=1; break ;; esac
  done <<<"$list"
  [ "$keep" = 1 ] || rm -f "$deb"
done

# Absolute symlinks (libc6-dev: libm.so -> /lib/<triplet>/libm.so.6) would point at the build
# machine's files: make them relative, inside the sysroot.
fixed=0
while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  rel=$(realpath -s -m --relative-to="$(dirname "$link")" "$dir$target")
  ln -sfn "$rel" "$link"
  fixed=$((fixed + 1))
done < <(find "$dir" -path "$dir/.debs" -prune -o -type l -lname '/*' -print0)

# What compiling, linking and qemu-user need must be there.
for f in usr/include/stdio.h "usr/lib/$triplet/libc.so" "usr/lib/$triplet/crt1.o"; do
  [ -e "$dir/$f" ] || die "the sysroot lacks /$f"
done
ls "$dir"/lib/ld-linux*.so* "$dir/lib/$triplet"/ld-linux*.so* >/dev/null 2>&1 ||
  die "the sysroot lacks the dynamic loader (/lib/ld-linux*)"
if command -v pkg-config >/dev/null; then
  PKG_CONFIG_LIBDIR="$dir/usr/lib/$triplet/pkgconfig:$dir/usr/share/pkgconfig" \
    PKG_CONFIG_SYSROOT_DIR="$dir" pkg-config --exists "${PC_MODULES[@]}" ||
    die "pkg-config does not find all of ${PC_MODULES[*]} in the sysroot"
fi
echo "$list" >"$dir/.complete"
echo "cross-sysroot: $dir ready: $n $arch packages, $fixed absolute symlinks made relative," \
  "$(du -sm --exclude=.debs "$dir" | cut -f1) MiB"
