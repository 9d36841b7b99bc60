#!/usr/bin/env bash
# The in-memory booking path measured by an independent generator (wrk from
# Debian: apt-get install -y wrk): serve on the in-memory store, one room
# type with rooms enough for every booking, wrk posting one-night bookings
# on random nights (scripts/wrk-book.lua) without Idempotency-Key.
#
#   scripts/wrk-hot.sh [CONNECTIONS] [DURATION] [TREE]
#
# TREE (default: this checkout) is the source tree whose staylock is built,
# so that two commits can be compared in one sitting (a git worktree).
set -euo pipefail
conns=${1:-64}
dur=${2:-8s}
tree=${3:-$(cd "$(dirname "$0")/.." && pwd)}
here=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$tree" && go build -o "$work/staylock" ./cmd/staylock)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
APP_ENV=local DB_URL=memory:// HTTP_ADDR=127.0.0.1:$port LOG_LEVEL=warn STORAGE_PATH="$work/storage" \
  "$work/staylock" serve --no-env-file >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 300); do
  grep -q "admin key for tenant bench" "$work/out" 2>/dev/null && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done
KEY=$(sed -n 's/.*admin key for tenant bench: \([^ ]*\).*/\1/p' "$work/out" | head -1)
[ -n "$KEY" ] || { echo "serve printed no key:"; cat "$work/out" "$work/err"; exit 1; } >&2
H="Authorization: Bearer $KEY"
curl -sf -X PUT "http://127.0.0.1:$port/v1/properties/p1" -H "$H" -d '{"name":"H","timezone":"UTC","currency":"EUR"}' >/dev/null
curl -sf -X PUT "http://127.0.0.1:$port/v1/properties/p1/room-types/dlx" -H "$H" -d '{"name":"D","rooms":100000,"price":100}' >/dev/null
KEY=$KEY wrk -t2 -c"$conns" -d"$dur" --latency -s "$here/wrk-book.lua" "http://127.0.0.1:$port"
