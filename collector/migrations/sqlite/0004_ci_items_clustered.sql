-- Configuration items clustered by (host, class, key): a host's items are
-- one range of one b-tree, read and written together, and every insert
-- updates one b-tree less than a rowid table with a separate primary-key
-- index (docs/performance.md, full snapshots into SQLite).
CREATE TABLE ci_items_clustered (
    host_id TEXT NOT NULL,
    class TEXT NOT NULL,
    item_key TEXT NOT NULL,
    name TEXT NOT NULL,
    attrs TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, class, item_key)
) WITHOUT ROWID;
INSERT INTO ci_items_clustered (host_id, class, item_key, name, attrs, first_seen_at, updated_at)
    SELECT host_id, class, item_key, name, attrs, first_seen_at, updated_at FROM ci_items;
DROP TABLE ci_items;
ALTER TABLE ci_items_clustered RENAME TO ci_items;
CREATE INDEX ci_items_class_name ON ci_items (class, name);
