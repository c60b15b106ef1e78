-- The built-in vectors server's embedded backend (issue #6 point 2): a tenant's indexes and
-- their records. The database is the record of truth; each replica keeps a searchable copy
-- in memory, reloaded when `revision` (bumped by every write) moves past its own.
CREATE TABLE vector_indexes (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    dimension    INTEGER NOT NULL CHECK (dimension BETWEEN 1 AND 4096),
    metric       TEXT NOT NULL CHECK (metric IN ('cosine', 'euclidean', 'dotproduct')),
    backend      TEXT NOT NULL CHECK (backend IN ('embedded', 'pinecone')),
    -- A Pinecone index's host, and its API key sealed by the vault (context
    -- `vector_index:{tenant}:{id}`); NULL for embedded indexes.
    remote_host     TEXT,
    credentials_enc BLOB,
    revision     INTEGER NOT NULL DEFAULT 0,
    vector_count INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    CONSTRAINT vector_indexes_tenant_name_key UNIQUE (tenant_id, name)
);

-- `embedding` is the vector as given: little-endian f32s, 4 × dimension bytes.
CREATE TABLE vector_records (
    index_id   BLOB NOT NULL REFERENCES vector_indexes (id) ON DELETE CASCADE,
    tenant_id  BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    embedding  BLOB NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (index_id, id)
) WITHOUT ROWID;
