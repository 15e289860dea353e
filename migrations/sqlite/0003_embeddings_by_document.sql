-- The embedding cache belongs to a tenant's documents. Keyed by (model, text)
-- alone it was shared by every tenant (whether a text was already embedded was
-- visible to another tenant through ingestion time), and deleting a document
-- could not tell which vectors were still needed. A row now names the tenant and
-- the document that uses the vector: a document reuses its tenant's vectors
-- (copying the row under its own id), and deleting the document deletes its
-- rows, so a text stays cached exactly while a live document of the tenant has it.
-- The old rows cannot be attributed (text hashes are computed outside SQL), so
-- they go: the next ingestion or reindex embeds those texts again.
DROP TABLE embeddings;
CREATE TABLE embeddings (
    tenant_id    TEXT NOT NULL,
    model_id     TEXT NOT NULL,
    text_sha256  TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    vector       BLOB NOT NULL,
    PRIMARY KEY (tenant_id, model_id, text_sha256, document_id)
);
CREATE INDEX embeddings_by_document ON embeddings (document_id);
