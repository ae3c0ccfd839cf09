#!/usr/bin/env bash
# The benchmark suite: starts local clusters, runs `herald bench` against
# them, and writes docs/benchmarks.md from the results.
#
# Usage: scripts/bench.sh [herald|peers|all|tokens]
#   herald  (default) Herald only
#   peers   Centrifugo only (installed into .tools/ with go install)
#   all     both, side by side
#   tokens  connect+subscribe without tokens, with HS256 and with ES256
#           tokens, in turn (results in .tools/bench-tokens/; the figures
#           go into scripts/benchdoc/notes.md by hand)
#
# Everything runs on loopback and stops by itself. Results (JSON) go to
# .tools/bench/<target>/; docs/benchmarks.md is rewritten from every result
# there, so a Herald-only run keeps the last Centrifugo figures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what=${1:-herald}
case $what in herald | peers | all | tokens) ;; *)
	echo "usage: scripts/bench.sh [herald|peers|all|tokens]" >&2
	exit 2
	;;
esac

CENTRIFUGO_VERSION=v6.9.1
TOOLS=$PWD/.tools
OUT=$TOOLS/bench
mkdir -p "$TOOLS" "$OUT"
say() { printf '==> %s\n' "$*" >&2; }

say "building herald and nats-server into .tools/"
go build -o "$TOOLS/herald" ./cmd/herald
go build -o "$TOOLS/nats-server" github.com/nats-io/nats-server/v2
HERALD=$TOOLS/herald

pids=()
stop_all() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	pids=()
}
trap stop_all EXIT

# wait_http waits until http://host:port/path answers 200, at most 30s.
wait_http() {
	local rest=${1#http://} hostport path status
	hostport=${rest%%/*} path=/${rest#*/}
	for _ in $(seq 1 300); do
		status=$( (exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}" &&
			printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3 &&
			head -n 1 <&3) 2>/dev/null || true)
		case $status in *" 200 "*) return 0 ;; esac
		sleep 0.1
	done
	echo "scripts/bench.sh: $1 did not come up" >&2
	exit 1
}

# bench runs one herald bench mode and keeps its JSON result.
bench() {
	local target=$1 name=$2
	shift 2
	mkdir -p "$OUT/$target"
	say "$target: $name: herald bench $*"
	echo "herald bench $*" >"$OUT/$target/$name.cmd"
	"$HERALD" bench "$@" --json >"$OUT/$target/$name.json"
	# A short pause lets the sockets of the last run leave TIME-WAIT.
	sleep 2
}

