-- Rollcall schema, SQLite. Times are milliseconds since the Unix epoch.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    max_uses BIGINT NOT NULL,
    uses BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    cert_fingerprint TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    enrollment_token_id TEXT,
    host_id TEXT,
    last_seq BIGINT NOT NULL DEFAULT 0,
    last_seen_at BIGINT,
    version TEXT NOT NULL DEFAULT '',
    revoked_at BIGINT
);

CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    fqdn TEXT NOT NULL DEFAULT '',
    class TEXT NOT NULL DEFAULT 'linux_server',
    machine_id TEXT NOT NULL DEFAULT '',
    dmi_uuid TEXT NOT NULL DEFAULT '',
    dmi_serial TEXT NOT NULL DEFAULT '',
    macs TEXT NOT NULL DEFAULT '',
    os_name TEXT NOT NULL DEFAULT '',
    os_version TEXT NOT NULL DEFAULT '',
    kernel TEXT NOT NULL DEFAULT '',
    arch TEXT NOT NULL DEFAULT '',
    cpu_model TEXT NOT NULL DEFAULT '',
    cpu_threads BIGINT NOT NULL DEFAULT 0,
    memory_bytes BIGINT NOT NULL DEFAULT 0,
    package_count BIGINT NOT NULL DEFAULT 0,
    lifecycle TEXT NOT NULL DEFAULT 'active',
    presence TEXT NOT NULL DEFAULT 'unknown',
    agent_id TEXT,
    match_rule TEXT NOT NULL DEFAULT '',
    possible_duplicate_of TEXT,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    last_inventory_at BIGINT
);
CREATE INDEX hosts_hostname ON hosts (hostname);
CREATE INDEX hosts_machine_id ON hosts (machine_id);
CREATE INDEX hosts_dmi_uuid ON hosts (dmi_uuid);
CREATE INDEX hosts_dmi_serial ON hosts (dmi_serial);

CREATE TABLE ci_items (
    host_id TEXT NOT NULL,
    class TEXT NOT NULL,
    item_key TEXT NOT NULL,
    name TEXT NOT NULL,
    attrs TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, class, item_key)
);
CREATE INDEX ci_items_class_name ON ci_items (class, name);

CREATE TABLE changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id TEXT NOT NULL,
    class TEXT NOT NULL,
    item_key TEXT NOT NULL,
    change TEXT NOT NULL,
    field TEXT NOT NULL DEFAULT '',
    old_value TEXT,
    new_value TEXT,
    at BIGINT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX changes_host_at ON changes (host_id, at);
CREATE INDEX changes_at ON changes (at);

CREATE TABLE health_samples (
    host_id TEXT NOT NULL,
    sampled_at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (host_id, sampled_at, seq)
);
