#!/usr/bin/env bash
# Starts the local PostgreSQL cluster (Debian's postgresql package, see install-deps.sh) and
# makes sure the test role and database exist, then prints the URL the store tests use:
#   PORTHOLE_TEST_POSTGRES_URL=$(scripts/start-postgres.sh) cargo test -p porthole-store
# Idempotent: safe to run again on a running cluster with the role already present.
# The role gets CREATEDB because every store test creates (and drops) its own database,
# so tests run in parallel without seeing each other's rows.
set -euo pipefail

ROLE=porthole
PASSWORD=porthole
DATABASE=porthole_test
PORT=5432

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

# The first cluster Debian created (e.g. "15 main"); pg_lsclusters lists "VERSION NAME PORT STATUS ...".
read -r VERSION CLUSTER _ < <(pg_lsclusters --no-header | head -n 1) || {
  echo "no PostgreSQL cluster found: run scripts/install-deps.sh first" >&2
  exit 1
}
# Its messages go to stderr so that stdout carries only the URL; "already running" exits non-zero.
$SUDO pg_ctlcluster "$VERSION" "$CLUSTER" start >&2 || true
# pg_ctlcluster returns before the server accepts connections on a cold start.
for _ in $(seq 1 100); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 0.1
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || { echo "PostgreSQL did not come up on port $PORT" >&2; exit 1; }

# The postgres superuser authenticates by peer (Unix user) on Debian's default pg_hba.conf.
if [ "$(id -u)" -eq 0 ]; then AS_POSTGRES=(runuser -u postgres --); else AS_POSTGRES=(sudo -u postgres); fi
psql_admin() { "${AS_POSTGRES[@]}" psql -v ON_ERROR_STOP=1 -qAt "$@"; }

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]; then
  psql_admin -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'"
else
  psql_admin -c "ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != "1" ]; then
  psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE"
fi

echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
