-- Rotating a webhook's signing secret: the previous secret keeps signing
-- (a second signature in webhook-signature) until previous_until, so a
-- receiver that still verifies with it loses nothing while it switches.

-- +goose Up
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret text NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN previous_until timestamptz;

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN previous_until;
ALTER TABLE webhook_endpoints DROP COLUMN previous_secret;
