# shellcheck shell=bash
# vrrpd driver for bench/vrrp/keepalived_failover.sh (contract: drivers/keepalived.sh). Sourced
# by the harness (DAEMON=vrrpd); scripts/bench-vrrp passes it as VRRP_DRIVER.
#
# drv_pids lists vrrpd's main PID only. vrrpd's guard process (docs/vrrpd-basics.md, "The
# SIGKILL guarantee") is deliberately not listed: the crash being measured is vrrpd's, and the
# guard is what makes vrrpd's crash clean. Kill the guard too and the VIP stays behind until vrrpd restarts (which
# deletes stale VIPs at start), like keepalived.
#
# Environment: VRRPD_BIN (default build/vrrpd/vrrpd), VRRPD_RT (realtime_priority, default 0).

VRRPD_BIN=${VRRPD_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/build/vrrpd/vrrpd}
VRRPD_RT=${VRRPD_RT:-0}

drv_check() {
    [[ -x $VRRPD_BIN ]] || { echo "vrrpd binary '$VRRPD_BIN' not found (set VRRPD_BIN)"; return 1; }
    local rt=""
    (( VRRPD_RT > 0 )) && rt=" (realtime_priority $VRRPD_RT)"
    echo "$("$VRRPD_BIN" --version | sed -n 1p)$rt"
}

drv_start() {
    local node=$1 ns=$2 prio=$3 adv=$4 ifc=$5 vip=$6 vrid=$7 dir=$8 ms
    mkdir -p "$dir"
    ms=$(awk -v a="$adv" 'BEGIN{printf "%d", a*1000 + 0.5}')
    cat > "$dir/vrrpd.toml" <<EOF
[global]
log_level = "info"
realtime_priority = $VRRPD_RT

[[instance]]
name = "vi-$node"
vrid = $vrid
interface = "$ifc"
priority = $prio
advert_interval = "${ms}ms"
vips = ["$vip"]
EOF
    setsid ip netns exec "$ns" "$VRRPD_BIN" -c "$dir/vrrpd.toml" >> "$dir/daemon.log" 2>&1 < /dev/null &
    DRV_PID=$!
    echo "$DRV_PID" > "$dir/main.pid"
}

drv_pids() {
    local dir=$1 pid
    pid=$(cat "$dir/main.pid" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$VRRPD_BIN")" ]] && echo "$pid"
    return 0
}

drv_stop() {
    local pid
    pid=$(drv_pids "$1" | sed -n 1p)
    [[ -n $pid ]] && kill -TERM "$pid"
    return 0
}
