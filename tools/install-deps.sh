#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the stack needs to build, test and run its demo, only those missing.
# Uses apt-get as root, or through sudo. Safe to run again: it does nothing when all are present.
# Usage: tools/install-deps.sh [--cross ARCH[,ARCH]]...   ARCH: arm64 (Raspberry Pi OS 64-bit)
# or armhf (32-bit); adds each one's cross gcc, -dev packages (dpkg --add-architecture), qemu-user.
# Both: --cross arm64,armhf (or --cross arm64 --cross armhf). --cross-tools ARCH: only the cross gcc
# and qemu-user, and apt's ARCH indexes, for a sysroot made by tools/cross-sysroot.sh instead.
set -euo pipefail
cross=()
tools=()
while [ $# -gt 0 ]; do
  case $1 in
    --cross)
      IFS=, read -r -a more <<<"${2:?--cross needs arm64, armhf or arm64,armhf}"
      cross+=("${more[@]}")
      shift 2 ;;
    --cross-tools)
      IFS=, read -r -a more <<<"${2:?--cross-tools needs arm64, armhf or arm64,armhf}"
      tools+=("${more[@]}")
      shift 2 ;;
    -h|--help) sed -n '3,9p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown option $1" >&2; exit 2 ;;
  esac
done

PKGS=(
  build-essential cmake pkg-config git curl ca-certificates
  libpaho-mqtt-dev libssl-dev            # MQTT (Paho MQTTAsync; its TLS is OpenSSL)
  mosquitto mosquitto-clients            # broker for the demo and the tests
  libprotobuf-c-dev protobuf-c-compiler  # iot.v1 schemas
  libmbedtls-dev                         # the application's crypto
  libinih-dev                            # INI config files
  libsystemd-dev                         # sd_notify readiness and watchdog
  libsqlite3-dev sqlite3                 # cloud storage (and the tests' queries)
  libpq-dev                              # PostgreSQL client library (cloud storage)
  postgresql postgresql-client           # PostgreSQL server for the storage tests and benchmark
  libmicrohttpd-dev libcjson-dev libcurl4-openssl-dev  # cloud HTTP API, JSON, webhooks
  libcmocka-dev                          # unit tests
  clang libclang-rt-14-dev llvm          # fuzz preset: libFuzzer + ASan/UBSan runtimes, symbolizer
  valgrind                               # memcheck stage of tools/test.sh
  iproute2 openssl jq                    # fault/security tests: netns + veth, test certificates, JSON
)

# Device-side libraries of the target architecture (the agent, its unit tests) for cross-builds.
CROSS_DEV=(libpaho-mqtt-dev libssl-dev libprotobuf-c-dev libmbedtls-dev libinih-dev libcmocka-dev
  libsystemd-dev)
[ ${#cross[@]} -eq 0 ] && [ ${#tools[@]} -eq 0 ] || PKGS+=(qemu-user)
for arch in "${cross[@]}" "${tools[@]}"; do
  case $arch in
    arm64) PKGS+=(gcc-aarch64-linux-gnu) ;;
    armhf) PKGS+=(gcc-arm-linux-gnueabihf) ;;
    *) echo "install-deps: unknown architecture $arch (arm64 or armhf)" >&2; exit 2 ;;
  esac
done
for arch in "${cross[@]}"; do
  for p in "${CROSS_DEV[@]}"; do PKGS+=("$p:$arch"); done
done
# --cross-tools installs no ARCH package, but tools/cross-sysroot.sh needs apt's ARCH indexes.
new_arch=0
for arch in "${tools[@]}"; do
  dpkg --print-foreign-architectures | grep -qx "$arch" || new_arch=1
done

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ "$new_arch" = 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null; then
  SUDO=(sudo)
else
  echo "install-deps: run as root or install sudo (missing: ${missing[*]:-no package})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
for arch in "${cross[@]}" "${tools[@]}"; do
  dpkg --print-foreign-architectures | grep -qx "$arch" || "${SUDO[@]}" dpkg --add-architecture "$arch"
done
# An index that fails to download (a mirror in the middle of a sync) leaves apt with the lists it
# had: go on, the install below fails by itself if a package it needs is not in them.
"${SUDO[@]}" apt-get update -qq ||
  echo "install-deps: apt-get update reported errors (see above); installing anyway" >&2
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: done"
