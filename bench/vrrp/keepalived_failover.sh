#!/usr/bin/env bash
# End-to-end VRRPv3 failover benchmark inside network namespaces.
#
#   topology up -> multicast check -> for each advert_int: start the two VRRP
#   daemons, run REPS x METHODS failure trials while the client probes the VIP,
#   restore lbA and measure preemption -> analyse -> print table -> topology down
#
# Run as root:   ./keepalived_failover.sh
# Swap daemon:   DAEMON=vrrpd VRRPD_BIN=... ./keepalived_failover.sh   (drivers/vrrpd.sh;
#                scripts/bench-vrrp does this)
#          or:   VRRP_DRIVER=/path/to/driver.sh ./keepalived_failover.sh
# Knobs (env):   ADVERTS="1 0.1 0.01"  METHODS="sigkill linkdown sigterm partition"
#                REPS=3  PROBE_INTERVAL=0.002  PROBE_TIMEOUT=0.05  RUN_LIMIT=420
#                PREEMPT_LIMIT=<s> (default 6*advert_int+3; raise it to watch how long
#                a client stays on a stale ARP entry after a partition heals)
#                PARTITION_QUIET=6 (s since lbA last became master before a partition
#                trial, so a delayed GARP burst from that transition -- keepalived's
#                vrrp_garp_master_delay, 5 s -- cannot hide a stale client ARP entry)
#                OUT=<results dir>  REF_PCAP=<where to save the reference capture>
#
# Failure methods (applied to lbA, the master):
#   sigkill   SIGSTOP+SIGKILL every daemon process (crash: no exit handler runs)
#   linkdown  `ip link set pA down` on the switch side of lbA's veth: lbA loses
#             carrier (node/cable death as seen from the network)
#   sigterm   SIGTERM to the daemon's main PID: graceful stop (it should send
#             priority 0 and drop the VIP)
#   partition bridge port of lbA set to "disabled": frames dropped, carrier stays
#             up on both ends (silent partition: neither side notices locally)
# Restore: restart the daemon (sigkill, sigterm), link up (linkdown), port back to
# forwarding (partition); the time until lbA answers again is the preemption time.
#
# All traffic stays in namespaces made by topo.sh; every wait is bounded; only
# processes started here are signalled, by PID.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
DAEMON=${DAEMON:-keepalived}
VRRP_DRIVER=${VRRP_DRIVER:-$HERE/drivers/$DAEMON.sh}
ADVERTS=${ADVERTS:-"1 0.1 0.01"}
METHODS=${METHODS:-"sigkill linkdown sigterm partition"}
REPS=${REPS:-3}
PROBE_INTERVAL=${PROBE_INTERVAL:-0.002}
PROBE_TIMEOUT=${PROBE_TIMEOUT:-0.05}
RUN_LIMIT=${RUN_LIMIT:-420}
PARTITION_QUIET=${PARTITION_QUIET:-6}
PREEMPT_LIMIT=${PREEMPT_LIMIT:-}      # s to wait for lbA to answer again; default 6*adv+3
OUT=${OUT:-/tmp/vrrpbench-results/$DAEMON-$(date +%Y%m%d-%H%M%S)}   # this folder may be read-only
REF_PCAP=${REF_PCAP:-$OUT/$DAEMON-v3.pcap}

export NS_LBA=${NS_LBA:-lbA} NS_LBB=${NS_LBB:-lbB} NS_CLIENT=${NS_CLIENT:-client}
export NS_OBS=${NS_OBS:-obs} NS_SWITCH=${NS_SWITCH:-switch} NET_PREFIX=10.200.0
VIP=10.200.0.10
VIP_CIDR=$VIP/24
VRID=51
PRIO_A=150
PRIO_B=100
IFACE=eth0
PORT=8080

[[ $(id -u) -eq 0 ]] || { echo "run as root" >&2; exit 1; }
for c in ip bridge tshark python3 arping awk setsid timeout; do
    command -v "$c" >/dev/null || { echo "missing command: $c" >&2; exit 1; }
