#!/usr/bin/env bash
# Email delivery by one `staylock worker` on Postgres to a local SMTP sink
# (Python's smtpd): bookings with guest emails from `staylock loadtest`, then
# River's table gives the mails per second (completed / span) and the
# latency from the booking's commit (the job's created_at) to the SMTP
# server's acceptance (finalized_at).
#   LOAD="--rate 20" scripts/mail-latency.sh [SECONDS=10] [JOB_CONCURRENCY=10]
#   LOAD="--clients 8" scripts/mail-latency.sh 8     # a backlog: throughput
set -uo pipefail
secs=${1:-10} conc=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/staylock" ./cmd/staylock) || exit 1
cat > "$work/sink.py" <<'PY'
import smtpd, asyncore, sys, warnings
warnings.filterwarnings("ignore")
class Sink(smtpd.SMTPServer):
    def process_message(self, *a, **kw): pass
Sink(("127.0.0.1", int(sys.argv[1])), None)
asyncore.loop()
PY
cd "$work"
db="mailmeasure_$$"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db" >/dev/null
export APP_ENV=local DB_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" STORAGE_PATH="$work/st" \
  HTTP_ADDR=127.0.0.1:18081 LOG_LEVEL=error MAIL_MAILER=smtp MAIL_HOST=127.0.0.1 MAIL_PORT=12525 MAIL_ENCRYPTION=none \
  MAIL_FROM_ADDRESS=hotel@example.com JOB_CONCURRENCY=$conc JOB_POLL_INTERVAL=100ms
python3 -W ignore sink.py 12525 &
./staylock migrate up --no-env-file >/dev/null
key=$(./staylock keys create --tenant bench --role admin --no-env-file | tail -1)
./staylock serve --no-env-file >/dev/null 2>&1 &
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18081/readyz >/dev/null 2>&1 && break; sleep 0.1; done
./staylock worker --no-env-file >/dev/null 2>&1 &
# shellcheck disable=SC2086
./staylock loadtest --no-env-file --url http://127.0.0.1:18081 --key "$key" --setup --scenario spread ${LOAD:---rate 20} \
  --duration "${secs}s" --json load.json >/dev/null 2>&1
for _ in $(seq 1 600); do
  left=$(psql -qtA -h 127.0.0.1 -U postgres -d "$db" -c "SELECT count(*) FROM river_job WHERE kind = 'reservation_mail' AND state <> 'completed'")
  [ "$left" = "0" ] && break
  sleep 0.2
done
psql -qtA -h 127.0.0.1 -U postgres -d "$db" -F' ' -c "
  SELECT count(*) || ' mails, ' ||
         round(count(*) / extract(epoch FROM max(finalized_at) - min(attempted_at))::numeric, 0) || ' mails/s, commit to SMTP accept p50 ' ||
         round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finalized_at - created_at))::numeric, 1) || ' ms, p99 ' ||
         round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finalized_at - created_at))::numeric, 1) || ' ms'
  FROM river_job WHERE kind = 'reservation_mail' AND state = 'completed'"
python3 -c "import json; d=json.load(open('load.json')); print('bookings/s during the load: %.0f' % d['bookings_per_sec'])"
kill $(jobs -p) 2>/dev/null; wait 2>/dev/null
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
