#!/bin/sh
# Run once by the postgres image when it creates the primary's data: lets the replica connect for
# streaming replication (the image's pg_hba.conf allows replication from localhost only).
set -e
echo "host replication sluice all scram-sha-256" >> "$PGDATA/pg_hba.conf"