done
[[ -f $VRRP_DRIVER ]] || { echo "no driver $VRRP_DRIVER" >&2; exit 1; }
# shellcheck source=drivers/keepalived.sh
source "$VRRP_DRIVER"
DAEMON_VERSION=$(drv_check) || { echo "driver check failed: $DAEMON_VERSION" >&2; exit 1; }

mkdir -p "$OUT"
LOG=$OUT/run.log
START_S=$(date +%s)
log() { printf '[%4ds] %s\n' "$(( $(date +%s) - START_S ))" "$*" | tee -a "$LOG" >&2; }
fcalc() { awk "BEGIN{print $*}"; }
now_ns() { date +%s%N; }
# stamp VAR: CLOCK_REALTIME in ns into VAR, without forking (bash 5 $EPOCHREALTIME, µs resolution)
stamp() { local t=$EPOCHREALTIME; printf -v "$1" '%s%s000' "${t%.*}" "${t#*.}"; }
elapsed() { echo $(( $(date +%s) - START_S )); }

BG_PIDS=()        # every background process started here (signalled by PID at the end)
DIR_A=; DIR_B=; PID_A=; PID_B=; T_FAIL=0; T_RESTORE=0; LAST_A_MASTER=0

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    set +e
    for d in "$DIR_A" "$DIR_B"; do
        [[ -n $d ]] || continue
        for pid in $(drv_pids "$d"); do kill -TERM "$pid" 2>/dev/null; done
    done
    for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for _ in $(seq 1 30); do
        local alive=0
        for pid in "${BG_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive -eq 0 ]] && break
        sleep 0.1
    done
    for pid in "${BG_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    for d in "$DIR_A" "$DIR_B"; do
        [[ -n $d ]] || continue
        for pid in $(drv_pids "$d"); do kill -KILL "$pid" 2>/dev/null; done
    done
    wait 2>/dev/null
    "$HERE/topo.sh" down >/dev/null 2>&1 || echo "topology teardown failed" >&2
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# watchdog: the whole run is bounded even if something below hangs
(
    trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "$RUN_LIMIT" & sp=$!
    wait "$sp"
    echo "watchdog: RUN_LIMIT ${RUN_LIMIT}s reached" >&2
    kill -TERM $$
) &
BG_PIDS+=($!)

