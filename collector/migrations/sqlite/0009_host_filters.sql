-- Host list filters (issue 15): the hardware summary columns the list
-- filters on, filled from the stored `system` item of hosts that reported
-- one, and operator-set custom attributes (owner, cost centre, location).
ALTER TABLE hosts ADD COLUMN vendor TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN virtualization TEXT NOT NULL DEFAULT '';
UPDATE hosts SET
    vendor = COALESCE((SELECT json_extract(c.attrs, '$.vendor') FROM ci_items c
        WHERE c.host_id = hosts.id AND c.class = 'system' AND c.item_key = '' AND json_valid(c.attrs)), ''),
    model = COALESCE((SELECT json_extract(c.attrs, '$.model') FROM ci_items c
        WHERE c.host_id = hosts.id AND c.class = 'system' AND c.item_key = '' AND json_valid(c.attrs)), ''),
    virtualization = COALESCE((SELECT json_extract(c.attrs, '$.hypervisor') FROM ci_items c
        WHERE c.host_id = hosts.id AND c.class = 'system' AND c.item_key = '' AND json_valid(c.attrs)), '');
CREATE INDEX hosts_last_seen ON hosts (last_seen_at, id);

CREATE TABLE host_attributes (
    host_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, name)
);
CREATE INDEX host_attributes_name_value ON host_attributes (name, value);
