#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bad configuration files for both programs: unknown sections and keys, bad values (numbers out of
# range, not numbers, bad enums, sizes, ids, addresses), syntax errors, a missing file, and TLS
# files that are missing, a directory, empty, not PEM, not parsing, the key of another certificate,
# or another device's certificate. Each run must end at once with the documented exit status
# (iot-agent 2, iot-cloud 1), one message on stderr naming the file (and line and key where there
# is one) and what is wrong, never a crash (no signal, no sanitizer report) and never a start.
# Then certificates the agent can start with but must warn about: expired (an error in the log)
# and not yet valid (a warning about the clock).
set -euo pipefail
. "$(dirname "$0")/../support/lib.sh"
iot_test_init badinput-config
pki=$IOT_WORK/pki
iot_pki_init "$pki" 8883
"$IOT_PKI_BIN" device "$pki" dev-1 dev-2 >/dev/null
"$IOT_PKI_BIN" device "$pki" dev-old --not-before-days -10 --days 1 >/dev/null
"$IOT_PKI_BIN" device "$pki" dev-future --not-before-days 30 --days 10 >/dev/null
mkdir -p "$IOT_WORK/adir"
: >"$IOT_WORK/empty.pem"
printf 'not a certificate\n' >"$IOT_WORK/text.pem"
printf -- '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n' >"$IOT_WORK/badb64.pem"
tried=0

# expect PROGRAM WANT_STATUS REGEX CONF_TEXT: run PROGRAM -c FILE; check status and message.
expect() {
    local prog=$1 want=$2 re=$3 conf=$IOT_WORK/case-$tried.conf bin rc=0
    printf '%s\n' "$4" >"$conf"
    case $prog in
    agent) bin=$IOT_AGENT_BIN ;;
    cloud) bin=$IOT_CLOUD_BIN ;;
    esac
    timeout 10 "$bin" -c "$conf" >"$IOT_WORK/out" 2>&1 || rc=$?
    tried=$((tried + 1))
    [[ $rc =~ ^($want)$ ]] || iot_fail "$prog case $tried: exit $rc, want $want; output: $(head -c 400 "$IOT_WORK/out"); config: $4"
    grep -qE -- "$re" "$IOT_WORK/out" || iot_fail "$prog case $tried: message does not match /$re/: $(head -c 400 "$IOT_WORK/out")"
    grep -q "case-$((tried - 1)).conf\|$conf" "$IOT_WORK/out" ||
        [ "${NO_FILE_NAME:-}" = 1 ] || iot_fail "$prog case $tried: the file is not named: $(head -c 300 "$IOT_WORK/out")"
    if grep -qE 'AddressSanitizer|runtime error|Segmentation|core dumped' "$IOT_WORK/out"; then
        iot_fail "$prog case $tried crashed: $(head -c 400 "$IOT_WORK/out")"
    fi
}

agent_ok=$(iot_agent_conf "$pki" 8883 dev-1 "$IOT_WORK/state" 1000 0)
cloud_ok=$(iot_cloud_conf "$pki" 8883 "$IOT_WORK/db" 8080)

# --- iot-agent: exit 2 -------------------------------------------------------------------------
A() { expect agent 2 "$1" "$2"; }
F() { NO_FILE_NAME=1 expect agent 2 "$1" "$2"; } # TLS files: checked before start-up
A ':[0-9]+: \[device\] colour' "$agent_ok"$'\n[device]\ncolour = blue'
A 'unknown|section' "$agent_ok"$'\n[nonsense]\nx = 1'
A ':[0-9]+: \[mqtt\] port' "$agent_ok"$'\n[mqtt]\nport = 99999'
A ':[0-9]+: \[mqtt\] port' "$agent_ok"$'\n[mqtt]\nport = eighty'
A ':[0-9]+: \[mqtt\] port' "$agent_ok"$'\n[mqtt]\nport = -1'
A ':[0-9]+: \[telemetry\] interval_ms' "$agent_ok"$'\n[telemetry]\ninterval_ms = 0'
A ':[0-9]+: \[telemetry\] interval_ms' "$agent_ok"$'\n[telemetry]\ninterval_ms = 18446744073709551617'
A ':[0-9]+: \[device\] id' "$agent_ok"$'\n[device]\nid = ../../etc'
A ':[0-9]+: \[device\] id' "$agent_ok"$'\n[device]\nid = '"$(head -c 65 /dev/zero | tr '\0' a)"
A ':[0-9]+: \[store\] max_bytes' "$agent_ok"$'\n[store]\nmax_bytes = 12Q'
A ':[0-9]+: \[store\] fsync' "$agent_ok"$'\n[store]\nfsync = sometimes'
A ':[0-9]+: \[sensors\] simulated' "$agent_ok"$'\n[sensors]\nsimulated = temperature,warp_drive'
A ':[0-9]+: \[log\] level' "$agent_ok"$'\n[log]\nlevel = loud'
A ':[0-9]+: \[command\.' "$agent_ok"$'\n[command.x]\nexec = relative/path'
A ':[0-9]+' "$agent_ok"$'\n[telemetry\ninterval_ms = 5'
A ':[0-9]+' "$agent_ok"$'\nthis line has no equals sign'
A 'id' "$(grep -v '^id = ' <<<"$agent_ok")"
F 'cert_file.*(missing|no such|cannot)' "$(sed "s|^cert_file = .*|cert_file = $IOT_WORK/nope.crt|" <<<"$agent_ok")"
F 'cert_file' "$(sed "s|^cert_file = .*|cert_file = $IOT_WORK/adir|" <<<"$agent_ok")"
F 'ca_file' "$(sed "s|^ca_file = .*|ca_file = $IOT_WORK/empty.pem|" <<<"$agent_ok")"
F 'key_file' "$(sed "s|^key_file = .*|key_file = $IOT_WORK/text.pem|" <<<"$agent_ok")"
F 'cert_file.*badb64.pem' "$(sed "s|^cert_file = .*|cert_file = $IOT_WORK/badb64.pem|" <<<"$agent_ok")"
F "certificate of 'dev-2', not of this device 'dev-1'" "$(sed -e "s|/dev-1\.crt|/dev-2.crt|" -e "s|/dev-1\.key|/dev-2.key|" <<<"$agent_ok")"
F 'dev-2.key is not the key of certificate .*dev-1.crt' "$(sed "s|/dev-1\.key|/dev-2.key|" <<<"$agent_ok")"
NO_FILE_NAME=1 expect agent '1|2' 'public_key_file' "$agent_ok"$'\n[commands]\nenabled = true\npublic_key_file = '"$IOT_WORK/nope.pub"
rc=0
timeout 10 "$IOT_AGENT_BIN" -c "$IOT_WORK/does-not-exist.conf" >"$IOT_WORK/out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q 'does-not-exist.conf' "$IOT_WORK/out" ||
    iot_fail "agent with a missing config file: exit $rc: $(cat "$IOT_WORK/out")"
