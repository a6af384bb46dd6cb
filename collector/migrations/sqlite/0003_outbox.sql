-- Integrations: the delivery outbox (one row per incident event and target),
-- the dispatcher's cursor over incident_events, and what each target returned.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id BIGINT NOT NULL,        -- incident_events.id (0 is never used)
    incident_id TEXT NOT NULL,
    target TEXT NOT NULL,            -- [[integrations.targets]] name
    transition TEXT NOT NULL,        -- trigger | resolve | acknowledge | update
    dedup_key TEXT NOT NULL,
    payload TEXT NOT NULL,           -- IncidentEvent JSON
    state TEXT NOT NULL,             -- pending | delivered | dead
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,  -- lease of the worker sending it
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (event_id, target)
);
CREATE INDEX outbox_due ON outbox (target, state, next_attempt_at);
CREATE INDEX outbox_incident ON outbox (incident_id, target);
CREATE INDEX outbox_event ON outbox (event_id);

CREATE TABLE outbox_cursor (
    name TEXT PRIMARY KEY,
    last_event_id BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE incident_refs (
    incident_id TEXT NOT NULL,
    target TEXT NOT NULL,
    external_ref TEXT NOT NULL,      -- sys_id, Jira key, ticket id, ...
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (incident_id, target)
);
