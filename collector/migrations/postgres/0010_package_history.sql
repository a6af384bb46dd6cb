-- Software rollout (issue 15): one package's history records across the
-- fleet, by item key (`name` or `name:ARCH`) and time, without reading the
-- whole change table.
CREATE INDEX changes_class_key_at ON changes (class, item_key, at);
