-- Presence, outages, incidents and the incident event log (transactional outbox source).
ALTER TABLE hosts ADD COLUMN presence_since BIGINT;
ALTER TABLE hosts ADD COLUMN last_heartbeat_at BIGINT;
ALTER TABLE hosts ADD COLUMN away_until BIGINT;
ALTER TABLE hosts ADD COLUMN away_reason TEXT;
ALTER TABLE hosts ADD COLUMN tags TEXT NOT NULL DEFAULT '';

CREATE TABLE outages (
    id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    kind TEXT NOT NULL,              -- unplanned | planned | degraded
    cause TEXT NOT NULL,
    began_at BIGINT NOT NULL,        -- last heartbeat seen before the outage
    detected_at BIGINT NOT NULL,
    ended_at BIGINT,
    incident_id TEXT
);
CREATE INDEX outages_host ON outages (host_id, began_at);
CREATE INDEX outages_open ON outages (ended_at);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL,         -- "<ci id>:<rule>"
    ci_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,          -- critical | major | minor | warning | info
    state TEXT NOT NULL,             -- open | acknowledged | resolved
    summary TEXT NOT NULL,
    details TEXT NOT NULL,           -- JSON object
    parent_id TEXT,                  -- storm or dependency parent
    suppressed BIGINT NOT NULL DEFAULT 0,
    flaps BIGINT NOT NULL DEFAULT 0,
    opened_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT,
    resolved_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX incidents_one_open_per_key ON incidents (dedup_key) WHERE state <> 'resolved';
CREATE INDEX incidents_state ON incidents (state, opened_at);

CREATE TABLE incident_comments (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    at BIGINT NOT NULL
);

-- Every notifiable incident transition, written in the same transaction as
-- the incident change; integrations fan these out to their targets.
CREATE TABLE incident_events (
    id BIGSERIAL PRIMARY KEY,
    incident_id TEXT NOT NULL,
    transition TEXT NOT NULL,        -- trigger | resolve | acknowledge | update
    payload TEXT NOT NULL,           -- JSON, see collector/src/incidents/event.rs
    created_at BIGINT NOT NULL
);

CREATE TABLE maintenance_windows (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,             -- host | tag | service
    target TEXT NOT NULL,            -- host id, tag, or service id
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    recurrence TEXT NOT NULL DEFAULT '',  -- '' | daily | weekly
    reason TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE business_services (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    min_up BIGINT NOT NULL,          -- k of n
    sla_target DOUBLE PRECISION NOT NULL DEFAULT 99.9,
    created_at BIGINT NOT NULL
);

CREATE TABLE relationships (
    parent_id TEXT NOT NULL,
    child_id TEXT NOT NULL,
    kind TEXT NOT NULL,              -- "Depends on::Used by", "Members::Member of", ...
    created_at BIGINT NOT NULL,
    PRIMARY KEY (parent_id, child_id, kind)
);
