-- Folio metadata schema (SQLite). Times are Unix milliseconds.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE collections (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- status: queued | processing | ready | failed | deleting
CREATE TABLE documents (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    collection_id    TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL,
    current_version  BIGINT,
    latest_version   BIGINT NOT NULL,
    error_code       TEXT,
    error_message    TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (tenant_id, collection_id, name)
);
CREATE INDEX documents_by_collection ON documents (tenant_id, collection_id);

-- status: pending | ready | failed | superseded
CREATE TABLE document_versions (
    document_id     TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    version         BIGINT NOT NULL,
    sha256          TEXT NOT NULL,
    bytes           BIGINT NOT NULL,
    format          TEXT NOT NULL,
    file_name       TEXT NOT NULL,
    status          TEXT NOT NULL,
    blob_key        TEXT NOT NULL,
    text_chars      BIGINT,
    page_count      BIGINT,
    section_count   BIGINT,
    chunk_count     BIGINT,
    structure_json  TEXT,
    error_code      TEXT,
    error_message   TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (document_id, version)
);

CREATE TABLE chunks (
    id              TEXT PRIMARY KEY,
    document_id     TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    version         BIGINT NOT NULL,
    tenant_id       TEXT NOT NULL,
    collection_id   TEXT NOT NULL,
    ordinal         BIGINT NOT NULL,
    heading_path    TEXT NOT NULL,
    char_start      BIGINT NOT NULL,
    char_end        BIGINT NOT NULL,
    page_start      BIGINT NOT NULL,
    page_end        BIGINT NOT NULL,
    token_count     BIGINT NOT NULL,
    text            TEXT NOT NULL,
    context_header  TEXT
);
CREATE INDEX chunks_by_document ON chunks (document_id, version, ordinal);
CREATE INDEX chunks_by_tenant ON chunks (tenant_id);

-- Embeddings keyed by model and the sha256 of the embedded text, so a
-- re-ingested or resumed document never embeds an unchanged chunk twice.
CREATE TABLE embeddings (
    model_id     TEXT NOT NULL,
    text_sha256  TEXT NOT NULL,
    vector       BLOB NOT NULL,
    PRIMARY KEY (model_id, text_sha256)
);

-- kind: ingest | purge_version | delete
-- status: queued | running | succeeded | failed
-- stage: queued | parsing | structuring | chunking | embedding | indexing | done | failed
CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    tenant_id         TEXT NOT NULL,
    document_id       TEXT NOT NULL,
    version           BIGINT NOT NULL,
    status            TEXT NOT NULL,
    stage             TEXT NOT NULL,
    progress          DOUBLE PRECISION NOT NULL DEFAULT 0,
    chunks_done       BIGINT NOT NULL DEFAULT 0,
    chunks_total      BIGINT NOT NULL DEFAULT 0,
    attempts          BIGINT NOT NULL DEFAULT 0,
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    error_code        TEXT,
    error_message     TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    finished_at       BIGINT
);
CREATE INDEX jobs_claimable ON jobs (status, created_at);
CREATE INDEX jobs_by_document ON jobs (document_id);
