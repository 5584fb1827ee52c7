#!/usr/bin/env bash
# h2.sh -- HTTP/2 to the proxy, HTTP/1.1 keep-alive behind it: lbd beside HAProxy with h2 on the
# frontend, h2load as the client, the three nginx origins of anchors.sh as the servers.
#
#   LBD=/path/to/lbd ./h2.sh          (scripts/bench-h2 builds a Release lbd and runs this)
#
# Columns (all on 127.0.0.1, every proxy with one worker/thread pinned to $SUT_CPU):
#   haproxy-h2c :18097  HAProxy `bind ... proto h2` (h2c, prior knowledge)   conf/haproxy-h2.cfg
#   lbd-h2c     :18099  lbd listener with `h2c = true`                        tests/bench/conf/lbd-h2.toml
#   haproxy-h2s :18098  HAProxy `bind ... ssl alpn h2` (TLS, ALPN h2)         same file
#   lbd-h2s     :18100  lbd listener with [listener.tls] (ALPN h2)            same file
# Both forward over HTTP/1.1 keep-alive, round robin over the origins 127.0.0.1:18081..18083
# (nginx, 1 worker each, `GET /` -> 200 "ok\n"), which run with h2load on $LOAD_CPU.
#
# Each measurement: `h2load -t1 -c$CONNS -m$STREAMS -D$DURATION` on one column; the SUT's CPU
# time is utime+stime of its process tree from /proc/PID/stat before and after, the request count
# is h2load's "succeeded". Rounds are interleaved (lbd, haproxy, haproxy, lbd, ... the order
# flips every round) so drift on a shared machine lands on both as spread, not as bias.
#
# Knobs (environment): DURATION=5 RUNS=5 CONNS=50 STREAMS=10 MODES=h2c,h2s SUT_CPU=0 LOAD_CPU=1
#   WARMUP=1 (seconds per column before measuring), OUT (results folder), LBD (lbd binary).
# Bounded: every h2load run is time-bounded (-D, wrapped in `timeout`); at exit only the
# processes this script started are stopped, by PID (TERM, then KILL for their own trees).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CONF=$HERE/conf
RUN=/tmp/lbbench                    # fixed: the config files reference it
DURATION=${DURATION:-5}
RUNS=${RUNS:-5}
CONNS=${CONNS:-50}
STREAMS=${STREAMS:-10}
MODES=${MODES:-h2c,h2s}
SUT_CPU=${SUT_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
WARMUP=${WARMUP:-1}
LBD=${LBD:?set LBD to the lbd binary (scripts/bench-h2 builds one)}
OUT=${OUT:-/tmp/lbbench-results/h2-$(date +%Y%m%d-%H%M%S)}
CLK_TCK=$(getconf CLK_TCK)
T0=$(date +%s)

log() { printf '[%4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

for tool in nginx haproxy h2load taskset curl openssl python3 timeout; do
    command -v "$tool" >/dev/null || die "missing $tool (scripts/deps --bench)"
done
[ -x "$LBD" ] || die "LBD=$LBD is not an executable"

STARTED_PIDS=()
LAST_PID=
tree_pids() {
    local p c
    for p in "$@"; do
        [ -d "/proc/$p" ] || continue
        echo "$p"
        for c in $(cat /proc/"$p"/task/*/children 2>/dev/null || true); do tree_pids "$c"; done
    done
}
tree_ticks() { local t=0 p v; for p in $(tree_pids "$@"); do v=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12 + $13}' || true); t=$((t + ${v:-0})); done; echo "$t"; }
all_busy_ticks() { awk '$1=="cpu"{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
start_pinned() {     # start_pinned NAME CPU "COMMAND" ; sets LAST_PID
    ( eval "exec taskset -c $2 $3" ) >"$RUN/$1.out" 2>&1 </dev/null &
    LAST_PID=$!
    STARTED_PIDS+=("$LAST_PID")
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {        # wait_port PORT PID NAME
    local i
    for i in $(seq 1 100); do
        port_open "$1" && return 0
        kill -0 "$2" 2>/dev/null || { cat "$RUN/$3.out" >&2 2>/dev/null || true; die "$3 exited before listening on $1"; }
        sleep 0.1
    done
    die "$3 not listening on 127.0.0.1:$1 after 10s"
}
cleanup() {
    local rc=$? p all=()
    trap - EXIT INT TERM
    for p in "${STARTED_PIDS[@]}"; do all+=($(tree_pids "$p")); done
    for p in "${STARTED_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
        local alive=0; for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break; sleep 0.1
    done
    for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    log "stopped ${#STARTED_PIDS[@]} started processes; results in $OUT"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- setup
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$RUN/tmp" "$RUN/www" "$RUN/h2-tls" "$OUT/raw"
for p in 18081 18082 18083 18097 18098 18099 18100; do
    port_open "$p" && die "127.0.0.1:$p already in use (another bench running?); not touching it"
done
if [ ! -s "$RUN/h2-tls/haproxy.pem" ]; then   # self-signed ECDSA P-256, as a site would use
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost \
        -keyout "$RUN/h2-tls/key.pem" -out "$RUN/h2-tls/cert.pem" 2>/dev/null
    cat "$RUN/h2-tls/cert.pem" "$RUN/h2-tls/key.pem" >"$RUN/h2-tls/haproxy.pem"
fi
{
    echo "date: $(date -Is)"; echo "host: $(uname -a)"
    echo "cpu: $(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2);print $2}') x $(nproc)"
    echo "versions: $(nginx -v 2>&1) | $(haproxy -v | head -1) | $(h2load --version) | lbd $LBD"
    echo "knobs: DURATION=$DURATION RUNS=$RUNS CONNS=$CONNS STREAMS=$STREAMS MODES=$MODES SUT_CPU=$SUT_CPU LOAD_CPU=$LOAD_CPU"
    echo "loadavg at start: $(cat /proc/loadavg)"
} >"$OUT/env.txt"

for p in 18081 18082 18083; do
    start_pinned "backend-$p" "$LOAD_CPU" "nginx -p $RUN/ -e $RUN/backend-$p.error.log -c $CONF/backend-$p.conf"
    wait_port "$p" "$LAST_PID" "backend-$p"
done
start_pinned haproxy-h2 "$SUT_CPU" "haproxy -db -f $CONF/haproxy-h2.cfg"
HAPROXY_PID=$LAST_PID; wait_port 18097 "$HAPROXY_PID" haproxy-h2
start_pinned lbd-h2 "$SUT_CPU" "$LBD -c $ROOT/tests/bench/conf/lbd-h2.toml"
LBD_PID=$LAST_PID; wait_port 18099 "$LBD_PID" lbd-h2
wait_port 18100 "$LBD_PID" lbd-h2
log "origins on cpu $LOAD_CPU; haproxy pid=$HAPROXY_PID, lbd pid=$LBD_PID on cpu $SUT_CPU"

declare -A T_URL T_PID
TARGETS=()
IFS=',' read -ra MODE_LIST <<<"$MODES"
for m in "${MODE_LIST[@]}"; do
    case $m in
        h2c) T_URL[lbd-h2c]=http://127.0.0.1:18099/; T_URL[haproxy-h2c]=http://127.0.0.1:18097/
             TARGETS+=(lbd-h2c haproxy-h2c) ;;
        h2s) T_URL[lbd-h2s]=https://127.0.0.1:18100/; T_URL[haproxy-h2s]=https://127.0.0.1:18098/
             TARGETS+=(lbd-h2s haproxy-h2s) ;;
        *) die "unknown mode $m (h2c, h2s)" ;;
    esac
done
for t in "${TARGETS[@]}"; do T_PID[$t]=$([[ $t == lbd-* ]] && echo "$LBD_PID" || echo "$HAPROXY_PID"); done

# sanity: HTTP/2 really negotiated, the right body, and requests spread over the three origins
for t in "${TARGETS[@]}"; do
    url=${T_URL[$t]}
    h2=(--http2-prior-knowledge); [[ $url == https* ]] && h2=(--http2 -k)
    seen=$(for i in 1 2 3 4 5 6; do curl -s --max-time 5 "${h2[@]}" -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-backend"{print $2}'; done | sort -u | tr '\n' ' ' || true)
    out=$(curl -s --max-time 5 "${h2[@]}" -w ' %{http_version}' "$url") || die "$t: GET / failed"
    [ "$out" = $'ok\n 2' ] || die "$t: expected body ok over HTTP/2, got '$out'"
    log "sanity $t: HTTP/2, body ok, origins seen: $seen"
done

# ---------------------------------------------------------------- load
printf 'target\tround\trps\trequests\tfailed\tsut_ticks\tsut_us_per_req\tsut_cpu_pct\tbox_busy_pct\n' >"$OUT/h2.tsv"
measure() {          # measure TARGET ROUND
    local t=$1 r=$2 f=$OUT/raw/h2load.$1.$2.txt k0 k1 b0 b1 w0 w1
    k0=$(tree_ticks "${T_PID[$t]}"); b0=$(all_busy_ticks); w0=$(date +%s%N)
    timeout -k 2 $((DURATION + 30)) taskset -c "$LOAD_CPU" h2load -t1 -c"$CONNS" -m"$STREAMS" -D"$DURATION" \
        "${T_URL[$t]}" >"$f" 2>&1 || true
    k1=$(tree_ticks "${T_PID[$t]}"); b1=$(all_busy_ticks); w1=$(date +%s%N)
    local rps ok failed
    rps=$(awk '/^finished in/{gsub(",","",$4); print $4}' "$f")
    read -r ok failed < <(awk '/^requests:/{print $8, $10}' "$f")
    [ -n "$rps" ] && [ -n "${ok:-}" ] && [ "$ok" -gt 0 ] || { log "h2load $t #$r: no result (see $f)"; return 0; }
    local line
    line=$(awk -v t="$t" -v r="$r" -v rps="$rps" -v ok="$ok" -v fl="$failed" -v d=$((k1 - k0)) -v hz="$CLK_TCK" \
        -v db=$((b1 - b0)) -v ns=$((w1 - w0)) -v n="$(nproc)" \
        'BEGIN{w = ns / 1e9; printf "%s\t%s\t%s\t%d\t%d\t%d\t%.2f\t%.1f\t%.0f", t, r, rps, ok, fl, d, 1e6*d/hz/ok, 100*d/hz/w, 100*db/hz/w/n}')
    echo "$line" >>"$OUT/h2.tsv"
    log "h2load $t #$r: $(echo "$line" | awk -F'\t' '{printf "%s req/s, %d ok, %d failed, %s us/req, SUT %s%%, box %s%% busy", $3, $4, $5, $7, $8, $9}')"
}
if [ "$WARMUP" -gt 0 ]; then
    for t in "${TARGETS[@]}"; do
        timeout -k 2 $((WARMUP + 20)) taskset -c "$LOAD_CPU" h2load -t1 -c"$CONNS" -m"$STREAMS" -D"$WARMUP" "${T_URL[$t]}" >/dev/null 2>&1 || true
    done
    log "warm-up done (${WARMUP}s per column)"
fi
for r in $(seq 1 "$RUNS"); do
    order=("${TARGETS[@]}")
    if ((r % 2 == 0)); then   # flip the pair order every other round
        order=(); for ((i = 0; i < ${#TARGETS[@]}; i += 2)); do order+=("${TARGETS[i + 1]}" "${TARGETS[i]}"); done
    fi
    for t in "${order[@]}"; do measure "$t" "$r"; done
done
echo "loadavg at end: $(cat /proc/loadavg)" >>"$OUT/env.txt"
python3 "$HERE/tools/summarize_h2.py" "$OUT/h2.tsv" | tee "$OUT/summary.md"
log "total $(($(date +%s) - T0))s"
