-- Host list filters (issue 15): the hardware summary columns the list
-- filters on, filled from the stored `system` item of hosts that reported
-- one, and operator-set custom attributes (owner, cost centre, location).
ALTER TABLE hosts ADD COLUMN vendor TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN virtualization TEXT NOT NULL DEFAULT '';
UPDATE hosts SET
    vendor = COALESCE(s.attrs::jsonb ->> 'vendor', ''),
    model = COALESCE(s.attrs::jsonb ->> 'model', ''),
    virtualization = COALESCE(s.attrs::jsonb ->> 'hypervisor', '')
FROM ci_items s
WHERE s.host_id = hosts.id AND s.class = 'system' AND s.item_key = '';
CREATE INDEX hosts_last_seen ON hosts (last_seen_at, id);

CREATE TABLE host_attributes (
    host_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, name)
);
CREATE INDEX host_attributes_name_value ON host_attributes (name, value);