has_vip() { ip -n "$1" -4 -o addr show dev "$IFACE" 2>/dev/null | grep -qF " $VIP/"; }
steady() { has_vip "$NS_LBA" && ! has_vip "$NS_LBB"; }
# wait_until SECONDS cmd...: poll every 20 ms
wait_until() {
    local limit=$1; shift
    local end=$(( $(date +%s%N) + ${limit%.*} * 1000000000 + $(fcalc "int(($limit - int($limit)) * 1000)") * 1000000 ))
    while (( $(date +%s%N) < end )); do
        "$@" && return 0
        sleep 0.02
    done
    "$@"
}
# probe_seen NODE AFTER_NS FILE: a probe started after AFTER_NS was answered by NODE
probe_seen() { awk -F, -v n="$1" -v t="$2" '$3 == n && $1 > t { f = 1; exit } END { exit !f }' "$3" 2>/dev/null; }
probe_seen_preempted() { probe_seen "$NS_LBA" "$1" "$2" && ! has_vip "$NS_LBB"; }
arp_responders() {   # distinct MACs answering "who has VIP" seen from the observer namespace
    ip netns exec "$NS_OBS" timeout 3 arping -c 2 -W 0.1 -I "$IFACE" "$VIP" 2>/dev/null |
        awk '/bytes from/ {print $4}' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

start_daemon() {   # start_daemon A|B
    local which=$1
    if [[ $which == A ]]; then
        drv_start "$NS_LBA" "$NS_LBA" "$PRIO_A" "$ADV" "$IFACE" "$VIP_CIDR" "$VRID" "$DIR_A"; PID_A=$DRV_PID
    else
        drv_start "$NS_LBB" "$NS_LBB" "$PRIO_B" "$ADV" "$IFACE" "$VIP_CIDR" "$VRID" "$DIR_B"; PID_B=$DRV_PID
    fi
}
# sleep a random time in [0, advert_int) so failures and restores land at a
# random phase of the daemons' advert timers (otherwise the harness's own fixed
# delays bias races such as the one at a partition heal)
phase_jitter() {
    local adv_us j
    adv_us=$(fcalc "int($ADV * 1000000)")
    j=$(( (RANDOM * 32768 + RANDOM) % adv_us ))
    sleep "$(fcalc "$j / 1000000")"
}
reap() { local pid=$1 lim=${2:-5}; wait_until "$lim" eval "! kill -0 $pid 2>/dev/null" || return 1; wait "$pid" 2>/dev/null || true; }

# fail_lbA METHOD: sets T_FAIL to the moment of the failure. Signals are bash
# builtins sent right after the stamp (PIDs looked up before it); ip/bridge
# commands are stamped when they return (the change is applied synchronously).
fail_lbA() {
    local pids
    case $1 in
        sigkill|sigterm)
            pids=$(drv_pids "$DIR_A" | tr '\n' ' ')
            [[ -n ${pids// /} ]] || { log "no daemon pids for lbA"; stamp T_FAIL; return 1; }
            stamp T_FAIL
            if [[ $1 == sigkill ]]; then
                # shellcheck disable=SC2086
                kill -STOP $pids; kill -KILL $pids
            else
                kill -TERM "${pids%% *}"
            fi ;;
        linkdown)  ip -n "$NS_SWITCH" link set pA down; stamp T_FAIL ;;
        partition) bridge -n "$NS_SWITCH" link set dev pA state 0; stamp T_FAIL ;;
    esac
}
pre_restore_lbA() {   # not timed: make sure the old daemon is gone
    case $1 in
        sigkill|sigterm) reap "$PID_A" 5 || log "old lbA daemon $PID_A did not exit in 5 s" ;;
    esac
}
# restore_lbA METHOD: sets T_RESTORE (daemon start: before; link/bridge: after)
restore_lbA() {
    case $1 in
        sigkill|sigterm) stamp T_RESTORE; start_daemon A ;;
        linkdown)  ip -n "$NS_SWITCH" link set pA up; stamp T_RESTORE ;;
        partition) bridge -n "$NS_SWITCH" link set dev pA state 3; stamp T_RESTORE ;;
    esac
}

