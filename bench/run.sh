#!/usr/bin/env bash
# gatehouse vs nginx, side by side in one run.
#
#   bash bench/run.sh            # ROUNDS=3 DURATION=10 by default
#   ROUNDS=10 DURATION=4 MILLION=1 bash bench/run.sh   # many short rounds: steadier medians
#
# Starts, all on 127.0.0.1: a backend (nginx, 1 worker, fixed 1 KiB body),
# redis-server, nginx as a TLS reverse proxy to the backend (1 worker,
# upstream keep-alive), and gatehouse with one worker thread in three
# set-ups (Redis with the session cache, Redis without it, embedded store),
# each enforcing a real session (cookie from a real login) on every request.
# Pinning: the proxies under test share CPU 0; the load generator, the
# backend and Redis share CPU 1 (2 cores: the cleanest split available).
# During each HTTP/1.1 run the report shows how busy each core was: the
# proxy's core (cpu0) should be the saturated one, else the numbers measure
# the load side rather than the proxy.
# Targets alternate within every round (A B C D, A B C D, ...), and the
# report gives per-target medians and the median of the per-round ratios.
# Every security check stays on in every gatehouse set-up.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
IDLE_CONNS=${IDLE_CONNS:-10000}
MILLION=${MILLION:-0}

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v redis-server >/dev/null || need+=(redis-server redis-tools)
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
# 10,000 idle connections need as many descriptors in the client and the server.
ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet --bin gatehouse --example idle_tls
GH=$PWD/target/release/gatehouse
IDLE=$PWD/target/release/examples/idle_tls
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
CPU_PROXY="taskset -c 0"
CPU_LOAD="taskset -c 1"

# --- backend: nginx returning 1 KiB -------------------------------------
BACKEND=$(free_port)
BODY=$(head -c 1024 /dev/zero | tr '\0' 'x')
mkdir -p "$WORK/backend"
cat > "$WORK/backend/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $WORK/backend/pid; error_log $WORK/backend/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$BACKEND; location / { default_type text/plain; return 200 "$BODY"; } } }
EOF
$CPU_LOAD nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" & PIDS+=($!)

# --- redis ----------------------------------------------------------------
REDIS=$(free_port)
$CPU_LOAD redis-server --port "$REDIS" --save "" --appendonly no --bind 127.0.0.1 >"$WORK/redis.log" & PIDS+=($!)

