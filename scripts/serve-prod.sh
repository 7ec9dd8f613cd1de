#!/usr/bin/env bash
# The production processes of neurodrop. One role per call in docker-compose.yml; `all` runs the lot on one
# machine (`make serve-prod`). Settings come from the environment (docs/operations.md lists them all).
#
#   serve-prod.sh migrate   apply the database migrations and exit
#   serve-prod.sh web       gunicorn (threads, so a slow upload does not hold a whole process)
#   serve-prod.sh worker    one Celery worker (run as many as you like, on as many machines)
#   serve-prod.sh beat      the periodic sweep that re-queues stuck images (run exactly one)
#   serve-prod.sh all       migrate, then web + WORKERS workers + beat until Ctrl-C / SIGTERM
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
export NEURODROP_ENV=${NEURODROP_ENV:-production}

migrate() {
  "$PYTHON" -m flask --app webapp db upgrade
}

web() {
  # gunicorn.conf.py holds the settings (HOST, PORT, WEB_CONCURRENCY, WEB_THREADS, WEB_TIMEOUT, WEB_KEEPALIVE).
  exec "$PYTHON" -m gunicorn --config gunicorn.conf.py --access-logfile - wsgi:app
}

worker() {
  exec "$PYTHON" -m celery -A celery_worker worker --loglevel=INFO \
    --concurrency="${WORKER_CONCURRENCY:-2}" --hostname="${1:-worker}@%h"
}

beat() {
  local folder=${INSTANCE_DIR:-instance}
  mkdir -p "$folder"
  exec "$PYTHON" -m celery -A celery_worker beat --loglevel=INFO --schedule="$folder/celerybeat-schedule"
}

all() {
  migrate
  local pids=()
  stop() {
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  }
  trap 'trap - EXIT; stop; exit 0' INT TERM
  trap stop EXIT
  for n in $(seq "${WORKERS:-2}"); do
    (worker "worker$n") &
    pids+=($!)
  done
  (beat) &
  pids+=($!)
  (web) &
  pids+=($!)
  echo "neurodrop: web on http://${HOST:-127.0.0.1}:${PORT:-8000}, ${WORKERS:-2} workers, beat (pids ${pids[*]})"
  # Stop everything when any one of them ends: a supervisor (systemd, compose) restarts the whole set.
  wait -n "${pids[@]}" || true
  echo "neurodrop: a process ended; stopping the others" >&2
  exit 1
}

case "${1:-all}" in
  migrate) migrate ;;
  web) web ;;
  worker) worker "${2:-worker}" ;;
  beat) beat ;;
  all) all ;;
  *) echo "usage: $0 migrate|web|worker [name]|beat|all" >&2; exit 2 ;;
esac
