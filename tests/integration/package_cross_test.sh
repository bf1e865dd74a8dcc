#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The cross-built agent package (Raspberry Pi arm64/armhf): cpack makes iot-agent_*_<arch>.deb with
# the target architecture, the agent's library dependencies, the unit and the config; the unpacked
# binary runs under qemu-user. Usage: package_cross_test.sh BUILD_DIR DEB_ARCH EMULATOR...
set -euo pipefail
build=${1:?build dir}
arch=${2:?deb architecture}
shift 2
work=$(mktemp -d "${TMPDIR:-/tmp}/iot-package-cross.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; fail "cpack"; }
deb=$(ls "$work"/pkg/iot-agent_*_"$arch".deb 2>/dev/null) || fail "no iot-agent_*_$arch.deb"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "architecture is not $arch"
for lib in libpaho-mqtt1.3 libmbedcrypto7 libprotobuf-c1 libinih1; do
    dpkg-deb -f "$deb" Depends | grep -q "$lib" || fail "Depends lacks $lib"
done
dpkg-deb -x "$deb" "$work/root"
for f in usr/bin/iot-agent etc/iot/agent.conf usr/lib/systemd/system/iot-agent.service; do
    [ -e "$work/root/$f" ] || fail "missing /$f"
done
"$@" "$work/root/usr/bin/iot-agent" --version | grep -q '^iot-agent ' || fail "the packaged agent does not run"
echo "PASS package_cross ($arch)"
