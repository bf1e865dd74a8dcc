#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the stack needs to build, test and run its demo, only those missing.
# Uses apt-get as root, or through sudo. Safe to run again: it does nothing when all are present.
# Usage: tools/install-deps.sh [--cross arm64|armhf]...   (adds the Raspberry Pi cross toolchain,
# qemu-user and the target architecture's -dev packages, with dpkg --add-architecture)
set -euo pipefail
cross=()
while [ $# -gt 0 ]; do
  case $1 in
    --cross) cross+=("${2:?--cross needs arm64 or armhf}"); shift 2 ;;
    -h|--help) sed -n '3,6p' "$0"; exit 0 ;;
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
for arch in "${cross[@]}"; do
  case $arch in
    arm64) PKGS+=(gcc-aarch64-linux-gnu) ;;
    armhf) PKGS+=(gcc-arm-linux-gnueabihf) ;;
    *) echo "install-deps: unknown architecture $arch (arm64 or armhf)" >&2; exit 2 ;;
  esac
  PKGS+=(qemu-user)
  for p in "${CROSS_DEV[@]}"; do PKGS+=("$p:$arch"); done
done

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null; then
  SUDO=(sudo)
else
  echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
for arch in "${cross[@]}"; do
  dpkg --print-foreign-architectures | grep -qx "$arch" || "${SUDO[@]}" dpkg --add-architecture "$arch"
done
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
