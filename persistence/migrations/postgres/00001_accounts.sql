-- Tenants, their API keys, and small settings.

-- +goose Up
CREATE TABLE tenants (
    id         text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    tenant     text NOT NULL REFERENCES tenants (id),
    role       text NOT NULL,
    name       text NOT NULL DEFAULT '',
    hash       bytea NOT NULL UNIQUE, -- SHA-256 of the secret
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant, created_at, id);

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- +goose Down
DROP TABLE meta;
DROP TABLE api_keys;
DROP TABLE tenants;
