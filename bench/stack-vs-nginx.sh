#!/usr/bin/env bash
# hello on framewut's fastest built-in stack and on nginx, side by side.
#
# Each server gets CPU 0 alone (taskset -c 0, one worker); the load comes
# from CPU 1 (taskset -c 1): `framewut load -t1 -c64 -d5s --json` from
# target/release/framewut. nginx is Debian's (installed with apt-get when
# missing), with its own config in a temporary directory: one worker,
# `return 200` with the same 22-byte JSON body, default_type
# application/json, unlimited keep-alive. The servers take turns, ROUNDS
# rounds each after a 1 s warm-up, and the script prints each one's median
# rate, its median server CPU time per request (from /proc, steadier than the
# rate when other work shares the machine), and the ratio framewut/nginx
# (the target is >= 0.9).
#
# Usage: bench/stack-vs-nginx.sh
# Environment: STACK (default rust/fast/per-core), ROUNDS (3), DURATION (5s),
#   CONNECTIONS (64), LOADER (framewut or wrk).
set -euo pipefail

STACK=${STACK:-rust/fast/per-core}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
LOADER=${LOADER:-framewut}
BODY='{"message":"helowrld"}'

root=$(cd "$(dirname "$0")/.." && pwd)
framewut="$root/target/release/framewut"

if [ "$(nproc)" -lt 2 ]; then
    echo "needs 2 CPUs: one for the server, one for the load" >&2
    exit 1
fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    echo "nginx is missing: installing Debian's nginx" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
(cd "$root" && cargo build --release -q -p framewut)

tmp=$(mktemp -d -t framewut-bench-XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # URL: until it answers, at most 10 s
    for _ in $(seq 100); do
        if curl -sf -o /dev/null "$1"; then return 0; fi
        sleep 0.1
    done
    echo "$1 did not answer" >&2
    exit 1
}

# nginx: one worker, the same body and content type as the contract's /hello.
nginx_port=$(free_port)
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $tmp;
  proxy_temp_path $tmp;
  fastcgi_temp_path $tmp;
  uwsgi_temp_path $tmp;
  scgi_temp_path $tmp;
  default_type application/json;
  server {
    listen 127.0.0.1:$nginx_port backlog=4096;
    location / { return 200 '$BODY'; }
  }
}
CONF
taskset -c 0 "$nginx_bin" -p "$tmp" -c "$tmp/nginx.conf" &
pids+=($!)
nginx_pid=$!
nginx_url="http://127.0.0.1:$nginx_port/hello"
wait_for "$nginx_url"

# framewut: the stack with one worker, on the same core.
taskset -c 0 "$framewut" serve "$STACK" --workers 1 > "$tmp/serve.out" 2> "$tmp/serve.err" &
pids+=($!)
stack_pid=$!
for _ in $(seq 100); do
    [ -s "$tmp/serve.out" ] && break
    sleep 0.1
done
stack_url="$(sed -n 's/.* listening on //p' "$tmp/serve.out")/hello"
wait_for "$stack_url"
if [ "$(curl -s "$stack_url")" != "$(curl -s "$nginx_url")" ]; then
    echo "the two servers answer different bodies" >&2
    exit 1
fi

cpu_ticks() { # PID: user+system clock ticks of the process and its children
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$total"
}

round() { # URL DURATION PID: "REQ/S CPU-US/REQ", loaded from CPU 1
    local before after requests seconds
    before=$(cpu_ticks "$3")
    if [ "$LOADER" = wrk ]; then
        read -r requests seconds < <(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$2" "$1" |
            awk '/requests in/ { r = $1; s = $4; sub(/s,?$/, "", s) } END { print r, s }')
    else
        read -r requests seconds < <(taskset -c 1 "$framewut" load "$1" -t1 -c"$CONNECTIONS" -d"$2" --json |
            python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["requests"], j["elapsed_s"])')
    fi
    after=$(cpu_ticks "$3")
    awk -v r="$requests" -v s="$seconds" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.0f %.2f\n", r / s, t / hz * 1e6 / r }'
}

median() { tr " " "\n" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "hello, 1 worker each on CPU 0; load: $LOADER -t1 -c$CONNECTIONS -d$DURATION from CPU 1; $ROUNDS rounds"
round "$nginx_url" 1s "$nginx_pid" > /dev/null
round "$stack_url" 1s "$stack_pid" > /dev/null
nginx_rates=() nginx_cpus=() stack_rates=() stack_cpus=()
for _ in $(seq "$ROUNDS"); do
    read -r rate cpu < <(round "$nginx_url" "$DURATION" "$nginx_pid")
    nginx_rates+=("$rate") nginx_cpus+=("$cpu")
    read -r rate cpu < <(round "$stack_url" "$DURATION" "$stack_pid")
    stack_rates+=("$rate") stack_cpus+=("$cpu")
done
nginx_rate=$(echo "${nginx_rates[*]}" | median)
stack_rate=$(echo "${stack_rates[*]}" | median)
report() { # NAME RATE CPU RATES
    printf '%-26s %8s req/s  %6s us CPU/request   (rounds: %s)\n' "$1" "$2" "$3" "$4"
}
report nginx "$nginx_rate" "$(echo "${nginx_cpus[*]}" | median)" "${nginx_rates[*]}"
report "$STACK" "$stack_rate" "$(echo "${stack_cpus[*]}" | median)" "${stack_rates[*]}"
awk -v s="$stack_rate" -v n="$nginx_rate" 'BEGIN {
    r = s / n
    printf "ratio framewut/nginx: %.2fx (target >= 0.90x: %s)\n", r, (r >= 0.9 ? "met" : "missed")
}'