tried=$((tried + 1))
iot_log "ok: iot-agent refused $tried bad configurations with exit 2 and the file, line and key"

# Certificates that parse and match but are out of their validity period: the agent starts (its
# clock may be the wrong one; a renewed file can be put in place) and says what is wrong.
for c in "dev-old:expired on .* the broker will refuse it" "dev-future:is not valid before .* is the clock synchronised"; do
    dev=${c%%:*}
    conf=$IOT_WORK/$dev.conf
    iot_agent_conf "$pki" 8883 "$dev" "$IOT_WORK/state-$dev" 1000 0 >"$conf"
    rc=0
    timeout 3 "$IOT_AGENT_BIN" -c "$conf" >"$IOT_WORK/$dev.out" 2>&1 || rc=$?
    [ "$rc" = 124 ] || iot_fail "agent with the $dev certificate did not keep running (exit $rc): $(head -c 400 "$IOT_WORK/$dev.out")"
    grep -qE "certificate .*$dev.crt ${c#*:}" "$IOT_WORK/$dev.out" ||
        iot_fail "agent with the $dev certificate did not say so: $(head -c 600 "$IOT_WORK/$dev.out")"
done
iot_log "ok: an expired and a not-yet-valid certificate are named in the agent's log"

# --- iot-cloud: exit 1 -------------------------------------------------------------------------
n_agent=$tried
C() { expect cloud 1 "$1" "$2"; }
C ':[0-9]+: .*colour' "$cloud_ok"$'\n[cloud]\ncolour = blue'
C ':[0-9]+' "$cloud_ok"$'\n[nonsense]\nx = 1'
C ':[0-9]+: .*port' "$cloud_ok"$'\n[http]\nport = 70000'
C ':[0-9]+: .*port' "$cloud_ok"$'\n[mqtt]\nport = x'
C ':[0-9]+: .*queue_max' "$cloud_ok"$'\n[mqtt]\nqueue_max = 0'
C ':[0-9]+: .*level' "$cloud_ok"$'\n[log]\nlevel = loud'
C ':[0-9]+: (.*token|syntax)' "$cloud_ok"$'\n[http]\ntoken = '"$(head -c 5000 /dev/zero | tr '\0' t)"
C ':[0-9]+' "$cloud_ok"$'\n[http\nport = 1'
NO_FILE_NAME=1 C 'listen' "$cloud_ok"$'\n[http]\nlisten = not-an-address'
NO_FILE_NAME=1 C 'cert_file' "$(sed "s|^cert_file = .*|cert_file = $IOT_WORK/nope.crt|" <<<"$cloud_ok")"
NO_FILE_NAME=1 C 'ca_file|cert_file|key_file' "$(sed "s|^ca_file = .*|ca_file = $IOT_WORK/adir|" <<<"$cloud_ok")"
NO_FILE_NAME=1 C 'signing_key_file' "$(sed "s|^signing_key_file = .*|signing_key_file = $IOT_WORK/nope.key|" <<<"$cloud_ok")"
NO_FILE_NAME=1 C 'signing_key_file|cmd|sign' "$(sed "s|^signing_key_file = .*|signing_key_file = $IOT_WORK/text.pem|" <<<"$cloud_ok")"
rc=0
timeout 10 "$IOT_CLOUD_BIN" -c "$IOT_WORK/does-not-exist.conf" >"$IOT_WORK/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q 'does-not-exist.conf' "$IOT_WORK/out" ||
    iot_fail "cloud with a missing config file: exit $rc: $(cat "$IOT_WORK/out")"
tried=$((tried + 1))
iot_log "ok: iot-cloud refused $((tried - n_agent)) bad configurations with exit 1 and a message naming what is wrong"
echo "PASS badinput_config: $tried bad configurations refused cleanly"
