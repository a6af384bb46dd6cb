//! The ingest writes in SQL: inventory and health go through the
//! group-commit writer; liveness signals are batched by the caller and
//! written here, two statements per chunk.

use super::SqlStore;
use super::dialect::INSERT_CHUNK;
use super::statements::{Statement, lock_agents};
use crate::error::Result;
use crate::store::{ApplyContext, ApplyOutcome, InventoryChange, InventoryStore, Seen};
use async_trait::async_trait;

#[async_trait]
impl InventoryStore for SqlStore {
    async fn apply_inventory(
        &self,
        context: &ApplyContext,
        change: InventoryChange,
    ) -> Result<ApplyOutcome> {
        self.writer.apply_inventory(context, change).await
    }

    async fn record_seen(&self, batch: &[Seen]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // Two statements per chunk of agents, not two per agent: a heartbeat
        // storm comes here thousands of times a second.
        let mut tx = self.begin_write().await?;
        // Agents rows first, in id order, as the ingest writers take them
        // (`statements::lock_agents`), then each chunk's hosts rows.
        let ids: Vec<&str> = batch.iter().map(|seen| seen.agent_id.as_str()).collect();
        lock_agents(&mut tx, self.dialect, &ids).await?;
        for chunk in batch.chunks(INSERT_CHUNK) {
            // Never move a sequence number backwards (a late batch after an inventory apply).
            let agents = (
                "UPDATE agents SET last_seq = CASE WHEN agents.last_seq < v.column2 THEN v.column2 ELSE agents.last_seq END, \
                 last_seen_at = v.column3 FROM (VALUES ",
                ") AS v WHERE agents.id = v.column1",
            );
            let hosts = (
                "UPDATE hosts SET last_seen_at = v.column3 FROM (VALUES ",
                ") AS v WHERE hosts.id = v.column4 AND hosts.last_seen_at < v.column3",
            );
            for (head, tail) in [agents, hosts] {
                let mut statement = Statement::new(self.dialect, head);
                statement
                    .values(chunk, 4, |row, seen| {
                        row.bind(&seen.agent_id)
                            .bind(seen.seq)
                            .bind(seen.at)
                            .bind(&seen.host_id);
                    })
                    .push(tail);
                statement.query()?.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_health(
        &self,
        context: &ApplyContext,
        sampled_at: i64,
        data: &[u8],
    ) -> Result<bool> {
        self.writer.record_health(context, sampled_at, data).await
    }
}
