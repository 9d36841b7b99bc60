-- Revocation that takes effect on every node before `keys revoke` returns.
-- Every revocation raises the key generation (meta 'key_generation') in its
-- own transaction; each serving node polls it, drops its key cache when it
-- moves, and confirms the generation it has applied here. `keys revoke`
-- waits until every node seen lately has confirmed the new generation.

-- +goose Up
CREATE TABLE key_cache_nodes (
    node       text PRIMARY KEY,
    generation INTEGER NOT NULL,
    seen_at    TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('key_generation', '0') ON CONFLICT (key) DO NOTHING;

-- +goose Down
DELETE FROM meta WHERE key = 'key_generation';
DROP TABLE key_cache_nodes;
