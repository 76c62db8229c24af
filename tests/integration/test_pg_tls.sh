#!/bin/bash
# PostgreSQL with sslmode=verify-full (issue 17 item 4), for real: the test's own PostgreSQL
# with ssl=on and a server certificate for localhost and 127.0.0.1 signed by a CA made here with
# openssl; kvmove-worker migrate and kvmove connect with verify-full and that CA (the session is
# TLS), and fail clearly with another CA, and with a host name the certificate does not name.
# (Kafka's SASL_SSL cannot be shown here: the embedded broker speaks plain text only.)
set -uo pipefail
IT_TOP=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)
IT_BUILD=${KVMOVE_BUILD_DIR:-$IT_TOP/build}
# shellcheck source=../../scripts/lib/service.sh
. "$IT_TOP/scripts/lib/service.sh"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
D=$IT_BUILD/itest/pg_tls
PORT=54391
PASS=0 FAIL=0
check() { local what=$1; shift; if "$@"; then PASS=$((PASS + 1)); echo "[pg_tls] ok: $what"; else FAIL=$((FAIL + 1)); echo "[pg_tls] FAILED: $what"; fi; }
fails() { ! "$@" >/dev/null 2>&1; }
eq() { [[ $1 == "$2" ]] || { echo "    expected: $1" >&2; echo "    actual:   $2" >&2; return 1; }; }
stop() {
    [[ -f $D/data/postmaster.pid ]] && service_as_postgres "$PGBIN/pg_ctl" -D "$D/data" -m fast -w stop >/dev/null 2>&1
    echo "$PASS passed, $FAIL failed"
    ((FAIL == 0))
}
trap stop EXIT
[[ -f $D/data/postmaster.pid ]] && service_as_postgres "$PGBIN/pg_ctl" -D "$D/data" -m immediate -w stop >/dev/null 2>&1
rm -rf "$D"
mkdir -p "$D/tls" "$D/sock"
cd "$D/tls" || exit 1

# A CA, the server's certificate for localhost and 127.0.0.1 signed by it, and another CA.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kvmove test CA" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=another CA" -keyout other.key -out other-ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\n' >san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.crt 2>/dev/null
check "openssl made the CA and the server certificate" openssl verify -CAfile ca.pem server.crt

chown postgres "$D" "$D/sock"
service_as_postgres "$PGBIN/initdb" -D "$D/data" -U postgres -A trust >"$D/initdb.log" 2>&1 || { echo "initdb failed"; cat "$D/initdb.log"; exit 1; }
install -o postgres -m 0600 server.key "$D/data/server.key"
install -o postgres -m 0644 server.crt "$D/data/server.crt"
# Network connections: TLS only.
printf 'local all all trust\nhostssl all all 127.0.0.0/8 trust\nhost all all 127.0.0.0/8 reject\n' >"$D/data/pg_hba.conf"
chown postgres "$D/data/pg_hba.conf"
service_as_postgres "$PGBIN/pg_ctl" -D "$D/data" -l "$D/postgres.log" -w -t 120 \
    -o "-p $PORT -k $D/sock -c listen_addresses=127.0.0.1,127.0.0.2 -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key" \
    start >/dev/null || { echo "postgres did not start"; cat "$D/postgres.log"; exit 1; }

export KVMOVE_CONFIG=/dev/null PATH=$IT_BUILD:$PATH
DB="port=$PORT dbname=postgres user=postgres sslmode=verify-full sslrootcert=$D/tls/ca.pem"
out=$(kvmove-worker --db "host=localhost $DB" migrate 2>&1)
check "kvmove-worker migrate over TLS with verify-full (host localhost)" eq 0 "$?"
check "  the schema is there" eq "$(ls "$IT_TOP"/migrations/[0-9]*.sql | wc -l)" "$(psql -h "$D/sock" -p $PORT -U postgres -d postgres -qAtX -c 'SELECT count(*) FROM schema_migrations')"
check "kvmove jobs with verify-full (host 127.0.0.1, the certificate's IP)" eq "[]" "$(kvmove --db "host=127.0.0.1 $DB" jobs --json 2>&1 | jq -c .)"
check "the session is TLS" eq t "$(psql "host=127.0.0.1 $DB" -qAtX -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')"
check "plain text is refused by the server (pg_hba: hostssl only)" fails psql "host=127.0.0.1 port=$PORT dbname=postgres user=postgres sslmode=disable" -qAtX -c 'SELECT 1'

# Another CA: the server's certificate is refused, and kvmove says so.
out=$(kvmove --db "host=127.0.0.1 ${DB/ca.pem/other-ca.pem}" jobs 2>&1)
check "kvmove with another CA exits 3" eq 3 "$?"
echo "    $out" | head -n 3
check "  saying the certificate could not be verified" grep -q "certificate verify failed" <<<"$out"
out=$(kvmove-worker --db "host=localhost ${DB/ca.pem/other-ca.pem}" migrate 2>&1)
check "kvmove-worker migrate with another CA fails" test $? -ne 0
check "  saying the certificate could not be verified" grep -q "certificate verify failed" <<<"$out"
# A name the certificate does not carry: verify-full refuses it, verify-ca (no name check) not.
out=$(kvmove --db "host=127.0.0.2 $DB" jobs 2>&1)
check "kvmove with verify-full to 127.0.0.2 (not in the certificate) exits 3" eq 3 "$?"
echo "    $out" | head -n 3
check "  saying the name does not match" grep -q 'does not match host name "127.0.0.2"' <<<"$out"
check "  while verify-ca (CA only, no name) connects" eq "[]" "$(kvmove --db "host=127.0.0.2 ${DB/verify-full/verify-ca}" jobs --json 2>&1 | jq -c .)"