trial() {
    local method=$1 rep=$2
    local id="adv${ADV}-${method}-${rep}"
    local pf=$PH/$id.probe.csv stop=$PH/$id.stop
    local fo_lim pre_lim t_kill t_restore t_fo t_done fo_ok=0 pre_ok=0 vipA vipB arp="" t_restart
    fo_lim=$(fcalc "6 * $ADV + 3")
    pre_lim=${PREEMPT_LIMIT:-$(fcalc "6 * $ADV + 3")}
    if ! wait_until "$(fcalc "6 * $ADV + 3")" steady; then
        log "$id: not steady before trial (VIP lbA=$(has_vip "$NS_LBA" && echo y || echo n) lbB=$(has_vip "$NS_LBB" && echo y || echo n)); skipped"
        printf '{"id":"%s","adv":%s,"method":"%s","rep":%s,"skipped":true}\n' "$id" "$ADV" "$method" "$rep" >> "$OUT/trials.jsonl"
        return 0
    fi
    rm -f "$stop"
    ip netns exec "$NS_CLIENT" python3 "$HERE/lib/probe_client.py" --vip "$VIP" --port "$PORT" \
        --interval "$PROBE_INTERVAL" --timeout "$PROBE_TIMEOUT" --out "$pf" --stop-file "$stop" \
        --max-seconds "$(fcalc "$fo_lim + $pre_lim + 15")" &
    local ppid=$!
    BG_PIDS+=("$ppid")
    wait_until 3 probe_seen "$NS_LBA" 0 "$pf" || log "$id: probe never answered by lbA before the failure"
    if [[ $method == partition ]] && (( PARTITION_QUIET > 0 )); then
        local now q
        stamp now
        q=$(( (LAST_A_MASTER + PARTITION_QUIET * 1000000000 - now) / 1000000 ))
        if (( q > 0 )); then sleep "$(fcalc "$q / 1000")"; fi
    fi
    sleep 0.3
    phase_jitter

    fail_lbA "$method" || log "$id: failure action failed"
    t_kill=$T_FAIL
    wait_until "$fo_lim" probe_seen "$NS_LBB" "$t_kill" "$pf" && fo_ok=1
    t_fo=$(now_ns)
    has_vip "$NS_LBA" && vipA=true || vipA=false
    has_vip "$NS_LBB" && vipB=true || vipB=false
    [[ $method == sigkill || $method == partition ]] && arp=$(arp_responders)

    pre_restore_lbA "$method"
    phase_jitter
    restore_lbA "$method"
    t_restore=$T_RESTORE
    t_restart=$(now_ns)
    wait_until "$pre_lim" probe_seen_preempted "$t_restore" "$pf" && pre_ok=1
    t_done=$(now_ns)
    LAST_A_MASTER=$t_done
    local stale=""
    if [[ $pre_ok == 0 ]] && steady; then
        # VRRP converged (VIP only on lbA) but the client still cannot reach it:
        # its ARP entry for the VIP still names lbB's MAC (no GARP from lbA after
        # the heal). Record it, then flush that one entry so later trials start clean.
        stale=$(ip -n "$NS_CLIENT" neigh show "$VIP" dev "$IFACE" | tr -s ' ')
        log "$id: VRRP converged but client still not answered by lbA after ${pre_lim}s; client ARP: $stale; flushing it"
        ip -n "$NS_CLIENT" neigh del "$VIP" dev "$IFACE" 2>/dev/null || true
        wait_until 3 probe_seen "$NS_LBA" "$t_done" "$pf" || log "$id: still no answer from lbA after the flush"
    fi
    sleep 0.2
    touch "$stop"
    wait "$ppid" 2>/dev/null || true
    printf '{"id":"%s","adv":%s,"method":"%s","rep":%s,"t_kill":%s,"t_failover_seen":%s,"failover_ok":%s,"vip_on_lbA_after":%s,"vip_on_lbB_after":%s,"arp_responders":"%s","t_restore":%s,"t_restart_issued":%s,"t_done":%s,"preempt_ok":%s,"client_stale_arp":"%s","probe_csv":"%s"}\n' \
        "$id" "$ADV" "$method" "$rep" "$t_kill" "$t_fo" "$([[ $fo_ok == 1 ]] && echo true || echo false)" \
        "$vipA" "$vipB" "$arp" "$t_restore" "$t_restart" "$t_done" \
        "$([[ $pre_ok == 1 ]] && echo true || echo false)" "$stale" "${pf#"$OUT"/}" >> "$OUT/trials.jsonl"
    log "$id: failover $(( (t_fo - t_kill) / 1000000 )) ms (ok=$fo_ok; VIP lbA=$vipA lbB=$vipB${arp:+; ARP answers from: $arp}), preempt $(( (t_done - t_restore) / 1000000 )) ms (ok=$pre_ok)   [coarse; see table]"
}

