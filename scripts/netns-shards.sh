#!/usr/bin/env bash
# netns-shards.sh: validate sharded load generation across hosts, on one
# machine. Two network namespaces stand for two hosts, joined by a veth pair
# with private addresses that exist only inside them:
#
#   pb-srv  10.200.0.1/24  pushbench serve --wait-start
#   pb-gen  10.200.0.2/24  two shards: pushbench run --shard 0/2 and 1/2
#
# The shards connect their halves of the clients, wait for a shared start
# time, shard 0 starts the server's schedule, each writes its own
# results.json, and `pushbench report --merge` merges them. Traffic flows only
# between those two addresses. Everything is bounded in time and removed on
# exit. Needs root and iproute2.
#
# Usage: sudo scripts/netns-shards.sh   (env: TRANSPORT CLIENTS RATE DURATION WARMUP OUT BIN)
set -euo pipefail

TRANSPORT=${TRANSPORT:-sse}
CLIENTS=${CLIENTS:-2000}
RATE=${RATE:-10}
WARMUP=${WARMUP:-1s}
DURATION=${DURATION:-5s}
OUT=${OUT:-$(mktemp -d /tmp/pushbench-netns.XXXXXX)}
mkdir -p "$OUT"
BIN=${BIN:-}

SRV_NS=pb-srv GEN_NS=pb-gen
SRV_IP=10.200.0.1 GEN_IP=10.200.0.2
PORT=8080

die() { echo "netns-shards: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
command -v ip >/dev/null || die "needs iproute2 (ip)"
for ns in $SRV_NS $GEN_NS; do
	if ip netns list | grep -qw "$ns"; then die "namespace $ns exists already: remove it (ip netns del $ns) or wait for its owner"; fi
done

cd "$(dirname "$0")/.."
if [ -z "$BIN" ]; then
	BIN=$OUT/pushbench
	go build -o "$BIN" ./cmd/pushbench
fi
BIN=$(realpath "$BIN")

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del $SRV_NS 2>/dev/null || true
	ip netns del $GEN_NS 2>/dev/null || true
}
trap cleanup EXIT

ip netns add $SRV_NS
ip netns add $GEN_NS
# Created inside pb-srv with its peer inside pb-gen: the host's own
# namespace never holds either end.
ip -n $SRV_NS link add pb-veth0 type veth peer name pb-veth1 netns $GEN_NS
ip -n $SRV_NS addr add $SRV_IP/24 dev pb-veth0
ip -n $GEN_NS addr add $GEN_IP/24 dev pb-veth1
for ns in $SRV_NS $GEN_NS; do ip -n $ns link set lo up; done
ip -n $SRV_NS link set pb-veth0 up
ip -n $GEN_NS link set pb-veth1 up

# The server listens beyond loopback, so /control needs a token; the server
# and every shard read it from the environment.
export PUSHBENCH_CONTROL_TOKEN=${PUSHBENCH_CONTROL_TOKEN:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}

# The server raises its own open-file limit only if 'serve' does; a shell
# limit covers both cases.
ip netns exec $SRV_NS bash -c "ulimit -n \$(ulimit -Hn); exec timeout 180 '$BIN' serve --addr $SRV_IP:$PORT --wait-start" \
	>"$OUT/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	grep -q "listening on http://" "$OUT/server.log" && break
	sleep 0.1
done
grep -q "listening on http://" "$OUT/server.log" || { cat "$OUT/server.log"; die "server did not start"; }

# Every shard must be connected ShardMargin (1 s) before the start.
START=$(date -u -d "@$(( $(date +%s) + 6 ))" +%Y-%m-%dT%H:%M:%SZ)
echo "netns-shards: $CLIENTS $TRANSPORT clients in 2 shards on $GEN_IP, server on $SRV_IP, start at $START"
for i in 0 1; do
	ip netns exec $GEN_NS timeout 120 "$BIN" run --transport "$TRANSPORT" --clients "$CLIENTS" --rate "$RATE" \
		--warmup "$WARMUP" --duration "$DURATION" --target "http://$SRV_IP:$PORT" \
		--shard $i/2 --start-at "$START" --scenario netns-shards --out "$OUT/shard-$i" \
		>"$OUT/shard-$i.log" 2>&1 &
	pids+=($!)
done
status=0
for p in "${pids[@]:1}"; do wait "$p" || status=$?; done
for i in 0 1; do echo "--- shard $i"; cat "$OUT/shard-$i.log"; done
[ $status -eq 0 ] || die "a shard failed (exit $status)"

"$BIN" report --merge --out "$OUT/merged" "$OUT/shard-0" "$OUT/shard-1"
echo "netns-shards: merged report in $OUT/merged"
