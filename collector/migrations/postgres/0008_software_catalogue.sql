-- The software catalogue (DESIGN §5): each distinct (manager, name,
-- version, arch, source) once, ranked in its (manager, name) version order
-- (cmdb/catalogue.rs); a host's software as rows of small integers: the
-- host's surrogate key and the package id. Other classes stay in ci_items.
CREATE TABLE packages (
    id BIGSERIAL PRIMARY KEY,
    manager TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    arch TEXT NOT NULL,
    source TEXT NOT NULL,
    rank BIGINT NOT NULL
);
CREATE UNIQUE INDEX packages_identity ON packages (name, manager, version, arch, source);
-- Version filters: the ranks of one package, then its hosts.
CREATE INDEX packages_rank ON packages (name, manager, rank);

CREATE TABLE host_keys (
    host_key BIGSERIAL PRIMARY KEY,
    host_id TEXT NOT NULL UNIQUE
);

CREATE TABLE host_software (
    host_key BIGINT NOT NULL,
    package_id BIGINT NOT NULL,
    installed_at_s BIGINT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host_key, package_id)
);
CREATE INDEX host_software_package ON host_software (package_id, host_key);

-- Software was looked up by (class, name) in ci_items; nothing is now.
DROP INDEX ci_items_class_name;

-- Moving software rows out of ci_items and folding each host's first
-- inventory into one `discovered` record needs the package managers'
-- version ordering, which SQL does not have: the collector does it at
-- start, in one transaction, while this row is here (store/sql/upgrade.rs).
CREATE TABLE upgrade_0008 (pending BIGINT NOT NULL);
INSERT INTO upgrade_0008 (pending) VALUES (1);
