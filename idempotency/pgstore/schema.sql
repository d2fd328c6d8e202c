-- apiguard idempotency records (github.com/clipia/apiguard/idempotency/pgstore).
-- One row per record key. state: 1 in progress, 2 completed. expires_at is
-- the end of the lease (in progress) or of the retention (completed); a row
-- past it is dead and is deleted by the sweep. response holds
-- idempotency.Response.MarshalBinary (completed rows only).
CREATE TABLE IF NOT EXISTS apiguard_idempotency (
    key         bytea       PRIMARY KEY,
    state       smallint    NOT NULL CHECK (state IN (1, 2)),
    fingerprint text        NOT NULL,
    token       text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    response    bytea
);
CREATE INDEX IF NOT EXISTS apiguard_idempotency_expires_idx ON apiguard_idempotency (expires_at);
