-- Properties, room types, and the actors' journal and snapshots.

-- +goose Up
CREATE TABLE properties (
    tenant     text NOT NULL,
    id         text NOT NULL,
    name       text NOT NULL,
    timezone   text NOT NULL,
    currency   text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE room_types (
    tenant     text NOT NULL,
    property   text NOT NULL,
    id         text NOT NULL,
    name       text NOT NULL,
    rooms      integer NOT NULL,
    price      bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, property, id)
);

-- The primary key (actor_id, seq) is the fence: only one activation of an
-- actor can commit a given seq. data is the event as the actor encoded it
-- (JSON of booking.Event), kept byte for byte.
CREATE TABLE journal (
    actor_id text NOT NULL,
    seq      bigint NOT NULL CHECK (seq > 0),
    data     bytea NOT NULL,
    at       timestamptz NOT NULL,
    PRIMARY KEY (actor_id, seq)
);

-- Only the latest snapshot of each actor is kept.
CREATE TABLE snapshots (
    actor_id text PRIMARY KEY,
    seq      bigint NOT NULL,
    data     bytea NOT NULL,
    at       timestamptz NOT NULL
);

-- staylock_assert raises SQLSTATE code with msg unless ok. CommitBatch uses
-- it inside its pipelined transaction, where a failed check must abort the
-- whole transaction: SLFNC = fenced, SLIDM = idempotency key taken.
-- +goose StatementBegin
CREATE FUNCTION staylock_assert(ok boolean, code text, msg text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg;
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION staylock_assert(boolean, text, text);
DROP TABLE snapshots;
DROP TABLE journal;
DROP TABLE room_types;
DROP TABLE properties;
