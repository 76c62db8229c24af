#!/bin/bash
# unit_pg.sh: a fresh database in the tests' shared private PostgreSQL cluster, for unit suites.
#
# Usage: unit_pg.sh create NAME   start the cluster if needed (scripts/devstack pg start, as the
#                                 ctest fixture `pg` does), drop and create database NAME, print
#                                 its libpq conninfo on stdout
#        unit_pg.sh drop NAME     drop database NAME (the cluster keeps running)
# The cluster lives in $KVMOVE_BUILD_DIR/itest/pg (default build/itest/pg), port 54339, as in
# tests/integration/lib.sh.
set -euo pipefail
top=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)
# shellcheck source=../../scripts/lib/service.sh
. "$top/scripts/lib/service.sh"
build=${KVMOVE_BUILD_DIR:-$top/build}
pgdir=${IT_PGDIR:-$build/itest/pg}
pgport=${IT_PGPORT:-54339}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
export PGOPTIONS="-c client_min_messages=warning"

die() {
    echo "unit_pg: $*" >&2
    exit 1
}

[[ $# -eq 2 ]] || die "usage: unit_pg.sh create|drop NAME"
[[ $2 =~ ^[a-z_][a-z0-9_]*$ ]] || die "bad database name '$2'"
db=$2

psql_admin() {
    local data
    data=$(cat "$pgdir/pgdata")
    service_as_postgres "$PGBIN/psql" -h "$data" -p "$(cat "$pgdir/pgport")" -d postgres \
        -qAtX -v ON_ERROR_STOP=1 "$@"
}

case $1 in
create)
    "$top/scripts/devstack" pg start --dir "$pgdir" --pg-port "$pgport" >/dev/null
    psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
    echo "host=$(cat "$pgdir/pgdata") port=$(cat "$pgdir/pgport") user=postgres dbname=$db"
    ;;
drop)
    [[ -f $pgdir/pgdata ]] || exit 0
    psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
    ;;
*) die "usage: unit_pg.sh create|drop NAME" ;;
esac
