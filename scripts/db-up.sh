#!/usr/bin/env bash
# Starts private MariaDB and PostgreSQL instances on loopback for tests and the demo (idempotent).
#
# Data lives in target/db/ of this checkout, on fixed non-default ports, so the instances never collide with
# system servers. Installs Debian's mariadb-server, mariadb-client and postgresql with apt-get when missing.
# Users (loopback-only test instances; these passwords guard nothing else):
#   MariaDB    pgc_admin/pgc_admin (all privileges)   pgc_reader/pgc_reader (SELECT, RELOAD, REPLICATION CLIENT: read-only)
#   PostgreSQL pgc_super/pgc_super (superuser)        pgc_owner/pgc_owner (no superuser; owns the target databases)
#   both       pgc_cert: no password, logs in with the test client certificate (target/db/tls/client.crt) only
# Prints the connection URLs and writes them to target/db/env for `source`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DB="${PGCONVERGE_DB_DIR:-$ROOT/target/db}"
MY_PORT="${PGCONVERGE_MY_PORT:-13306}"
PG_PORT="${PGCONVERGE_PG_PORT:-15432}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

log() { printf 'db-up: %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_missing() {
  local need=()
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
  command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
  [ -x "$PG_BIN/postgres" ] || need+=(postgresql postgresql-contrib)
  # tests/partition.rs drops a proxy's packets to simulate a dead route; it can only do so as root.
  if [ "$(id -u)" = 0 ]; then command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables); fi
  if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    as_root apt-get update -qq
    # policy-rc.d keeps the packages from starting system-wide servers we do not use.
    as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# PostgreSQL refuses to run as root; as root we run both servers as their packages' system users.
RUN_USER="$(id -un)"
if [ "$(id -u)" = 0 ]; then RUN_USER_PG=postgres; RUN_USER_MY=mysql; else RUN_USER_PG="$RUN_USER"; RUN_USER_MY="$RUN_USER"; fi
run_as() { local u="$1"; shift; if [ "$(id -un)" = "$u" ]; then "$@"; else runuser -u "$u" -- "$@"; fi; }

