-- Identity events: a claim on a host CI owned by another agent (conflict),
-- a take-over of a CI whose owner was revoked or silent, an ambiguous match.
CREATE TABLE identity_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id TEXT NOT NULL,           -- the CI the identity matched
    new_host_id TEXT,                -- the CI created for the claimant instead (conflict, ambiguous)
    kind TEXT NOT NULL,              -- conflict | takeover | ambiguous
    rule TEXT NOT NULL,              -- the identification rule that matched
    reason TEXT NOT NULL,            -- owner_live | owner_recent | owner_revoked | owner_silent | ...
    identifiers TEXT NOT NULL,       -- JSON: the identity the claimant sent
    old_agent_id TEXT,               -- the owner at the time
    new_agent_id TEXT NOT NULL,      -- the claimant
    at BIGINT NOT NULL
);
CREATE INDEX identity_events_host ON identity_events (host_id);
CREATE INDEX identity_events_new_host ON identity_events (new_host_id);
