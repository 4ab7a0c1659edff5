#!/bin/sh
# A streaming replica of `db`: cloned with pg_basebackup -R on first start (which writes
# standby.signal and primary_conninfo), then run as a hot standby. Runs as the postgres user.
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_basebackup -h db -U sluice -D "$PGDATA" -R -X stream -c fast; do
    echo "replica: waiting for the primary"
    sleep 2
  done
  chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on
