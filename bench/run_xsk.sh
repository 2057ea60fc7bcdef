#!/usr/bin/env bash
# AF_XDP datapath benchmark (issue 3): `xdpkt bench` against a C AF_XDP reference
# built on Debian's libxdp, against AF_PACKET (TPACKET_V3 / sendmmsg), and the
# Python receive loop, on a private veth pair between two network namespaces.
#
#   sudo bench/run_xsk.sh [--seconds S] [--reps N] [--size B] [--batch N]
#                         [--modes "rxdrop txonly l2fwd"] [--napi threaded|softirq]
#                         [--impls "libxdp afpacket xdpkt python"] [--no-default] [--no-rt]
#                         [--no-two-port]
#                         [--out FILE.json]   (default bench/results/xsk.json, chart bench/xsk.png)
#
# Topology: namespace xdpkt-bench-<pid>-gen holds the generator side (xkg<pid>,
# 02:00:00:00:00:01, 198.18.0.1/24), namespace xdpkt-bench-<pid>-dut the device
# under test (xkd<pid>, 02:00:00:00:00:02, 198.18.0.2/24), MTU 1500.
# Traffic: UDP/IPv4 198.18.0.1 -> 198.19.255.1 port 9 (not local to the DUT, and the
# DUT does not forward, so AF_PACKET's kernel stack drops it quietly after the tap:
# no ICMP replies, no UDP socket lookups).
#
# Where the work runs (2 cores: GEN_CPU=0, DUT_CPU=1):
#   --napi threaded (default): both veths run threaded NAPI; the DUT's NAPI kthread is
#     pinned to DUT_CPU with the DUT program, the generator side's to GEN_CPU. The DUT
#     pays its own kernel work (XDP program + copy into the UMEM, or skb + GRO + packet
#     socket), as with a NIC whose IRQ is on the application's core, and the generator
#     has a CPU to itself, so it outruns the receiver.
#   --napi softirq (veth's own behaviour): the receiving veth's NAPI runs as softirq on
#     the CPU that sent the frames, so in rxdrop the generator's CPU also pays the
#     kernel half of the receive path and a receiver that keeps up shows the
#     generator's rate: this compares the datapaths' kernel cost more than the receivers.
# veth only delivers XDP-redirected frames (the generator's) to a peer that runs
# NAPI, which needs an XDP program or GRO: GRO is switched on for both veths.
#
# Metrics (median of --reps runs):
#   rxdrop: packets the receiver counted.  Generator rate shown beside it.
#   txonly: packets that ARRIVED at the generator-side veth, counted by an XDP
#           count-and-drop program there (receiving side); the sender's own count
#           (completions / sendmmsg) is shown beside it: it can be higher, a veth
#           drops what its peer's ring cannot take after the sender counted it.
#   l2fwd:  packets that came back to the generator-side veth (receiving side);
#           the forwarder's own count beside it.
#   twoport l2fwd (xdpkt only; no peer has it): `xdpkt bench l2fwd xkd<pid> --peer
#           xkd<pid>b`, two sockets on one shared UMEM; what arrives on the first
#           port leaves on the second (no copy) and is counted where it arrives,
#           on xkg<pid>b in the generator namespace. Run when l2fwd and xdpkt are
#           both selected; --no-two-port skips it.
# The pinned runs' generator and DUT processes run SCHED_FIFO (chrt -f 10) so other
# work on a shared machine cannot preempt them (each run is bounded in time; the
# kernel's RT throttling still leaves others 5%); --no-rt runs them SCHED_OTHER.
# NAPI kthreads get SCHED_FIFO too (see pin_napi for the priorities). The
# default-behaviour runs never use SCHED_FIFO.
# Then the "default behaviour" runs: rxdrop with generator and receiver on the SAME
# CPU and softirq NAPI, wakeup-driven (default) vs --busy spinning.
#
# Needs root, gcc, libxdp-dev, libbpf-dev. Ours: $XDPKT (command) or target/release/xdpkt
# or .venv/bin/xdpkt or `xdpkt` on PATH (or xdpkt._cli_bench run by .venv/bin/python);
# skipped with a message if missing. Python loop:
# $XDPKT_PYTHON or .venv/bin/python with `xdpkt.Socket`. Chart: $PLOT_PYTHON or
# .venv/bin/python with matplotlib.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
PEERS=$HERE/peers
BUILD=$PEERS/build

