-- Bounded health storage (DESIGN §5 "Health storage is bounded").
--
-- health_raw: raw samples as the report's protobuf encoding (~120 bytes
-- instead of ~625 of JSON), kept health.raw_retention_s. WITHOUT ROWID: the
-- primary key is the table, not a second copy of host id and time.
--
-- health_rollups: min/avg/max buckets, packed (collector/src/cmdb/rollup.rs):
-- tier 300 rows hold the twelve 5-minute buckets of one hour, tier 3600 rows
-- the twelve hourly buckets of half a day. An ordinary rowid table: its rows
-- (~1.2 KB) would overflow the smaller cells of a WITHOUT ROWID b-tree.
--
-- health_samples (0001, JSON) is left in place and drained by the retention
-- job, which re-encodes its rows into health_raw in bounded batches.
CREATE TABLE health_raw (
    host_id TEXT NOT NULL,
    sampled_at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (host_id, sampled_at, seq)
) WITHOUT ROWID;

CREATE TABLE health_rollups (
    host_id TEXT NOT NULL,
    tier INTEGER NOT NULL,
    period_start BIGINT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (host_id, tier, period_start)
);
