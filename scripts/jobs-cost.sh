#!/usr/bin/env bash
# The cost of writing jobs in the booking's commit: booking throughput on
# Postgres of a revision without jobs (OLD, default 2f4b75b, the release
# before them) against this checkout, interleaved, a fresh database per run.
#   scripts/jobs-cost.sh [SCENARIO=hot|spread] [CLIENTS=32] [SECONDS=8] [ROUNDS=2]
# Needs Postgres on 127.0.0.1:5432 (user postgres, trust) and psql.
set -uo pipefail
scenario=${1:-hot} clients=${2:-32} secs=${3:-8} rounds=${4:-2}
old_rev=${OLD:-2f4b75b}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$root" worktree add -f --detach "$work/old" "$old_rev" >/dev/null 2>&1
(cd "$work/old" && go build -o "$work/sl-old" ./cmd/staylock) || exit 1
git -C "$root" worktree remove --force "$work/old"
(cd "$root" && go build -o "$work/sl-new" ./cmd/staylock) || exit 1
cd "$work"
for r in $(seq 1 "$rounds"); do
  for v in old new; do
    db="jobscost_${v}_$$_$r"
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $db" >/dev/null
    export APP_ENV=local DB_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" STORAGE_PATH="$work/st-$v" \
      HTTP_ADDR=127.0.0.1:18080 LOG_LEVEL=error
    ./sl-$v migrate up --no-env-file >/dev/null
    key=$(./sl-$v keys create --tenant bench --role admin --no-env-file | tail -1)
    ./sl-$v serve --no-env-file >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18080/readyz >/dev/null 2>&1 && break; sleep 0.1; done
    ./sl-new loadtest --no-env-file --url http://127.0.0.1:18080 --key "$key" --setup --scenario "$scenario" \
      --clients "$clients" --duration "${secs}s" --json "out-$v-$r.json" >/dev/null 2>&1
    jobs=$(psql -qtA -h 127.0.0.1 -U postgres -d "$db" -c "SELECT count(*) FROM river_job" 2>/dev/null || echo 0)
    kill $pid; wait $pid 2>/dev/null
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
    python3 -c "import json; d=json.load(open('out-$v-$r.json')); b=d['operations'][0]; print('$scenario round $r $v: %.0f bookings/s p50 %.2f ms p99 %.2f ms audit passed %s, jobs written $jobs' % (d['bookings_per_sec'], b['p50_ms'], b['p99_ms'], d['passed']))"
  done
done
