#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the stack needs to build, test and run its demo, only those missing.
# Uses apt-get as root, or through sudo. Safe to run again: it does nothing when all are present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git curl ca-certificates
  libpaho-mqtt-dev libssl-dev            # MQTT (Paho MQTTAsync; its TLS is OpenSSL)
  mosquitto mosquitto-clients            # broker for the demo and the tests
  libprotobuf-c-dev protobuf-c-compiler  # iot.v1 schemas
  libmbedtls-dev                         # the application's crypto
  libinih-dev                            # INI config files
  libsqlite3-dev sqlite3                 # cloud storage (and the tests' queries)
  libpq-dev                              # PostgreSQL client (cloud storage, later issue)
  libmicrohttpd-dev libcjson-dev libcurl4-openssl-dev  # cloud HTTP API, JSON, webhooks
  libcmocka-dev                          # unit tests
)

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
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