# --- nginx as the TLS reverse proxy ----------------------------------------
NGINX=$(free_port)
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $WORK/nginx/pid; error_log $WORK/nginx/error.log;
worker_rlimit_nofile 19000;
events { worker_connections 19000; }
http { access_log off; keepalive_requests 1000000;
  upstream app { server 127.0.0.1:$BACKEND; keepalive 64; }
  server { listen 127.0.0.1:$NGINX ssl http2;
    ssl_certificate $PWD/certs/localhost.crt; ssl_certificate_key $PWD/certs/localhost.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
EOF
$CPU_PROXY nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PIDS+=($!)

# --- gatehouse, three set-ups ----------------------------------------------
echo -n "bench-password" | "$GH" hash-password > "$WORK/hash"
cat > "$WORK/users.toml" <<EOF
[[user]]
name = "bench"
password = "$(cat "$WORK/hash")"
groups = ["staff"]
EOF
declare -A PORT ADMIN
start_gatehouse() { # name store-url cache-capacity
    local name=$1 url=$2 cache=$3
    PORT[$name]=$(free_port); ADMIN[$name]=$(free_port)
    cat > "$WORK/$name.toml" <<EOF
[listen]
https = "127.0.0.1:${PORT[$name]}"
admin = "127.0.0.1:${ADMIN[$name]}"
[server]
workers = 1
[tls]
cert = "$PWD/certs/localhost.crt"
key = "$PWD/certs/localhost.key"
[store]
url = "$url"
cache_capacity = $cache
[login]
users_file = "$WORK/users.toml"
max_failures = 1000
[timeouts]
keep_alive_idle = "120s"
[[route]]
path = "/"
upstream = "http://127.0.0.1:$BACKEND"
EOF
    RUST_LOG=warn $CPU_PROXY "$GH" --config "$WORK/$name.toml" 2>"$WORK/$name.log" & PIDS+=($!)
    eval "PID_$name=$!"
}
start_gatehouse gh_cache "redis://127.0.0.1:$REDIS/0" 100000
start_gatehouse gh_nocache "redis://127.0.0.1:$REDIS/1" 0
start_gatehouse gh_memory "memory://" 0
[[ $MILLION == 1 ]] && start_gatehouse gh_million "redis://127.0.0.1:$REDIS/2" 0
GATEHOUSES=(gh_cache gh_nocache gh_memory)
[[ $MILLION == 1 ]] && GATEHOUSES+=(gh_million)
for p in "$BACKEND" "$REDIS" "$NGINX"; do wait_port "$p"; done
for t in "${GATEHOUSES[@]}"; do wait_port "${PORT[$t]}"; done

login() { # port → cookie header value
    local port=$1 jar=$WORK/jar.$1
    local form token
    form=$(curl -sk -c "$jar" "https://localhost:$port/.gatehouse/login")
    token=$(grep -o 'name="csrf" value="[^"]*"' <<<"$form" | sed 's/.*value="//;s/"$//')
    curl -sk -b "$jar" -c "$jar" -o /dev/null "https://localhost:$port/.gatehouse/login" \
        --data-urlencode username=bench --data-urlencode password=bench-password \
        --data-urlencode "csrf=$token" --data-urlencode rd=/
    awk '$6 == "__Host-gatehouse" { print "__Host-gatehouse=" $7 }' "$jar"
}
declare -A COOKIE
for t in "${GATEHOUSES[@]}"; do
    COOKIE[$t]=$(login "${PORT[$t]}")
    code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Cookie: ${COOKIE[$t]}" "https://localhost:${PORT[$t]}/")
    [[ $code == 200 ]] || { echo "login on $t failed ($code)" >&2; exit 1; }
done
COOKIE[nginx]="x=y"
PORT[nginx]=$NGINX

TARGETS=(nginx gh_cache gh_nocache gh_memory)
RESULTS=$WORK/results.tsv
: > "$RESULTS"

cpu_ticks() { awk '/^cpu[01] / { idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; printf "%d %d ", idle, total }' /proc/stat; }
busy_pct() { # ticks-before ticks-after → "cpu0% cpu1%"
    python3 -c 'import sys; a = list(map(int, sys.argv[1].split())); b = list(map(int, sys.argv[2].split()))
print(" ".join(f"{100 * (1 - (b[i] - a[i]) / max(1, b[i + 1] - a[i + 1])):.0f}" for i in (0, 2)))' "$1" "$2"
}
wrk_run() { # target extra-header → "rps p50_ms p99_ms"
    local t=$1 extra=${2:-}
    local args=(-t1 -c"$CONNS" -d"${DURATION}s" --latency -H "Cookie: ${COOKIE[$t]}")
    [[ -n $extra ]] && args+=(-H "$extra")
    $CPU_LOAD wrk "${args[@]}" "https://localhost:${PORT[$t]}/" > "$WORK/wrk.out" 2>&1
    awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
         function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
         END { printf "%.0f %.3f %.3f\n", r, ms(p50), ms(p99) }' "$WORK/wrk.out"
}
h2_run() { # target → "rps mean_ms"
    local t=$1
    $CPU_LOAD h2load -c"$CONNS" -m10 -D "$DURATION" -H "cookie: ${COOKIE[$t]}" "https://localhost:${PORT[$t]}/" > "$WORK/h2.out" 2>&1
    awk '/^finished in/ {r=$4} /time for request:/ {m=$6} END { print r+0, m }' "$WORK/h2.out"
}

# One measurement kind at a time, the targets back to back within each
# round: this VM's speed drifts by ±15% over minutes, so what is compared
# within a round must be close in time.
for kind in h1 h2 handshake; do
    for round in $(seq "$ROUNDS"); do
        for t in "${TARGETS[@]}"; do
            case $kind in
            h1)
                before=$(cpu_ticks)
                read -r rps p50 p99 <<<"$(wrk_run "$t")"
                echo -e "$round\t$t\th1\t$rps\t$p50\t$p99" >> "$RESULTS"
                echo -e "$round\t$t\tcpu\t0\t$(busy_pct "$before" "$(cpu_ticks)" | tr ' ' '\t')" >> "$RESULTS" ;;
            h2)
                read -r rps mean <<<"$(h2_run "$t")"
                echo -e "$round\t$t\th2\t$rps\t$mean\t-" >> "$RESULTS" ;;
            handshake)
                read -r rps _ _ <<<"$(wrk_run "$t" "Connection: close")"
                echo -e "$round\t$t\thandshake\t$rps\t-\t-" >> "$RESULTS" ;;
            esac
        done
        echo "$kind round $round done" >&2
    done
done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
nginx_worker() { pgrep -P "$(cat "$WORK/nginx/pid")" | head -1; }

echo
echo "== requests/s (median over $ROUNDS rounds; wrk -t1 -c$CONNS, h2load -c$CONNS -m10, ${DURATION}s each)"
python3 - "$RESULTS" <<'EOF'
import sys, statistics as st, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
by = collections.defaultdict(list)
for r, t, kind, rps, a, b in rows:
    by[(t, kind)].append((int(r), float(rps), a, b))
def med(xs): return st.median(xs) if xs else float("nan")
def ms(v):  # h2load's "23.08ms" / "950.12us"
    return float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-2]) if v.endswith("ms") else float(v[:-1]) * 1000
targets = ["nginx", "gh_cache", "gh_nocache", "gh_memory"]
print("per round (h1 rps, h1 p99 ms, h2 rps, handshakes/s):")
for r in sorted({int(x[0]) for x in rows}):
    cells = []
    for t in targets:
        get = lambda kind: [x for x in by[(t, kind)] if x[0] == r]
        h1, h2, hs = get("h1"), get("h2"), get("handshake")
        cells.append(f"{t} {h1[0][1]:.0f} {float(h1[0][3]):.2f} {h2[0][1]:.0f} {hs[0][1]:.0f}")
    print(f"  {r}: " + " | ".join(cells))
