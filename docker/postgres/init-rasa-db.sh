#!/bin/sh
# First start of the PostgreSQL volume: a second database for Rasa's tracker store.
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE DATABASE \"${RASA_TRACKER_DB:-vetrina_rasa}\""
