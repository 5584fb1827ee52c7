#!/usr/bin/env bash
# anchors.sh -- side-by-side baseline of the proxies a user would pick instead of lbd:
#   direct (nginx origin, the ceiling) | haproxy-http | haproxy-tcp | haproxy-tcp-splice |
#   nginx-http | nginx-stream
# Everything runs on loopback (127.0.0.1), every load run is bounded in time, and
# only the processes this script starts are stopped (by PID) at exit.
#
# Layout on a 2-core box:  CPU $SUT_CPU = system under test (one proxy, 1 worker/thread)
#                          CPU $LOAD_CPU = wrk (1 thread) + the 3 origin nginx (1 worker each)
#
# Usage:   ./anchors.sh                      (about 6.5 minutes with the defaults; root not needed)
# Knobs (environment):
#   DURATION=5 RUNS=3 CONNS=50          wrk seconds per run, runs per cell, concurrent conns
#   CASES=small,64k,1m,close            which load cases
#   ONLY=haproxy-http,nginx-http        run only these columns (the origins always start)
#   SKIP_MEM=1                          skip the idle-connection memory test
#   MEM_CONNS=9900 HOLD=10 MEM_MODE=req idle-conn test: conns, hold seconds, idle|req
#   SUT_CPU=0 LOAD_CPU=1                CPU pinning
#   NOISE_MAX_PCT=5 NOISE_RETRIES=2 TIME_BUDGET=420
#                                       re-measure a run (bounded) when other processes on the box
#                                       used > NOISE_MAX_PCT % of a CPU during it; see noisy.tsv
#   EXTRA_TARGETS='name|port|command;name2|port2|command2'
#       add columns without editing this file, e.g. lbd (scripts/bench-proxy does this):
#       EXTRA_TARGETS='lbd-tcp|18095|$ROOT/build-release/lbd/lbd -c $ROOT/tests/bench/conf/lbd-tcp.toml'
#       The command must stay in the foreground (no daemonizing), listen on 127.0.0.1:port
#       and round-robin over 127.0.0.1:18081..18083. It is started pinned to $SUT_CPU.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF=$HERE/conf
RUN=/tmp/lbbench                    # fixed: the config files reference it
DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
CONNS=${CONNS:-50}
CASES=${CASES:-small,64k,1m,close}
ONLY=${ONLY:-}
SKIP_MEM=${SKIP_MEM:-0}
MEM_CONNS=${MEM_CONNS:-9900}        # 2 fds per conn in an L4 proxy; fd hard limit here is 20000
HOLD=${HOLD:-10}
MEM_MODE=${MEM_MODE:-req}
SUT_CPU=${SUT_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
WARMUP=${WARMUP:-1}                 # seconds of small-case load per target before measuring
NOISE_MAX_PCT=${NOISE_MAX_PCT:-5}   # a run during which other processes used more CPU than this (% of one CPU) ...
NOISE_RETRIES=${NOISE_RETRIES:-2}   # ... is measured again, at most this many times ...
TIME_BUDGET=${TIME_BUDGET:-420}     # ... and only while the script has run for less than this many seconds
OUT=${OUT:-/tmp/lbbench-results/$(date +%Y%m%d-%H%M%S)}   # this folder may be read-only
RAW=$OUT/raw
CLK_TCK=$(getconf CLK_TCK)
T0=$(date +%s)

log() { printf '[%4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

for tool in nginx haproxy wrk taskset curl cc python3 timeout; do
    command -v "$tool" >/dev/null || die "missing $tool (apt-get install haproxy nginx libnginx-mod-stream wrk curl gcc)"
done
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || die "nginx stream module missing (apt-get install libnginx-mod-stream)"

# ---------------------------------------------------------------- process bookkeeping
STARTED_PIDS=()      # every PID this script started; only these (and their descendants) are stopped
LAST_PID=
TARGETS=()           # column order
declare -A T_PORT T_PID

tree_pids() {        # PID and all its descendants
    local p c
    for p in "$@"; do
        [ -d "/proc/$p" ] || continue
        echo "$p"
        for c in $(cat /proc/"$p"/task/*/children 2>/dev/null || true); do tree_pids "$c"; done
    done
}
tree_rss_kb() { local t=0 p v; for p in $(tree_pids "$@"); do v=$(awk '/^VmRSS:/{print $2}' /proc/"$p"/status 2>/dev/null || true); t=$((t + ${v:-0})); done; echo "$t"; }
tree_ticks()  { local t=0 p v; for p in $(tree_pids "$@"); do v=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12 + $13}' || true); t=$((t + ${v:-0})); done; echo "$t"; }
cpu_snap()    { awk -v a="cpu$SUT_CPU" -v b="cpu$LOAD_CPU" '$1==a||$1==b{t=0; for(i=2;i<=9;i++)t+=$i; printf "%s %d %d %d ", $1, t, $5+$6, $9}' /proc/stat; }
busy_pct()    { # busy_pct "SNAP_BEFORE" "SNAP_AFTER" cpuN -> busy% of that cpu (user+sys+irq+steal)
    awk -v c="$3" -v s0="$1" -v s1="$2" 'BEGIN{n=split(s0,a," "); split(s1,b," ");
        for(i=1;i<=n;i+=4) if(a[i]==c){dt=b[i+1]-a[i+1]; di=b[i+2]-a[i+2]; printf "%.0f", (dt>0 ? 100*(dt-di)/dt : 0)}}'; }
slab_kb()     { awk '/^Slab:/{print $2}' /proc/meminfo; }
forks()       { awk '/^processes /{print $2}' /proc/stat; }
proc_snap()   { # "pid ppid ticks" for every process (noise detection)
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '{l=$0; match(l, /^.*\) /); split(substr(l, RSTART+RLENGTH), f, " "); print $1, f[2], f[12]+f[13]}'; }
foreign_ticks() { # foreign_ticks SNAP_BEFORE_FILE SNAP_AFTER_FILE "pids to ignore" -> "user_ticks kthread_ticks"
    awk -v ours="$3" 'BEGIN{n=split(ours,o," "); for(i=1;i<=n;i++) skip[o[i]]=1}
        FNR==NR{b[$1]=$3; next}
        ($1 in b) && !($1 in skip){d=$3-b[$1]; if(d>0){ if($2==2||$1==2) k+=d; else u+=d }}
        END{printf "%d %d", u, k}' "$1" "$2"; }

start_pinned() {     # start_pinned NAME CPU "COMMAND" ; sets LAST_PID
    local name=$1 cpu=$2 cmd=$3
    ( eval "exec taskset -c $cpu $cmd" ) >"$RUN/$name.out" 2>&1 < /dev/null &
    LAST_PID=$!
    STARTED_PIDS+=("$LAST_PID")
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {        # wait_port PORT PID NAME
    local i
    for i in $(seq 1 100); do
        port_open "$1" && return 0
        kill -0 "$2" 2>/dev/null || { cat "$RUN/$3.out" "$RUN/$3.error.log" 2>/dev/null >&2; die "$3 exited before listening on $1"; }
        sleep 0.1
    done
    die "$3 not listening on 127.0.0.1:$1 after 10s"
}
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

# add_target NAME PORT "COMMAND": start a proxy pinned to $SUT_CPU and make it a column.
add_target() {
    local name=$1 port=$2 cmd=$3
    want "$name" || return 0
    port_open "$port" && die "127.0.0.1:$port already in use (left over from an earlier run?); not touching it"
    start_pinned "$name" "$SUT_CPU" "$cmd"
    wait_port "$port" "$LAST_PID" "$name"
    TARGETS+=("$name"); T_PORT[$name]=$port; T_PID[$name]=$LAST_PID
    log "started $name on 127.0.0.1:$port pid=$LAST_PID (cpu $SUT_CPU)"
}
# add_running_target NAME PORT PID: a proxy started by someone else; measured, never stopped.
add_running_target() { want "$1" || return 0; TARGETS+=("$1"); T_PORT[$1]=$2; T_PID[$1]=$3; log "using running $1 on :$2 pid=$3"; }

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
set -E
trap 'log "error: line $LINENO: $BASH_COMMAND (exit $?)"' ERR

# ---------------------------------------------------------------- setup
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p "$RUN/tmp" "$RUN/www" "$RAW"
chmod 755 "$RUN" "$RUN/www"
[ -s "$RUN/www/64k.bin" ] || head -c 65536 /dev/urandom >"$RUN/www/64k.bin"
[ -s "$RUN/www/1m.bin" ]  || head -c 1048576 /dev/urandom >"$RUN/www/1m.bin"
chmod 644 "$RUN"/www/*.bin
cc -O2 -Wall -o "$RUN/holdconns" "$HERE/tools/holdconns.c"
rm -f "$RUN"/*.error.log "$RUN"/*.sock

{
    echo "date: $(date -Is)"; echo "host: $(uname -a)"
    echo "cpu: $(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2);print $2}') x $(nproc)"; free -m | head -2
    echo "versions: $(nginx -v 2>&1) | $(haproxy -v | head -1) | $(wrk -v 2>&1 | head -1 || true)"
    dpkg-query -W -f='${Package}=${Version}\n' nginx nginx-common libnginx-mod-stream haproxy wrk 2>/dev/null || true
    echo "ulimit -n: $(ulimit -n) (hard $(ulimit -Hn))"
    sysctl net.core.somaxconn net.ipv4.ip_local_port_range net.ipv4.tcp_tw_reuse net.ipv4.tcp_max_tw_buckets 2>/dev/null || true
    echo "knobs: DURATION=$DURATION RUNS=$RUNS CONNS=$CONNS CASES=$CASES MEM_CONNS=$MEM_CONNS HOLD=$HOLD MEM_MODE=$MEM_MODE SUT_CPU=$SUT_CPU LOAD_CPU=$LOAD_CPU WARMUP=$WARMUP NOISE_MAX_PCT=$NOISE_MAX_PCT NOISE_RETRIES=$NOISE_RETRIES TIME_BUDGET=$TIME_BUDGET"
    echo "loadavg at start: $(cat /proc/loadavg)"
    echo "top CPU consumers at start:"; ps -eo pid,pcpu,etime,comm --sort=-pcpu | head -8 || true
} >"$OUT/env.txt" 2>&1

# origins: 3 backends on the load CPU (1 worker each)
for p in 18081 18082 18083; do
    port_open "$p" && die "127.0.0.1:$p already in use; not touching it"
    start_pinned "backend-$p" "$LOAD_CPU" "nginx -p $RUN/ -e $RUN/backend-$p.error.log -c $CONF/backend-$p.conf"
    wait_port "$p" "$LAST_PID" "backend-$p"
done
log "origins up on 127.0.0.1:18081-18083 (cpu $LOAD_CPU)"

# ---------------------------------------------------------------- systems under test (columns)
add_target direct       18080 "nginx -p $RUN/ -e $RUN/direct.error.log -c $CONF/backend-18080.conf"
add_target haproxy-http 18090 "haproxy -db -f $CONF/haproxy-http.cfg"
add_target haproxy-tcp  18091 "haproxy -db -f $CONF/haproxy-tcp.cfg"
add_target haproxy-tcp-splice 18096 "haproxy -db -f $CONF/haproxy-tcp-splice.cfg"
add_target nginx-http   18092 "nginx -p $RUN/ -e $RUN/nginx-http.error.log -c $CONF/nginx-http.conf"
add_target nginx-stream 18093 "nginx -p $RUN/ -e $RUN/nginx-stream.error.log -c $CONF/nginx-stream.conf"
# ---- more columns: EXTRA_TARGETS (scripts/bench-proxy adds lbd-tcp on 18095, lbd-http on 18094)
if [ -n "${EXTRA_TARGETS:-}" ]; then
    IFS=';' read -ra _extra <<<"$EXTRA_TARGETS"
    for e in "${_extra[@]}"; do
        [ -n "${e//[[:space:]]/}" ] || continue
        IFS='|' read -r _n _p _c <<<"$e"
        add_target "$_n" "$_p" "$_c"
    done
fi
[ ${#TARGETS[@]} -gt 0 ] || die "no targets selected"

# pinning + sanity: correct bodies, and round-robin over the 3 origins for proxies
{
    for t in "${TARGETS[@]}"; do for p in $(tree_pids "${T_PID[$t]}"); do
        echo "$t pid $p affinity $(taskset -pc "$p" | awk '{print $NF}') $(ps -o comm= -p "$p")"; done; done
} >"$OUT/pinning.txt"
for t in "${TARGETS[@]}"; do
    port=${T_PORT[$t]}
    body=$(curl -s --max-time 5 "http://127.0.0.1:$port/") || die "$t: GET / failed"
    [ "$body" = "ok" ] || die "$t: GET / returned '$body'"
    for f in 64k.bin:65536 1m.bin:1048576; do
        n=$(curl -s --max-time 5 -o /dev/null -w '%{size_download}' "http://127.0.0.1:$port/${f%%:*}")
        [ "$n" = "${f##*:}" ] || die "$t: /${f%%:*} returned $n bytes"
    done
    seen=$(for i in 1 2 3 4 5 6; do curl -s --max-time 5 -D - -o /dev/null "http://127.0.0.1:$port/" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-backend"{print $2}'; done | sort -u | tr '\n' ' ' || true)
    log "sanity $t: bodies ok; backends seen: $seen"
    echo "$t backends_seen: $seen" >>"$OUT/pinning.txt"
done

# ---------------------------------------------------------------- memory: N idle conns held through each target
printf 'target\tmode\tconns_ok\tconns_failed\trss_base_kB\trss_held_kB\trss_after_kB\trss_per_conn_B\tslab_delta_kB\tslab_per_conn_B\n' >"$OUT/mem.tsv"
mem_test() {
    local t=$1 port=${T_PORT[$1]} pid=${T_PID[$1]} f=$RAW/mem.$1.txt
    local base slab0 held slab1 after ok failed hp i
    sleep 1
    base=$(tree_rss_kb "$pid"); slab0=$(slab_kb)
    timeout -k 2 $((HOLD + 75)) taskset -c "$LOAD_CPU" "$RUN/holdconns" 127.0.0.1 "$port" "$MEM_CONNS" "$HOLD" "$MEM_MODE" 60 >"$f" 2>&1 &
    hp=$!; STARTED_PIDS+=("$hp")
    for i in $(seq 1 700); do grep -q '^READY' "$f" 2>/dev/null && break; kill -0 "$hp" 2>/dev/null || break; sleep 0.1; done
    sleep 2
    held=$(tree_rss_kb "$pid"); slab1=$(slab_kb)
    echo "held: rss=${held}kB slab=${slab1}kB $(grep '^TCP:' /proc/net/sockstat)" >>"$f"
    wait "$hp" || true
    sleep 1
    after=$(tree_rss_kb "$pid")
    ok=$(sed -n 's/^READY .*ok=\([0-9]*\).*/\1/p' "$f"); ok=${ok:-0}
    failed=$(sed -n 's/^READY .*failed=\([0-9]*\).*/\1/p' "$f"); failed=${failed:-$MEM_CONNS}
    [ "$ok" -gt 0 ] || { log "mem $t: no connections established"; ok=1; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$MEM_MODE" "$ok" "$failed" "$base" "$held" "$after" \
        $(( (held - base) * 1024 / ok )) $((slab1 - slab0)) $(( (slab1 - slab0) * 1024 / ok )) >>"$OUT/mem.tsv"
    log "mem $t: $ok conns, RSS ${base} -> ${held} kB ($(( (held - base) * 1024 / ok )) B/conn), after close ${after} kB"
}
if [ "$SKIP_MEM" != 1 ]; then
    for t in "${TARGETS[@]}"; do mem_test "$t"; done
fi

# ---------------------------------------------------------------- load: wrk, interleaved rounds
WRK_COLS='rps\tmbps\tp50_us\tp99_us\terrors\tsut_cpu_pct\tsut_us_per_req\tcpu_sut_busy\tcpu_load_busy\tother_cpu_pct\tkthread_cpu_pct\tforks'
printf "target\tcase\tround\t$WRK_COLS\tretries\n" >"$OUT/wrk.tsv"
printf "target\tcase\tround\tattempt\t$WRK_COLS\n" >"$OUT/noisy.tsv"
case_args() {        # -> path and extra wrk args for a case
    case $1 in
        small) echo "/" ;;
        64k)   echo "/64k.bin" ;;
        1m)    echo "/1m.bin" ;;
        close) echo "/ close" ;;
        *)     die "unknown case $1" ;;
    esac
}
measure_wrk() {      # measure_wrk TARGET CASE ROUND ATTEMPT -> sets ROW (TSV fields after target/case/round) and OTHER_PCT
    local t=$1 c=$2 r=$3 a=$4 port=${T_PORT[$1]} pid=${T_PID[$1]} path extra f line
    read -r path extra <<<"$(case_args "$c")"
    f=$RAW/wrk.$t.$c.$r.try$a.txt
    local hdr=(); [ "$extra" = close ] && hdr=(-H 'Connection: close')
    local k0 k1 s0 s1 f0 f1 ours
    ours="$$ $(for p in "${STARTED_PIDS[@]}" "${T_PID[@]}"; do tree_pids "$p"; done | tr '\n' ' ')"
    proc_snap >"$RUN/snap0"; f0=$(forks)
    k0=$(tree_ticks "$pid"); s0=$(cpu_snap)
    timeout -k 2 $((DURATION + 20)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
        -s "$HERE/tools/report.lua" "${hdr[@]}" "http://127.0.0.1:$port$path" >"$f" 2>&1 || true
    k1=$(tree_ticks "$pid"); s1=$(cpu_snap)
    f1=$(forks); proc_snap >"$RUN/snap1"
    local fu fk; read -r fu fk <<<"$(foreign_ticks "$RUN/snap0" "$RUN/snap1" "$ours")"
    ROW=; OTHER_PCT=0
    line=$(grep '^RESULT' "$f" || true)
    [ -n "$line" ] || { log "wrk $t $c #$r produced no result (see $f)"; return 0; }
    local kv; declare -A m
    for kv in ${line#RESULT }; do m[${kv%%=*}]=${kv#*=}; done
    local errors=$(( m[err_connect] + m[err_read] + m[err_write] + m[err_status] + m[err_timeout] ))
    local dt=$((k1 - k0)) sut_pct sut_us kth_pct
    sut_pct=$(awk -v d="$dt" -v hz="$CLK_TCK" -v s="${m[duration_s]}" 'BEGIN{printf "%.1f", 100*d/hz/s}')
    sut_us=$(awk -v d="$dt" -v hz="$CLK_TCK" -v n="${m[requests]}" 'BEGIN{printf "%.2f", (n>0 ? 1e6*d/hz/n : 0)}')
    OTHER_PCT=$(awk -v d="$fu" -v hz="$CLK_TCK" -v s="${m[duration_s]}" 'BEGIN{printf "%.1f", 100*d/hz/s}')
    kth_pct=$(awk -v d="$fk" -v hz="$CLK_TCK" -v s="${m[duration_s]}" 'BEGIN{printf "%.1f", 100*d/hz/s}')
    ROW=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "${m[rps]}" "${m[mbps]}" "${m[p50_us]}" "${m[p99_us]}" \
        "$errors" "$sut_pct" "$sut_us" "$(busy_pct "$s0" "$s1" "cpu$SUT_CPU")" "$(busy_pct "$s0" "$s1" "cpu$LOAD_CPU")" \
        "$OTHER_PCT" "$kth_pct" $((f1 - f0)))
    log "wrk $t $c #$r$([ "$a" -gt 0 ] && echo " (try $a)"): ${m[rps]} req/s ${m[mbps]} MB/s p50=${m[p50_us]}us p99=${m[p99_us]}us errors=$errors sut=${sut_pct}% ${sut_us}us/req other-procs=${OTHER_PCT}% forks=$((f1 - f0))"
}
run_wrk() {          # run_wrk TARGET CASE ROUND: measure; re-measure (bounded) while other processes disturb the run
    local a
    for a in $(seq 0 "$NOISE_RETRIES"); do
        measure_wrk "$1" "$2" "$3" "$a"
        [ -n "$ROW" ] || return 0
        if awk -v o="$OTHER_PCT" -v lim="$NOISE_MAX_PCT" 'BEGIN{exit !(o <= lim)}'; then break; fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$a" "$ROW" >>"$OUT/noisy.tsv"
        if [ "$a" -ge "$NOISE_RETRIES" ] || [ $(( $(date +%s) - T0 )) -ge "$TIME_BUDGET" ]; then
            log "  keeping noisy run (other processes ${OTHER_PCT}% > ${NOISE_MAX_PCT}%; retries or time budget used up)"; break
        fi
        log "  other processes used ${OTHER_PCT}% of a CPU (> ${NOISE_MAX_PCT}%): measuring again"
    done
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$ROW" "$a" >>"$OUT/wrk.tsv"
}
IFS=',' read -ra CASE_LIST <<<"$CASES"
if [ "$WARMUP" -gt 0 ]; then
    for t in "${TARGETS[@]}"; do
        timeout -k 2 $((WARMUP + 10)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://127.0.0.1:${T_PORT[$t]}/" >/dev/null 2>&1 || true
    done
    log "warm-up done (${WARMUP}s per target)"
fi
for r in $(seq 1 "$RUNS"); do
    for c in "${CASE_LIST[@]}"; do
        for t in "${TARGETS[@]}"; do run_wrk "$t" "$c" "$r"; done
    done
done

echo "loadavg at end: $(cat /proc/loadavg)" >>"$OUT/env.txt"
for t in "${TARGETS[@]}"; do for lf in "$RUN/$t.error.log" "$RUN/$t.out"; do
    [ -s "$lf" ] && { echo "== $lf (last lines)"; tail -5 "$lf"; }; done; done >>"$OUT/env.txt" 2>&1 || true
python3 "$HERE/tools/summarize.py" "$OUT" | tee "$OUT/summary.md"
log "total $(( $(date +%s) - T0 ))s"
