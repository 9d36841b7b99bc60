-- Reservations, hold rows and idempotency records.

-- +goose Up
CREATE TABLE reservations (
    tenant            text NOT NULL,
    id                text NOT NULL,
    property          text NOT NULL,
    status            text NOT NULL,
    stays             jsonb NOT NULL,
    guest             jsonb NOT NULL,
    channel           text NOT NULL DEFAULT '',
    external_ref      text NOT NULL DEFAULT '',
    total_price       bigint NOT NULL,
    currency          text NOT NULL,
    version           integer NOT NULL,
    primary_room_type text NOT NULL,
    arrival           date NOT NULL, -- earliest arrival of the stays
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX reservations_list_idx ON reservations (tenant, property, created_at, id);
CREATE INDEX reservations_status_idx ON reservations (tenant, property, status, created_at, id);
CREATE INDEX reservations_arrival_idx ON reservations (tenant, property, arrival);
CREATE INDEX reservations_external_ref_idx ON reservations (tenant, property, external_ref)
    WHERE external_ref <> '';

-- One row per room type of a hold, so a hold id can be found and released
-- without knowing its room types.
CREATE TABLE holds (
    tenant     text NOT NULL,
    id         text NOT NULL,
    room_type  text NOT NULL,
    property   text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, id, room_type)
);
CREATE INDEX holds_expires_idx ON holds (expires_at);

-- status 0 = in flight (claimed, no outcome yet).
CREATE TABLE idempotency (
    tenant       text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer NOT NULL,
    body         bytea NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX idempotency_expires_idx ON idempotency (expires_at);

-- +goose Down
DROP TABLE idempotency;
DROP TABLE holds;
DROP TABLE reservations;
