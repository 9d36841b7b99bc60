-- Properties, room types, and the actors' journal and snapshots.

-- +goose Up
CREATE TABLE properties (
    tenant     TEXT NOT NULL,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    currency   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE room_types (
    tenant     TEXT NOT NULL,
    property   TEXT NOT NULL,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    rooms      INTEGER NOT NULL,
    price      INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant, property, id)
) WITHOUT ROWID;

-- The primary key (actor_id, seq) is the fence: only one activation of an
-- actor can commit a given seq.
CREATE TABLE journal (
    actor_id TEXT NOT NULL,
    seq      INTEGER NOT NULL CHECK (seq > 0),
    data     BLOB NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (actor_id, seq)
) WITHOUT ROWID;

-- Only the latest snapshot of each actor is kept.
CREATE TABLE snapshots (
    actor_id TEXT PRIMARY KEY,
    seq      INTEGER NOT NULL,
    data     BLOB NOT NULL,
    at       TEXT NOT NULL
);

-- +goose Down
DROP TABLE snapshots;
DROP TABLE journal;
DROP TABLE room_types;
DROP TABLE properties;