# start_herald starts NGW gateway nodes (the first holds the embedded NATS
# server) and one api node. It sets GW_URLS, GW_PIDS, API_URL, API_PID.
start_herald() {
	local ngw=$1 i url
	GW_URLS="" GW_PIDS="" API_URL=http://127.0.0.1:14100
	for i in $(seq 1 "$ngw"); do
		local nats=(--nats-url nats://127.0.0.1:14222)
		[ "$i" = 1 ] && nats=(--nats-listen 127.0.0.1:14222)
		"$HERALD" serve --name "gw$i" --role gateway --listen "127.0.0.1:141$(printf %02d "$i")" \
			--log-level warn --stats-interval 0 --drain-timeout 1s "${nats[@]}" &
		pids+=($!)
		GW_PIDS+="${GW_PIDS:+,}$!"
		url=http://127.0.0.1:141$(printf %02d "$i")
		GW_URLS+="${GW_URLS:+,}$url"
		wait_http "$url/readyz"
	done
	"$HERALD" serve --name api --role api --listen 127.0.0.1:14100 --log-level warn --stats-interval 0 --drain-timeout 1s \
		--nats-url nats://127.0.0.1:14222 &
	pids+=($!)
	API_PID=$!
	wait_http "$API_URL/readyz"
}

suite_herald() {
	local t=herald

	say "herald: connect and idle, one fresh gateway"
	start_herald 1
	bench $t idle idle --url "$GW_URLS" -n 15000 --channels 100 --hold 20s --pid "$GW_PIDS"
	bench $t connect connect --url "$GW_URLS" -n 15000 --channels 100 --pid "$GW_PIDS"
	stop_all

	say "herald: fan-out, two gateways and an api node"
	start_herald 2
	local all_pids="$GW_PIDS,$API_PID"
	for rate in 200 1000 2000 3000 4000 6000; do
		bench $t "fanout-$rate" fanout --url "$GW_URLS" --api "$API_URL" -n 2000 --channels 20 \
			--rate "$rate" --duration 10s --pid "$all_pids"
	done
	bench $t publish publish --api "$API_URL" --duration 5s --channels 100
	bench $t publish-broadcast publish --api "$API_URL" --duration 5s --channels 100 --broadcast 10
	stop_all

	say "herald: 60,000 connections over four gateways, all receiving a broadcast"
	start_herald 4
	bench $t scale fanout --url "$GW_URLS" --api "$API_URL" -n 60000 --channels 1 \
		--rate 1 --duration 5s --pid "$GW_PIDS,$API_PID" --ramp-timeout 5m
	stop_all
}

# start_centrifugo starts a NATS server and N Centrifugo nodes on it, with
# the configuration in internal/bench/testdata/centrifugo.json. It sets
# CF_URLS and CF_PIDS.
start_centrifugo() {
	local n=$1 i port
	"$TOOLS/nats-server" -a 127.0.0.1 -p 14322 >/dev/null 2>&1 &
	pids+=($!)
	CF_URLS="" CF_PIDS=""
	for i in $(seq 1 "$n"); do
		port=$((14200 + i))
		CENTRIFUGO_HTTP_SERVER_PORT=$port CENTRIFUGO_BROKER_NATS_URL=nats://127.0.0.1:14322 \
			"$CENTRIFUGO" --config internal/bench/testdata/centrifugo.json 2>>"$OUT/centrifugo.log" &
		pids+=($!)
		CF_PIDS+="${CF_PIDS:+,}$!"
		CF_URLS+="${CF_URLS:+,}http://127.0.0.1:$port"
		wait_http "http://127.0.0.1:$port/health"
	done
}

suite_peers() {
	local t=centrifugo p=(--protocol centrifugo) key=(--api-key bench-key)
	CENTRIFUGO=$TOOLS/centrifugo
	if [ ! -x "$CENTRIFUGO" ]; then
		say "installing Centrifugo $CENTRIFUGO_VERSION into .tools/ (go install)"
		GOBIN=$TOOLS go install "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION"
	fi

	say "centrifugo: connect and idle, one fresh node"
	start_centrifugo 1
	bench $t idle idle "${p[@]}" --url "$CF_URLS" -n 15000 --channels 100 --hold 20s --pid "$CF_PIDS"
	bench $t connect connect "${p[@]}" --url "$CF_URLS" -n 15000 --channels 100 --pid "$CF_PIDS"
	stop_all

	say "centrifugo: fan-out, two nodes on one NATS server"
	start_centrifugo 2
	local api=${CF_URLS%%,*}
	for rate in 200 1000 2000 3000 4000 6000; do
		bench $t "fanout-$rate" fanout "${p[@]}" "${key[@]}" --url "$CF_URLS" --api "$api" -n 2000 --channels 20 \
			--rate "$rate" --duration 10s --pid "$CF_PIDS"
	done
	bench $t publish publish "${p[@]}" "${key[@]}" --api "$api" --duration 5s --channels 100
	bench $t publish-broadcast publish "${p[@]}" "${key[@]}" --api "$api" --duration 5s --channels 100 --broadcast 10
	stop_all
}

# suite_tokens measures what verifying a token adds to a connect: one
# gateway without tokens, then one with an HMAC secret and an ECDSA public
# key, taking 15,000 connections each way, three rounds in turn.
suite_tokens() {
	local out=$TOOLS/bench-tokens dir round
	mkdir -p "$out"
	dir=$(mktemp -d)
	openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$dir/es256.pem"
	openssl ec -in "$dir/es256.pem" -pubout -out "$dir/es256.pub.pem" 2>/dev/null
	local secret=bench-secret-bench-secret-bench-secret
	local hs es
	hs=$(HERALD_TOKEN_SECRET=$secret "$HERALD" token --sub bench --subscribe 'bench.>' --ttl 2h)
	es=$("$HERALD" token --key "$dir/es256.pem" --sub bench --subscribe 'bench.>' --ttl 2h)
	for round in 1 2 3; do
		for mode in none hs256 es256; do
			local extra=() token=()
			case $mode in
			hs256) token=(--token "$hs") ;;
			es256) token=(--token "$es") ;;
			esac
			[ "$mode" != none ] && extra=(--token-public-key "$dir/es256.pub.pem")
			HERALD_TOKEN_SECRET=$([ "$mode" != none ] && echo "$secret") "$HERALD" serve --name gw1 --role gateway \
				--listen 127.0.0.1:14101 --log-level warn --stats-interval 0 --drain-timeout 1s "${extra[@]}" &
			pids+=($!)
			wait_http http://127.0.0.1:14101/readyz
			say "tokens: round $round, $mode"
			"$HERALD" bench connect --url http://127.0.0.1:14101 -n 15000 --channels 100 --pid "$!" "${token[@]}" --json \
				>"$out/connect-$mode-$round.json"
			stop_all
			sleep 2
		done
	done
	rm -rf "$dir"
	say "server CPU per connect+subscribe (µs), by round:"
	for mode in none hs256 es256; do
		printf '  %-6s' "$mode" >&2
		for round in 1 2 3; do
			grep -o '"server_cpu_per_connection_us": *[0-9.]*' "$out/connect-$mode-$round.json" | cut -d: -f2 | tr -d ' \n' >&2; printf ' ' >&2
		done
		echo >&2
	done
}

if [ "$what" = tokens ]; then
	suite_tokens
	exit 0
fi
[ "$what" != peers ] && suite_herald
[ "$what" != herald ] && suite_peers

say "writing docs/benchmarks.md"
go run ./scripts/benchdoc -results "$OUT" -out docs/benchmarks.md
