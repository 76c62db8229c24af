#!/bin/bash
# kvmove container entrypoint: reads the PostgreSQL password from a secret file, then runs the
# command (kvmove-worker run | kvmove-worker migrate | kvmove ...).
set -euo pipefail
if [[ -n ${KVMOVE_DB_PASSWORD_FILE:-} ]]; then
    PGPASSWORD=$(<"$KVMOVE_DB_PASSWORD_FILE")
    export PGPASSWORD
fi
exec "$@"