phase() {   # one advert_int: daemons up, trials, daemons down
    ADV=$1
    PH=$OUT/adv$ADV
    DIR_A=$PH/$NS_LBA
    DIR_B=$PH/$NS_LBB
    mkdir -p "$PH" "$DIR_A" "$DIR_B"
    local cap_lim=$(( RUN_LIMIT ))
    ip netns exec "$NS_CLIENT" tshark -n -q -i "$IFACE" -f "arp or ip proto 112" -F pcap \
        -a "duration:$cap_lim" -w "$PH/client.pcap" > "$PH/tshark.log" 2>&1 &
    local tpid=$!
    BG_PIDS+=("$tpid")
    for ns in "$NS_LBA" "$NS_LBB"; do
        ip netns exec "$ns" timeout "$cap_lim" ip -ts monitor address dev "$IFACE" > "$PH/ipmon-$ns.log" 2>&1 &
        BG_PIDS+=($!)
    done
    wait_until 10 grep -q "Capturing on" "$PH/tshark.log" || log "tshark did not report capturing"
    sleep 0.3

    log "advert_int $ADV: starting $DAEMON on lbB (prio $PRIO_B) and lbA (prio $PRIO_A)"
    start_daemon B
    start_daemon A
    if ! wait_until "$(fcalc "12 * $ADV + 8")" steady; then
        log "advert_int $ADV: VIP never settled on lbA; see $PH/*/daemon.log"
    else
        sleep "$(fcalc "4 * $ADV + 0.2")"   # let lbB see a few lbA adverts
        LAST_A_MASTER=$(now_ns)
        log "advert_int $ADV: VIP on lbA, lbB backup"
        for rep in $(seq 1 "$REPS"); do
            for m in $METHODS; do
                if (( $(elapsed) > RUN_LIMIT - 30 )); then log "time limit near; skipping $m rep $rep"; continue; fi
                trial "$m" "$rep"
            done
        done
    fi
    drv_stop "$DIR_A"; drv_stop "$DIR_B"
    reap "$PID_A" 5 || true
    reap "$PID_B" 5 || true
    sleep 0.3
    kill -INT "$tpid" 2>/dev/null || true
    wait "$tpid" 2>/dev/null || true
}

log "daemon: $DAEMON_VERSION (driver $VRRP_DRIVER)"
log "results: $OUT"
"$HERE/topo.sh" up 2>&1 | tee -a "$LOG"
"$HERE/topo.sh" mcast-check > "$OUT/mcast-check.txt" 2>&1 && MC=PASS || MC=FAIL
log "multicast VRRP (224.0.0.18, proto 112) across the bridge: $MC"
[[ $MC == PASS ]] || { cat "$OUT/mcast-check.txt" >&2; exit 1; }

for ns in "$NS_LBA" "$NS_LBB"; do
    ip netns exec "$ns" python3 "$HERE/lib/probe_server.py" --name "$ns" --port "$PORT" \
        --max-seconds "$RUN_LIMIT" > "$OUT/server-$ns.log" 2>&1 &
    BG_PIDS+=($!)
done

: > "$OUT/trials.jsonl"
for a in $ADVERTS; do
    phase "$a"
done

log "analysing"
python3 "$HERE/lib/analyze.py" --out "$OUT" --vip "$VIP" --daemon "$DAEMON_VERSION" \
    --ref-pcap "$REF_PCAP" | tee "$OUT/summary.md"
{
    first_adv=${ADVERTS%% *}
    echo
    echo "## Daemon configuration used (advert_int $first_adv; the other phases differ only in advert_int)"
    for n in "$NS_LBA" "$NS_LBB"; do
        for f in "$OUT/adv$first_adv/$n"/*.conf "$OUT/adv$first_adv/$n/cmdline"; do
            [[ -f $f ]] || continue
            printf '\n%s:\n```\n' "${f#"$OUT"/}"
            cat "$f"
            printf '```\n'
        done
    done
    echo
    echo "Command line: see $OUT/adv$first_adv/$NS_LBA/daemon.log (first lines)"
} | tee -a "$OUT/summary.md"
log "done in $(elapsed) s; results in $OUT"