print()
print(f"{'target':12} {'h1 rps':>9} {'p50 ms':>7} {'p99 ms':>7} {'h2 rps':>9} {'h2 mean':>8} {'hs/s':>7} {'cpu0%':>6} {'cpu1%':>6} | ratios vs nginx (median of per-round): h1 h2 hs")
for t in targets:
    h1, h2, hs, cpu = by[(t, "h1")], by[(t, "h2")], by[(t, "handshake")], by[(t, "cpu")]
    def ratio(kind):
        per = []
        for (r, rps, _, _) in by[(t, kind)]:
            base = [x[1] for x in by[("nginx", kind)] if x[0] == r]
            if base and base[0] > 0: per.append(rps / base[0])
        return med(per)
    print(f"{t:12} {med([x[1] for x in h1]):9.0f} {med([float(x[2]) for x in h1]):7.3f} {med([float(x[3]) for x in h1]):7.3f} "
          f"{med([x[1] for x in h2]):9.0f} {med([ms(x[2]) for x in h2]):6.2f}ms {med([x[1] for x in hs]):7.0f} "
          f"{med([float(x[2]) for x in cpu]):6.0f} {med([float(x[3]) for x in cpu]):6.0f} | "
          f"{ratio('h1'):.2f} {ratio('h2'):.2f} {ratio('handshake'):.2f}")
EOF

echo
echo "== memory"
for t in gh_cache gh_memory; do
    pid_var="PID_$t"; pid=${!pid_var}
    echo "$t: peak RSS under load $(hwm_kb "$pid") KiB"
done
echo "nginx worker: peak RSS under load $(hwm_kb "$(nginx_worker)") KiB"
idle_per_conn() { # port pid → KiB per idle TLS connection
    local port=$1 pid=$2 before after
    before=$(rss_kb "$pid")
    $CPU_LOAD "$IDLE" "127.0.0.1:$port" "$IDLE_CONNS" 30 > "$WORK/idle.out" &
    local idle_pid=$!
    for _ in $(seq 600); do grep -q ready "$WORK/idle.out" 2>/dev/null && break; sleep 0.1; done
    sleep 1
    after=$(rss_kb "$pid")
    kill "$idle_pid" 2>/dev/null; wait "$idle_pid" 2>/dev/null || true
    python3 -c "print(f'{($after-$before)/$IDLE_CONNS:.1f}')"
}
echo "gh_memory: $(idle_per_conn "${PORT[gh_memory]}" "$PID_gh_memory") KiB per idle TLS connection ($IDLE_CONNS open)"
echo "nginx worker: $(idle_per_conn "$NGINX" "$(nginx_worker)") KiB per idle TLS connection ($IDLE_CONNS open)"
# Leak check: RSS after one load run, then after three more (each settled).
wrk_run gh_memory >/dev/null; sleep 2; before=$(rss_kb "$PID_gh_memory")
for _ in 1 2 3; do wrk_run gh_memory >/dev/null; done; sleep 2; after=$(rss_kb "$PID_gh_memory")
echo "gh_memory RSS after a load run: $before KiB; after three more: $after KiB (growth = leak suspect)"

if [[ $MILLION == 1 ]]; then
    echo
    echo "== 1,000,000 sessions in Redis: gh_million (db 2, 1,000,000 other sessions) against gh_nocache (db 1, a few), no cache, alternated"
    python3 -c '
import sys
out = sys.stdout.buffer
v = b"{\"user\":\"bench\"}"
for i in range(1_000_000):
    k = b"gatehouse:s:bench%07d" % i
    out.write(b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nEX\r\n$4\r\n3600\r\n" % (len(k), k, len(v), v))
' | redis-cli -p "$REDIS" -n 2 --pipe >/dev/null
    echo "db 2 holds $(redis-cli -p "$REDIS" -n 2 dbsize) keys, db 1 $(redis-cli -p "$REDIS" -n 1 dbsize)"
    # Besides requests/s (noisy here), Redis's own time per GET, which
    # scheduling noise on the client side does not touch.
    get_usec() { redis-cli -p "$REDIS" info commandstats | awk -F'[=,]' '/^cmdstat_get:/ { print $6 }'; }
    ratios=()
    for round in $(seq "$ROUNDS"); do
        redis-cli -p "$REDIS" config resetstat >/dev/null
        few=$(wrk_run gh_nocache | cut -d' ' -f1); few_get=$(get_usec)
        redis-cli -p "$REDIS" config resetstat >/dev/null
        many=$(wrk_run gh_million | cut -d' ' -f1); many_get=$(get_usec)
        ratios+=("$(python3 -c "print(f'{$many/$few:.3f}')")")
        echo "  round $round: few sessions $few req/s (Redis GET ${few_get} µs), 1,000,000 sessions $many req/s (GET ${many_get} µs)"
    done
    echo "median ratio (1,000,000 / few): $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
fi