# A test CA and a server certificate for 127.0.0.1/localhost, which both servers offer (TLS available, not
# required), plus a second CA that signed nothing here (the wrong-CA tests). Each server gets its own key copy.
setup_tls() {
  local t="$DB/tls"
  mkdir -p "$t"
  if [ ! -f "$t/server.crt" ]; then
    log "creating the test CA and server certificate in $t"
    (
      cd "$t"
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=pgconverge test CA" \
        -keyout ca.key -out ca.crt 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile ext.cnf \
        -out server.crt 2>/dev/null
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=another CA" \
        -keyout other-ca.key -out other-ca.crt 2>/dev/null
      cp server.key my-server.key; cp server.key pg-server.key
    )
  fi
  if [ ! -f "$t/client.crt" ]; then
    log "creating the test client certificate (CN=pgc_cert) in $t"
    (
      cd "$t"
      openssl req -newkey rsa:2048 -nodes -subj "/CN=pgc_cert" -keyout client.key -out client.csr 2>/dev/null
      printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client-ext.cnf
      openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client-ext.cnf \
        -out client.crt 2>/dev/null
    )
  fi
  chmod 600 "$t/my-server.key" "$t/pg-server.key"
  chmod o+rx "$t"; chmod o+r "$t"/*.crt
  if [ "$(id -u)" = 0 ]; then chown "$RUN_USER_MY" "$t/my-server.key"; chown "$RUN_USER_PG" "$t/pg-server.key"; fi
}

start_mariadb() {
  local data="$DB/mariadb" run="$DB/mariadb-run"
  mkdir -p "$data" "$run"
  if mariadb-admin --protocol=TCP -h 127.0.0.1 -P "$MY_PORT" -u pgc_admin -ppgc_admin ping >/dev/null 2>&1; then
    # A server started by an older version of this script gets the reader's current grants.
    mariadb --protocol=TCP -h 127.0.0.1 -P "$MY_PORT" -u pgc_admin -ppgc_admin -e \
      "GRANT SELECT, RELOAD, REPLICATION CLIENT, REPLICATION SLAVE, PROCESS ON *.* TO 'pgc_reader'@'127.0.0.1'" \
      2>/dev/null || true
    log "MariaDB already running on $MY_PORT"; return
  fi
  cat >"$DB/mariadb.cnf" <<EOF
[mariadbd]
datadir=$data
socket=$run/mariadb.sock
pid-file=$run/mariadb.pid
port=$MY_PORT
bind-address=127.0.0.1
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
innodb_buffer_pool_size=${PGCONVERGE_MY_BUFFER_POOL:-2G}
innodb_log_file_size=512M
innodb_flush_log_at_trx_commit=2
max_allowed_packet=256M
local_infile=1
# A binary log as production servers keep one (row events: what change capture reads), so that the snapshot's
# position, resume's and verify's "has the source moved" and the sign-off checks run as they do in production.
# Full row images with column metadata: what plan --follow asks of a source whose log is to be followed.
# The tests write GBs of rows: small files, purged a quarter of an hour after they are full, bound its size.
log-bin=mariadb-bin
server-id=1
binlog_format=ROW
binlog_row_image=FULL
binlog_row_metadata=FULL
max_binlog_size=128M
binlog_expire_logs_seconds=900
log-error=$run/error.log
ssl-ca=$DB/tls/ca.crt
ssl-cert=$DB/tls/server.crt
ssl-key=$DB/tls/my-server.key
EOF
  # A file the previous server is still removing may vanish under chown: that is not an error.
  if [ "$(id -u)" = 0 ]; then chown -R "$RUN_USER_MY" "$data" "$run" 2>/dev/null || true; fi
  if [ ! -d "$data/mysql" ]; then
    log "initialising MariaDB in $data"
    run_as "$RUN_USER_MY" mariadb-install-db --defaults-file="$DB/mariadb.cnf" --auth-root-authentication-method=socket \
      --skip-test-db >"$run/install.log" 2>&1 || { cat "$run/install.log" >&2; exit 1; }
  fi
  run_as "$RUN_USER_MY" nohup mariadbd --defaults-file="$DB/mariadb.cnf" >/dev/null 2>&1 &
  for _ in $(seq 1 60); do
    [ -S "$run/mariadb.sock" ] && run_as "$RUN_USER_MY" mariadb-admin --socket="$run/mariadb.sock" -u "$RUN_USER_MY" ping >/dev/null 2>&1 && break
    mariadb-admin --protocol=TCP -h 127.0.0.1 -P "$MY_PORT" -u pgc_admin -ppgc_admin ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  # Root authenticates by socket as the OS user that ran install-db; fall back to TCP admin on restarts.
  local sql="CREATE USER IF NOT EXISTS 'pgc_admin'@'127.0.0.1' IDENTIFIED BY 'pgc_admin';
GRANT ALL PRIVILEGES ON *.* TO 'pgc_admin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'pgc_reader'@'127.0.0.1' IDENTIFIED BY 'pgc_reader';
GRANT SELECT, RELOAD, REPLICATION CLIENT, REPLICATION SLAVE, PROCESS ON *.* TO 'pgc_reader'@'127.0.0.1';
FLUSH PRIVILEGES;"
  if ! run_as "$RUN_USER_MY" mariadb --socket="$run/mariadb.sock" -u "$RUN_USER_MY" -e "$sql" 2>/dev/null; then
    mariadb --protocol=TCP -h 127.0.0.1 -P "$MY_PORT" -u pgc_admin -ppgc_admin -e "$sql" \
      || { tail -20 "$run/error.log" >&2; exit 1; }
  fi
  log "MariaDB up on 127.0.0.1:$MY_PORT"
}

start_postgres() {
  local data="$DB/pg" run="$DB/pg-run"
  mkdir -p "$data" "$run"
  if [ "$(id -u)" = 0 ]; then chown -R "$RUN_USER_PG" "$data" "$run"; chmod 700 "$data"; fi
  if PGPASSWORD=pgc_super psql -h 127.0.0.1 -p "$PG_PORT" -U pgc_super -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    log "PostgreSQL already running on $PG_PORT"; return
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $data"
    local pw; pw="$(mktemp)"; echo pgc_super >"$pw"; chmod 644 "$pw"
    run_as "$RUN_USER_PG" "$PG_BIN/initdb" -D "$data" -U pgc_super --pwfile="$pw" -A scram-sha-256 -E UTF8 \
      --locale=C.UTF-8 >"$run/initdb.log" 2>&1 || { cat "$run/initdb.log" >&2; rm -f "$pw"; exit 1; }
    rm -f "$pw"
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$run'
shared_buffers = ${PGCONVERGE_PG_SHARED_BUFFERS:-1GB}
maintenance_work_mem = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
max_connections = 200
EOF
  fi
  run_as "$RUN_USER_PG" "$PG_BIN/pg_ctl" -D "$data" -l "$run/server.log" -w -t 60 start >/dev/null \
    || { tail -20 "$run/server.log" >&2; exit 1; }
  PGPASSWORD=pgc_super psql -q -h 127.0.0.1 -p "$PG_PORT" -U pgc_super -d postgres -v ON_ERROR_STOP=1 <<'EOF'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgc_owner') THEN
    CREATE ROLE pgc_owner LOGIN PASSWORD 'pgc_owner' NOSUPERUSER CREATEDB;
  END IF;
END $$;
EOF
  # TLS available (whether it is used stays with the client's sslmode); reloadable, so no restart.
  PGPASSWORD=pgc_super psql -q -h 127.0.0.1 -p "$PG_PORT" -U pgc_super -d postgres -v ON_ERROR_STOP=1 \
    -c "ALTER SYSTEM SET ssl_cert_file = '$DB/tls/server.crt'" -c "ALTER SYSTEM SET ssl_key_file = '$DB/tls/pg-server.key'" \
    -c "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" >/dev/null
  log "PostgreSQL up on 127.0.0.1:$PG_PORT"
}

# A user on each server that logs in with the test client certificate and no password: PostgreSQL's `cert`
# method (pg_hba.conf, checked against the test CA) and MariaDB's REQUIRE SUBJECT. Idempotent, for running servers too.
setup_cert_users() {
  local hba="$DB/pg/pg_hba.conf"
  if ! grep -q pgc_cert "$hba"; then
    # Rewritten in place (cat >) so the file keeps its owner.
    { echo 'hostssl all pgc_cert 127.0.0.1/32 cert'; cat "$hba"; } >"$hba.new" && cat "$hba.new" >"$hba" && rm -f "$hba.new"
  fi
  PGPASSWORD=pgc_super psql -q -h 127.0.0.1 -p "$PG_PORT" -U pgc_super -d postgres -v ON_ERROR_STOP=1 \
    -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgc_cert') THEN CREATE ROLE pgc_cert LOGIN; END IF; END \$\$" \
    -c "ALTER SYSTEM SET ssl_ca_file = '$DB/tls/ca.crt'" -c "SELECT pg_reload_conf()" >/dev/null
  mariadb --protocol=TCP -h 127.0.0.1 -P "$MY_PORT" -u pgc_admin -ppgc_admin -e \
    "CREATE USER IF NOT EXISTS 'pgc_cert'@'127.0.0.1' REQUIRE SUBJECT '/CN=pgc_cert';
     GRANT SELECT, PROCESS ON *.* TO 'pgc_cert'@'127.0.0.1';"
}

install_missing
mkdir -p "$DB"
# The server users must be able to reach the data directories through the checkout.
if [ "$(id -u)" = 0 ]; then chmod o+x "$ROOT" "$ROOT/target" "$DB" 2>/dev/null || true; fi
setup_tls
start_mariadb
start_postgres
setup_cert_users

cat >"$DB/env" <<EOF
export PGCONVERGE_TEST_MYSQL_ADMIN=mysql://pgc_admin:pgc_admin@127.0.0.1:$MY_PORT
export PGCONVERGE_TEST_MYSQL_READER=mysql://pgc_reader:pgc_reader@127.0.0.1:$MY_PORT
export PGCONVERGE_TEST_PG_SUPER=postgres://pgc_super:pgc_super@127.0.0.1:$PG_PORT
export PGCONVERGE_TEST_PG_OWNER=postgres://pgc_owner:pgc_owner@127.0.0.1:$PG_PORT
export PGCONVERGE_TEST_CA=$DB/tls/ca.crt
export PGCONVERGE_TEST_OTHER_CA=$DB/tls/other-ca.crt
export PGCONVERGE_TEST_CLIENT_CERT=$DB/tls/client.crt
export PGCONVERGE_TEST_CLIENT_KEY=$DB/tls/client.key
EOF
cat "$DB/env"
