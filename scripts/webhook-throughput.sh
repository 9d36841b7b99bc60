#!/usr/bin/env bash
# Webhook deliveries by one `staylock worker` on Postgres to a local
# receiver (Python's threading HTTP server answering 204): one endpoint
# subscribed to reservation.confirmed, bookings from `staylock loadtest`;
# River's table gives deliveries per second and commit→2xx latency.
#   LOAD="--clients 8" scripts/webhook-throughput.sh [SECONDS=8] [JOB_CONCURRENCY=10]
set -uo pipefail
secs=${1:-8} conc=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/staylock" ./cmd/staylock) || exit 1
cat > "$work/receiver.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
cd "$work"
db="hookmeasure_$$"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db" >/dev/null
export APP_ENV=local DB_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" STORAGE_PATH="$work/st" \
  HTTP_ADDR=127.0.0.1:18082 LOG_LEVEL=error JOB_CONCURRENCY=$conc JOB_POLL_INTERVAL=100ms
python3 receiver.py 18090 &
./staylock migrate up --no-env-file >/dev/null
key=$(./staylock keys create --tenant bench --role admin --no-env-file | tail -1)
./staylock serve --no-env-file >/dev/null 2>&1 &
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18082/readyz >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs -X PUT -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"url":"http://127.0.0.1:18090/hook","events":["reservation.confirmed"]}' http://127.0.0.1:18082/v1/webhooks/sink >/dev/null
./staylock worker --no-env-file >/dev/null 2>&1 &
# shellcheck disable=SC2086
./staylock loadtest --no-env-file --url http://127.0.0.1:18082 --key "$key" --setup --scenario spread ${LOAD:---clients 8} \
  --duration "${secs}s" --json load.json >/dev/null 2>&1
for _ in $(seq 1 600); do
  left=$(psql -qtA -h 127.0.0.1 -U postgres -d "$db" -c "SELECT count(*) FROM river_job WHERE kind LIKE 'webhook_%' AND state <> 'completed'")
  [ "$left" = "0" ] && break
  sleep 0.2
done
psql -qtA -h 127.0.0.1 -U postgres -d "$db" -c "
  SELECT count(*) || ' deliveries, ' ||
         round(count(*) / extract(epoch FROM max(finalized_at) - min(attempted_at))::numeric, 0) || ' deliveries/s'
  FROM river_job WHERE kind = 'webhook_delivery' AND state = 'completed'"
psql -qtA -h 127.0.0.1 -U postgres -d "$db" -c "
  SELECT 'commit to 2xx p50 ' || round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.finalized_at - f.created_at))::numeric, 1)
      || ' ms, p99 ' || round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.finalized_at - f.created_at))::numeric, 1) || ' ms'
  FROM river_job d JOIN river_job f ON f.kind = 'webhook_fanout' AND d.args->>'key' = 'msg_' || (f.args->>'key') || '.sink'
  WHERE d.kind = 'webhook_delivery' AND d.state = 'completed'"
python3 -c "import json; d=json.load(open('load.json')); print('bookings/s during the load: %.0f' % d['bookings_per_sec'])"
kill $(jobs -p) 2>/dev/null; wait 2>/dev/null
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
