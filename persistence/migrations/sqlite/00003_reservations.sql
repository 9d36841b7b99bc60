-- Reservations, hold rows and idempotency records.

-- +goose Up
CREATE TABLE reservations (
    tenant            TEXT NOT NULL,
    id                TEXT NOT NULL,
    property          TEXT NOT NULL,
    status            TEXT NOT NULL,
    stays             TEXT NOT NULL, -- JSON
    guest             TEXT NOT NULL, -- JSON
    channel           TEXT NOT NULL DEFAULT '',
    external_ref      TEXT NOT NULL DEFAULT '',
    total_price       INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    version           INTEGER NOT NULL,
    primary_room_type TEXT NOT NULL,
    arrival           INTEGER NOT NULL, -- earliest arrival, days since 1970-01-01
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX reservations_list_idx ON reservations (tenant, property, created_at, id);
CREATE INDEX reservations_status_idx ON reservations (tenant, property, status, created_at, id);
CREATE INDEX reservations_arrival_idx ON reservations (tenant, property, arrival);
CREATE INDEX reservations_external_ref_idx ON reservations (tenant, property, external_ref)
    WHERE external_ref <> '';

-- One row per room type of a hold.
CREATE TABLE holds (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    room_type  TEXT NOT NULL,
    property   TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (tenant, id, room_type)
) WITHOUT ROWID;
CREATE INDEX holds_expires_idx ON holds (expires_at);

-- status 0 = in flight (claimed, no outcome yet).
CREATE TABLE idempotency (
    tenant       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB NOT NULL DEFAULT x'',
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX idempotency_expires_idx ON idempotency (expires_at);

-- +goose Down
DROP TABLE idempotency;
DROP TABLE holds;
DROP TABLE reservations;
