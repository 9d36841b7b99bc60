-- Tenants, their API keys, and small settings.
-- Times are UTC text, fixed width: 2006-01-02T15:04:05.000000000Z.

-- +goose Up
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL REFERENCES tenants (id),
    role       TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    hash       BLOB NOT NULL UNIQUE, -- SHA-256 of the secret
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant, created_at, id);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE meta;
DROP TABLE api_keys;
DROP TABLE tenants;