SECS=5
REPS=3
SIZE=64
BATCH=64
MODES="rxdrop txonly l2fwd"
IMPLS="libxdp afpacket xdpkt python"
NAPI=threaded
DEFAULT_RUN=1
TWO_PORT=1
RT=1
CUR_RT=0
OUT=$HERE/results/xsk.json
PNG=$HERE/xsk.png
GEN_CPU=0
DUT_CPU=1

usage() { sed -n '2,13p' "$0" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --seconds) SECS=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        --batch) BATCH=$2; shift 2 ;;
        --modes) MODES=$2; shift 2 ;;
        --impls) IMPLS=$2; shift 2 ;;
        --napi) NAPI=$2; shift 2 ;;
        --no-default) DEFAULT_RUN=0; shift ;;
        --no-two-port) TWO_PORT=0; shift ;;
        --no-rt) RT=0; shift ;;
        --out) OUT=$2; PNG=${OUT%.json}.png; shift 2 ;;
        -h|--help) usage ;;
        *) echo "run_xsk.sh: unknown argument $1" >&2; usage ;;
    esac
done
[[ $NAPI == threaded || $NAPI == softirq ]] || { echo "--napi must be threaded or softirq" >&2; exit 2; }
[[ $SECS =~ ^[0-9]+$ && $SECS -ge 3 && $SECS -le 60 ]] || { echo "--seconds must be an integer in 3..60" >&2; exit 2; }
[[ $REPS =~ ^[0-9]+$ && $REPS -ge 1 && $REPS -le 9 ]] || { echo "--reps must be in 1..9" >&2; exit 2; }
if [[ $EUID -ne 0 ]]; then
    echo "run_xsk.sh: needs root (network namespaces, XDP programs, AF_XDP and AF_PACKET sockets)" >&2
    exit 1
fi
if [[ $(nproc) -lt 2 ]]; then
    echo "run_xsk.sh: needs 2 CPUs (generator and receiver pinned apart)" >&2
    exit 1
fi

NS_GEN=xdpkt-bench-$$-gen
NS_DUT=xdpkt-bench-$$-dut
IF_GEN=xkg$$
IF_DUT=xkd$$
# The second port of the two-port l2fwd: names share the first port's prefix, so
# pin_napi's patterns (napi/xkd<pid>*, napi/xkg<pid>*) place its NAPI kthreads too.
IF_GEN2=xkg$$b
IF_DUT2=xkd$$b
MAC_GEN=02:00:00:00:00:01
MAC_DUT=02:00:00:00:00:02
MAC_GEN2=02:00:00:00:00:03
MAC_DUT2=02:00:00:00:00:04
TRAFFIC_DST_IP=198.19.255.1
TMP=$(mktemp -d /tmp/xdpkt-bench-$$.XXXXXX)
RAW=$TMP/raw.jsonl
PIDS=()

