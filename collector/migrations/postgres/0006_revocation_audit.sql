-- Issue 12: API tokens expire; a renewed agent certificate replaces the old
-- one, which keeps working until the new one is used; every revocation is
-- written to the audit log.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE agents ADD COLUMN previous_fingerprint TEXT;
CREATE INDEX agents_previous_fingerprint ON agents (previous_fingerprint);
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,   -- the API token id of the caller
    action TEXT NOT NULL,  -- revoke_agent | revoke_api_token | revoke_enrollment_token | …
    target TEXT NOT NULL,  -- the id of what was acted on
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
