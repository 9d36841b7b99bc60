-- Webhook endpoints of a tenant and the log of every delivery attempt.
-- events is the comma-separated, sorted list of event types an endpoint
-- receives; secret is its Standard Webhooks signing secret (whsec_…),
-- shown to the client once.

-- +goose Up
CREATE TABLE webhook_endpoints (
    tenant     text NOT NULL REFERENCES tenants (id),
    id         text NOT NULL,
    url        text NOT NULL,
    events     text NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE webhook_deliveries (
    id          bigserial PRIMARY KEY,
    tenant      text NOT NULL,
    endpoint    text NOT NULL,
    message_id  text NOT NULL,
    event       text NOT NULL,
    attempt     integer NOT NULL,
    status_code integer NOT NULL, -- 0 when no HTTP answer came
    latency_ms  double precision NOT NULL,
    error       text NOT NULL DEFAULT '',
    payload     text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (tenant, endpoint, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
