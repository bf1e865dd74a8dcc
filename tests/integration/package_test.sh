#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Packaging: cpack builds the iot-agent and iot-cloud .deb packages; each is installed into a scratch
# root (dpkg --root: an isolated dpkg database, nothing touches this machine's packages) and its
# contents are checked: binaries that run, example configs the binaries accept, hardened systemd
# units that `systemd-analyze verify` passes, the schema, the maintainer scripts.
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
iot_test_init package
src=$(cd "$(dirname "$0")/../.." && pwd)

(cd "$IOT_BUILD" && cpack -G DEB -B "$IOT_WORK/pkg" >"$IOT_WORK/cpack.log" 2>&1) ||
    { cat "$IOT_WORK/cpack.log" >&2; iot_fail "cpack failed"; }
agent_deb=$(ls "$IOT_WORK"/pkg/iot-agent_*.deb)
cloud_deb=$(ls "$IOT_WORK"/pkg/iot-cloud_*.deb)

root=$IOT_WORK/root
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
: >"$root/var/lib/dpkg/status"
for deb in "$agent_deb" "$cloud_deb"; do
    # Unpack only: dependencies and the postinst (adduser) belong to a real system.
    dpkg --root="$root" --force-not-root --force-depends --force-script-chrootless --unpack "$deb" \
        >>"$IOT_WORK/dpkg.log" 2>&1 || { cat "$IOT_WORK/dpkg.log" >&2; iot_fail "dpkg --unpack $deb"; }
done
# dpkg --unpack leaves conffiles as *.dpkg-new until --configure (which runs the postinst): finish that.
while IFS= read -r f; do mv "$f" "${f%.dpkg-new}"; done < <(find "$root/etc" -name '*.dpkg-new')

want=(usr/bin/iot-agent usr/bin/iot-cloud usr/bin/iot-pki etc/iot/agent.conf etc/iot/cloud.conf
      usr/lib/systemd/system/iot-agent.service usr/lib/systemd/system/iot-cloud.service
      usr/share/iot-agent/iot.proto usr/share/iot-cloud/iot.proto usr/share/doc/iot-agent/README.md usr/share/doc/iot-cloud/README.md)
for f in "${want[@]}"; do [ -e "$root/$f" ] || iot_fail "missing /$f"; done
[ -x "$root/usr/bin/iot-agent" ] || iot_fail "iot-agent not executable"
dpkg-deb -f "$agent_deb" Depends | grep -q libpaho-mqtt || iot_fail "iot-agent does not depend on Paho"
dpkg-deb -f "$cloud_deb" Depends | grep -q libmicrohttpd || iot_fail "iot-cloud does not depend on libmicrohttpd"
dpkg-deb -I "$agent_deb" conffiles | grep -qx /etc/iot/agent.conf || iot_fail "agent.conf is not a conffile"
dpkg-deb -I "$cloud_deb" postinst | grep -q "adduser --system" || iot_fail "iot-cloud postinst creates no user"
"$root/usr/bin/iot-agent" --version | grep -q "^iot-agent " || iot_fail "installed iot-agent --version"
"$root/usr/bin/iot-cloud" --version | grep -q "^iot-cloud " || iot_fail "installed iot-cloud --version"

# Units: hardened, a dedicated user, a state directory, restart, sd_notify readiness + watchdog.
for u in iot-agent iot-cloud; do
    unit=$root/usr/lib/systemd/system/$u.service
    for k in "Type=notify" "User=$u" "StateDirectory=$u" "NoNewPrivileges=yes" "ProtectSystem=strict" \
             "PrivateTmp=yes" "WatchdogSec=" "Restart="; do
        grep -q "^$k" "$unit" || iot_fail "$u.service lacks $k"
    done
done
if command -v systemd-analyze >/dev/null; then
    # verify resolves ExecStart against the real /usr/bin: point it at the unpacked binaries.
    for u in iot-agent iot-cloud; do
        sed "s|ExecStart=/usr/bin/|ExecStart=$root/usr/bin/|" "$root/usr/lib/systemd/system/$u.service" \
            >"$IOT_WORK/$u.service"
        systemd-analyze verify "$IOT_WORK/$u.service" >"$IOT_WORK/verify-$u.log" 2>&1 ||
            { cat "$IOT_WORK/verify-$u.log" >&2; iot_fail "systemd-analyze verify $u.service"; }
    done
else
    iot_fail "systemd-analyze not found (install systemd)"
fi

# The example configs parse: with the PKI files they name present, the binaries start their checks.
# (Here: a missing certificate must be reported by file name, proving the config itself was accepted.)
out=$("$root/usr/bin/iot-agent" -c "$root/etc/iot/agent.conf" 2>&1 || true)
echo "$out" | grep -q "/etc/iot/pki/" || iot_fail "installed agent.conf not accepted: $out"
out=$("$root/usr/bin/iot-cloud" -c "$root/etc/iot/cloud.conf" 2>&1 || true)
echo "$out" | grep -q "/etc/iot/pki/" || iot_fail "installed cloud.conf not accepted: $out"
echo "PASS package"