cleanup() {
    local rc=$?
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    ip netns del "$NS_GEN" 2>/dev/null || true
    ip netns del "$NS_DUT" 2>/dev/null || true
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[run_xsk] $*" >&2; }

# ---------------------------------------------------------------- build the peers
build_peers() {
    mkdir -p "$BUILD"
    local cflags=(-O2 -Wall -Wextra)
    gcc "${cflags[@]}" -o "$BUILD/xsk_ref" "$PEERS/xsk_ref.c" -lxdp -lbpf
    gcc "${cflags[@]}" -o "$BUILD/afpacket_ref" "$PEERS/afpacket_ref.c"
    gcc "${cflags[@]}" -o "$BUILD/xdp_gen" "$PEERS/xdp_gen.c" -lbpf
}

# ---------------------------------------------------------------- find ours
XDPKT_CMD=()
# Until the `xdpkt` console script has its `bench` subcommand wired in, run the
# subcommand module directly with the Python that has xdpkt installed.
BENCH_SHIM='import argparse, sys
from xdpkt import _cli_bench
ap = argparse.ArgumentParser(prog="xdpkt")
_cli_bench.register(ap.add_subparsers())
a = ap.parse_args()
sys.exit(a.func(a))'
find_xdpkt() {
    local py
    if [[ -n ${XDPKT:-} ]]; then
        read -r -a XDPKT_CMD <<<"$XDPKT"
    elif [[ -x $REPO/target/release/xdpkt ]]; then
        XDPKT_CMD=("$REPO/target/release/xdpkt")
    elif [[ -x $REPO/.venv/bin/xdpkt ]]; then
        XDPKT_CMD=("$REPO/.venv/bin/xdpkt")
    elif command -v xdpkt >/dev/null 2>&1; then
        XDPKT_CMD=("$(command -v xdpkt)")
    fi
    if [[ ${#XDPKT_CMD[@]} -gt 0 ]] && ! "${XDPKT_CMD[@]}" bench --help >/dev/null 2>&1; then
        log "found ${XDPKT_CMD[*]} but 'bench --help' fails there"
        XDPKT_CMD=()
    fi
    if [[ ${#XDPKT_CMD[@]} -eq 0 ]]; then
        for py in "${XDPKT_PYTHON:-}" "$REPO/.venv/bin/python"; do
            [[ -n $py && -x $py ]] || continue
            if "$py" -c "$BENCH_SHIM" bench --help >/dev/null 2>&1; then
                XDPKT_CMD=("$py" -c "$BENCH_SHIM")
                log "using xdpkt._cli_bench through $py (no 'xdpkt bench' command yet)"
                break
            fi
        done
    fi
    if [[ ${#XDPKT_CMD[@]} -eq 0 ]]; then
        log "xdpkt bench not available (build it: maturin develop -r into .venv): skipping xdpkt rows"
    fi
}
XDPKT_PY=""
find_python() {
    local cand
    for cand in "${XDPKT_PYTHON:-}" "$REPO/.venv/bin/python"; do
        [[ -n $cand && -x $cand ]] || continue
        if "$cand" -c 'import xdpkt; xdpkt.Socket' >/dev/null 2>&1; then
            XDPKT_PY=$cand
            return
        fi
    done
    log "no Python with xdpkt.Socket (set XDPKT_PYTHON or build .venv): skipping the Python loop row"
}
PLOT_PY=""
find_plot_python() {
    local cand
    for cand in "${PLOT_PYTHON:-}" "$REPO/.venv/bin/python" python3; do
        [[ -n $cand ]] || continue
        command -v "$cand" >/dev/null 2>&1 || continue
        if "$cand" -c 'import matplotlib' >/dev/null 2>&1; then
            PLOT_PY=$cand
            return
        fi
    done
}

# ---------------------------------------------------------------- topology
# veth_pair GEN_IF GEN_MAC GEN_ADDR DUT_IF DUT_MAC DUT_ADDR: one veth pair between the namespaces.
# GRO gives each veth a NAPI context: without it (or XDP), frames redirected into the veth by XDP
# are dropped instead of delivered.
veth_pair() {
    ip link add "$1" netns "$NS_GEN" address "$2" mtu 1500 type veth \
        peer name "$4" netns "$NS_DUT" address "$5" mtu 1500
    ip -n "$NS_GEN" addr add "$3" dev "$1"
    ip -n "$NS_DUT" addr add "$6" dev "$4"
    ip -n "$NS_GEN" link set "$1" up
    ip -n "$NS_DUT" link set "$4" up
    ip netns exec "$NS_GEN" ethtool -K "$1" gro on
    ip netns exec "$NS_DUT" ethtool -K "$4" gro on
}

setup_net() {
    ip netns add "$NS_GEN"
    ip netns add "$NS_DUT"
    ip netns exec "$NS_GEN" sysctl -qw net.ipv4.ip_forward=0
    ip netns exec "$NS_DUT" sysctl -qw net.ipv4.ip_forward=0
    veth_pair "$IF_GEN" $MAC_GEN 198.18.0.1/24 "$IF_DUT" $MAC_DUT 198.18.0.2/24
    veth_pair "$IF_GEN2" $MAC_GEN2 198.18.1.1/24 "$IF_DUT2" $MAC_DUT2 198.18.1.2/24
    set_napi "$NAPI"
}

set_napi() {
    local v=0
    [[ $1 == threaded ]] && v=1
    local i
    for i in "$IF_GEN" "$IF_GEN2"; do ip netns exec "$NS_GEN" sh -c "echo $v > /sys/class/net/$i/threaded"; done
    for i in "$IF_DUT" "$IF_DUT2"; do ip netns exec "$NS_DUT" sh -c "echo $v > /sys/class/net/$i/threaded"; done
}

# Pin each veth's NAPI kthread (comm "napi/<ifname>-<id>", cut to 15 characters) to
# its side's CPU. With SCHED_FIFO runs, the kthreads get real-time priority too, or the
# other load on the machine starves them: the DUT's below the DUT process (10), so a
# receiver woken by its NAPI preempts it, drains its ring and sleeps again; the
# generator side's above the generator, so frames coming back (txonly, l2fwd) are
# counted instead of waiting behind the generator's loop.
pin_napi() {
    [[ $CUR_NAPI == threaded ]] || return 0
    local t comm n=0
    while read -r t comm; do
        case $comm in
            napi/"$IF_DUT"*)
                taskset -pc "$DUT_CPU" "$t" >/dev/null && n=$((n + 1))
                [[ $CUR_RT -eq 1 ]] && chrt -f -p 5 "$t"
                ;;
            napi/"$IF_GEN"*)
                taskset -pc "$GEN_CPU" "$t" >/dev/null && n=$((n + 1))
                [[ $CUR_RT -eq 1 ]] && chrt -f -p 15 "$t"
                ;;
        esac
    done < <(ps -eLo tid=,comm=)
    if [[ $n -lt 4 && -z ${NAPI_WARNED:-} ]]; then
        log "warning: found $n of 4 NAPI kthreads to pin (napi/$IF_DUT*, napi/$IF_GEN*: two veth pairs)"
        NAPI_WARNED=1
    fi
    return 0
}

wait_xdp_attached() {
    local i
    for i in $(seq 100); do
        if ip -n "$NS_DUT" link show dev "$IF_DUT" | grep -q ' xdp'; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------- one run
# The DUT-side command, by implementation and mode, into the array DUT_CMD.
DUT_CMD=()
dut_cmd() {
    local impl=$1 mode=$2
    shift 2
    local common=(--seconds "$SECS" --size "$SIZE" --batch "$BATCH")
    local addr=(--src-mac $MAC_DUT --dst-mac $MAC_GEN --src-ip 198.18.0.2 --dst-ip 198.18.0.1)
    case $impl in
        libxdp) DUT_CMD=("$BUILD/xsk_ref" "$mode" "$IF_DUT" "${common[@]}" "${addr[@]}" --prog own "$@") ;;
        afpacket) DUT_CMD=("$BUILD/afpacket_ref" "$mode" "$IF_DUT" "${common[@]}" "${addr[@]}" "$@") ;;
        xdpkt)
            if [[ $mode == l2fwd2 ]]; then
                DUT_CMD=("${XDPKT_CMD[@]}" bench l2fwd "$IF_DUT" --peer "$IF_DUT2" "${common[@]}" --json "$@")
            elif [[ $mode == port2 ]]; then
                DUT_CMD=("${XDPKT_CMD[@]}" bench port "$IF_DUT" --peer "$IF_DUT2" "${common[@]}" --json "$@")
            else
                DUT_CMD=("${XDPKT_CMD[@]}" bench "$mode" "$IF_DUT" "${common[@]}" --json "$@")
            fi
            ;;
        python) DUT_CMD=("$XDPKT_PY" "$HERE/xsk_pyloop.py" "$IF_DUT" --seconds "$SECS" --max-packets 256) ;;
    esac
}

start_bg() { # start_bg OUTFILE CPU NS CMD... ; CPU "-" = not pinned
    local out=$1 cpu=$2 ns=$3
    shift 3
    local rt=()
    [[ $CUR_RT -eq 1 ]] && rt=(chrt -f 10)
    if [[ $cpu == - ]]; then
        "${rt[@]}" ip netns exec "$ns" "$@" >"$out" 2>"$out.err" &
    else
        "${rt[@]}" taskset -c "$cpu" ip netns exec "$ns" "$@" >"$out" 2>"$out.err" &
    fi
    PIDS+=($!)
    LAST_PID=$!
}

wait_pid() { # wait for one of our pids, drop it from PIDS; never fails the script
    local p=$1 rc=0 keep=() q
    wait "$p" || rc=$?
    for q in "${PIDS[@]}"; do [[ $q == "$p" ]] || keep+=("$q"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
    return $rc
}

stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    wait_pid "$1" || true
}

last_json() { grep -E '^\{' "$1" | tail -n 1 || true; }

# record SCENARIO MODE IMPL REP PRIMARY_FILE [SECONDARY_FILE GENFILE]
record() {
    local scen=$1 mode=$2 impl=$3 rep=$4 prim sec gen
    prim=$(last_json "$5")
    sec=$( [[ -n ${6:-} ]] && last_json "$6" || true)
    gen=$( [[ -n ${7:-} ]] && last_json "$7" || true)
    # txonly/l2fwd: the sink always reports; without the DUT's own result the run failed
    [[ -n ${6:-} && -z $sec ]] && prim=""
    if [[ -z $prim ]]; then
        log "  $impl $mode rep $rep: no result; stderr:"
        sed 's/^/    /' "$5.err" "${6:-/dev/null}" "${6:+$6.err}" 2>/dev/null | tail -n 8 >&2 || true
    fi
    printf '{"scenario":"%s","mode":"%s","impl":"%s","rep":%s,"primary":%s,"secondary":%s,"generator":%s}\n' \
        "$scen" "$mode" "$impl" "$rep" "${prim:-null}" "${sec:-null}" "${gen:-null}" >>"$RAW"
    [[ -n $prim ]] && log "  $scen $mode $impl #$rep: $prim${gen:+  gen: $gen}"
    return 0
}

GEN_ARGS=()
gen_args() {
    GEN_ARGS=(--size "$SIZE" --batch 64 --src-mac $MAC_GEN --dst-mac $MAC_DUT
        --src-ip 198.18.0.1 --dst-ip $TRAFFIC_DST_IP)
}

# The receiving DUT first (its XDP program attached, or AF_PACKET's socket bound), then
# the NAPI threads pinned, then the generator; uses run_one's d, impl, gcpu, dcpu.
start_dut_then_gen() {
    start_bg "$d.dut" "$dcpu" "$NS_DUT" "${DUT_CMD[@]}"
    DUT_PID=$LAST_PID
    if [[ $impl == afpacket ]]; then sleep 0.3; else wait_xdp_attached || true; fi
    pin_napi
    start_bg "$d.gen" "$gcpu" "$NS_GEN" "$BUILD/xdp_gen" gen "$IF_GEN" --seconds $((SECS + 5)) "${GEN_ARGS[@]}"
    GEN_PID=$LAST_PID
}

run_one() { # run_one SCENARIO MODE IMPL REP GEN_CPU DUT_CPU [EXTRA ARGS...]
    local scen=$1 mode=$2 impl=$3 rep=$4 gcpu=$5 dcpu=$6
    shift 6
    local d=$TMP/$scen-$mode-$impl-$rep
    dut_cmd "$impl" "$mode" "$@"
    gen_args
    case $mode in
        rxdrop)
            start_dut_then_gen
            local dut=$DUT_PID gen=$GEN_PID
            wait_pid "$dut" || true
            stop_pid "$gen"
            record "$scen" "$mode" "$impl" "$rep" "$d.dut" "" "$d.gen"
            ;;
        txonly)
            start_bg "$d.sink" "$gcpu" "$NS_GEN" "$BUILD/xdp_gen" sink "$IF_GEN" --seconds $((SECS - 1)) --delay 0.7
            local sink=$LAST_PID
            sleep 0.2
            pin_napi
            start_bg "$d.dut" "$dcpu" "$NS_DUT" "${DUT_CMD[@]}"
            local dut=$LAST_PID
            wait_pid "$dut" || true
            wait_pid "$sink" || true
            record "$scen" "$mode" "$impl" "$rep" "$d.sink" "$d.dut"
            ;;
        l2fwd | l2fwd2 | port2)
            # l2fwd comes back on the generator's veth; the two-port l2fwd2 (and port2, the
            # same through xdpkt Ports with GRO/GSO) arrives on the second pair's generator
            # side (IF_GEN2). All are recorded as l2fwd, in their own scenario.
            local sink_if=$IF_GEN
            [[ $mode == l2fwd2 || $mode == port2 ]] && sink_if=$IF_GEN2
            start_bg "$d.sink" "$gcpu" "$NS_GEN" "$BUILD/xdp_gen" sink "$sink_if" --seconds $((SECS - 2)) --delay 1.2
            local sink=$LAST_PID
            start_dut_then_gen
            local dut=$DUT_PID gen=$GEN_PID
            wait_pid "$dut" || true
            wait_pid "$sink" || true
            stop_pid "$gen"
            record "$scen" l2fwd "$impl" "$rep" "$d.sink" "$d.dut" "$d.gen"
            ;;
    esac
    sleep 0.3 # the kernel releases the queue and the XDP program asynchronously
}

impl_available() {
    case $1 in
        xdpkt) [[ ${#XDPKT_CMD[@]} -gt 0 ]] ;;
        python) [[ -n $XDPKT_PY ]] ;;
        *) return 0 ;;
    esac
}

# ---------------------------------------------------------------- main
build_peers
find_xdpkt
find_python
find_plot_python
: >"$RAW"
setup_net
CUR_NAPI=$NAPI
CUR_RT=$RT
log "namespaces $NS_GEN / $NS_DUT, veth $IF_GEN <-> $IF_DUT, napi=$NAPI, rt=$RT, ${SECS}s x $REPS, ${SIZE}B, batch $BATCH"
# The ceiling: the generator against an XDP_DROP counter on the DUT veth, the
# cheapest receiver there is (its NAPI runs where --napi puts it).
log "generator ceiling: xdp_gen against an XDP count-and-drop program on the DUT veth"
gen_args
start_bg "$TMP/ceil.sink" - "$NS_DUT" "$BUILD/xdp_gen" sink "$IF_DUT" --seconds 3 --delay 0.5
CEIL_SINK=$LAST_PID
sleep 0.2
pin_napi
start_bg "$TMP/ceil.gen" "$GEN_CPU" "$NS_GEN" "$BUILD/xdp_gen" gen "$IF_GEN" --seconds 4 "${GEN_ARGS[@]}"
wait_pid "$LAST_PID" || true
wait_pid "$CEIL_SINK" || true
record generator gen xdp_gen 1 "$TMP/ceil.sink" "" "$TMP/ceil.gen"

for mode in $MODES; do
    for rep in $(seq "$REPS"); do
        for impl in $IMPLS; do
            impl_available "$impl" || continue
            [[ $impl == python && $mode != rxdrop ]] && continue
            run_one pinned "$mode" "$impl" "$rep" "$GEN_CPU" "$DUT_CPU"
        done
    done
done

if [[ $TWO_PORT -eq 1 && " $MODES " == *" l2fwd "* && " $IMPLS " == *" xdpkt "* ]] && impl_available xdpkt; then
    log "two-port l2fwd: xdpkt bench l2fwd $IF_DUT --peer $IF_DUT2 (shared UMEM)"
    log "two-port forwarding through xdpkt Ports with GRO and GSO on: xdpkt bench port $IF_DUT --peer $IF_DUT2"
    for rep in $(seq "$REPS"); do
        run_one twoport l2fwd2 xdpkt "$rep" "$GEN_CPU" "$DUT_CPU"
        run_one twoport-port port2 xdpkt "$rep" "$GEN_CPU" "$DUT_CPU"
    done
fi

if [[ $DEFAULT_RUN -eq 1 && " $MODES " == *" rxdrop "* ]]; then
    # Default behaviour on 2 cores: nothing pinned apart. Generator, receiver and
    # the veth's NAPI all on one CPU: the worst case for a spinning receiver.
    set_napi softirq
    CUR_NAPI=softirq
    CUR_RT=0
    log "default behaviour: generator and receiver on the same CPU, softirq NAPI"
    for impl in libxdp xdpkt; do
        impl_available "$impl" || continue
        run_one samecpu rxdrop "$impl" 1 "$GEN_CPU" "$GEN_CPU"
    done
    run_one samecpu-busy rxdrop libxdp 1 "$GEN_CPU" "$GEN_CPU" --busy
    for impl in libxdp xdpkt; do
        impl_available "$impl" || continue
        run_one unpinned rxdrop "$impl" 1 - -
    done
fi

mkdir -p "$(dirname "$OUT")"
META="napi=$NAPI rt=$RT seconds=$SECS reps=$REPS size=$SIZE batch=$BATCH kernel=$(uname -r) cpus=$(nproc)"
python3 "$HERE/xsk_report.py" "$RAW" --out "$OUT" --meta "$META"
if [[ -n $PLOT_PY ]]; then
    "$PLOT_PY" "$HERE/xsk_report.py" "$RAW" --png "$PNG" --meta "$META" --quiet
    log "chart: $PNG"
else
    log "no Python with matplotlib (python3 -m venv .venv && .venv/bin/pip install matplotlib): chart skipped"
fi
