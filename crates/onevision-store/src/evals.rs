//! Benchmark runs started from the app: a row per run, so past runs can be listed, reopened and
//! compared. The items themselves stay in the run's own folder (predictions.jsonl).

use serde::Serialize;

use crate::clock::now_ms;
use crate::db::Store;
use crate::error::{Result, StoreError};
pub use crate::types::EvalRunId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalStatus {
    Running,
    Complete,
    Stopped,
    Failed,
}

impl EvalStatus {
    fn as_str(self) -> &'static str {
        match self {
            EvalStatus::Running => "running",
            EvalStatus::Complete => "complete",
            EvalStatus::Stopped => "stopped",
            EvalStatus::Failed => "failed",
        }
    }

    fn parse(id: EvalRunId, s: &str) -> Result<Self> {
        Ok(match s {
            "running" => EvalStatus::Running,
            "complete" => EvalStatus::Complete,
            "stopped" => EvalStatus::Stopped,
            "failed" => EvalStatus::Failed,
            other => {
                return Err(StoreError::EvalRunStatus {
                    id,
                    status: other.to_owned(),
                })
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRun {
    pub id: EvalRunId,
    pub created_at: i64,
    pub updated_at: i64,
    pub data_path: String,
    pub model: String,
    pub out_dir: String,
    pub status: EvalStatus,
    /// summary.json's text.
    pub summary: Option<String>,
    pub error: Option<String>,
}

type Row = (
    i64,
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn run_from(r: Row) -> Result<EvalRun> {
    Ok(EvalRun {
        id: EvalRunId(r.0),
        created_at: r.1,
        updated_at: r.2,
        data_path: r.3,
        model: r.4,
        out_dir: r.5,
        status: EvalStatus::parse(EvalRunId(r.0), &r.6)?,
        summary: r.7,
        error: r.8,
    })
}

const SELECT: &str = "SELECT id, created_at, updated_at, data_path, model, out_dir, status, \
     summary, error FROM eval_runs";

impl Store {
    /// Records a run that is starting; its output folder is named after the id by the caller.
    pub async fn create_eval_run(&self, data_path: &str, model: &str) -> Result<EvalRunId> {
        let now = now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO eval_runs (created_at, updated_at, data_path, model, out_dir, status)
             VALUES (?1, ?1, ?2, ?3, '', 'running') RETURNING id",
        )
        .bind(now)
        .bind(data_path)
        .bind(model)
        .fetch_one(self.pool())
        .await?;
        Ok(EvalRunId(id))
    }

    pub async fn set_eval_out_dir(&self, id: EvalRunId, out_dir: &str) -> Result<()> {
        let done = sqlx::query("UPDATE eval_runs SET out_dir = ?2 WHERE id = ?1")
            .bind(id.0)
            .bind(out_dir)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::EvalRunNotFound(id));
        }
        Ok(())
    }

    /// Records how a run ended (or its summary so far, while it runs).
    pub async fn update_eval_run(
        &self,
        id: EvalRunId,
        status: EvalStatus,
        summary: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE eval_runs SET status = ?2, summary = COALESCE(?3, summary), error = ?4,
             updated_at = ?5 WHERE id = ?1",
        )
        .bind(id.0)
        .bind(status.as_str())
        .bind(summary)
        .bind(error)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::EvalRunNotFound(id));
        }
        Ok(())
    }

    /// Newest first.
    pub async fn list_eval_runs(&self) -> Result<Vec<EvalRun>> {
        let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} ORDER BY id DESC"))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(run_from).collect()
    }

    pub async fn get_eval_run(&self, id: EvalRunId) -> Result<EvalRun> {
        let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = ?1"))
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?;
        run_from(row.ok_or(StoreError::EvalRunNotFound(id))?)
    }

    pub async fn delete_eval_run(&self, id: EvalRunId) -> Result<()> {
        sqlx::query("DELETE FROM eval_runs WHERE id = ?1")
            .bind(id.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Runs a dead process left `running` are `stopped`: their predictions so far are kept in
    /// their folder and a rerun would resume them.
    pub(crate) async fn recover_eval_runs(&self) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE eval_runs SET status = 'stopped', updated_at = ?1 WHERE status = 'running'",
        )
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn runs_are_recorded_listed_and_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let a = store
            .create_eval_run("/data/bench.tsv", "R1-Onevision-7B")
            .await
            .unwrap();
        store.set_eval_out_dir(a, "/out/1").await.unwrap();
        store
            .update_eval_run(a, EvalStatus::Complete, Some("{\"overall\":{}}"), None)
            .await
            .unwrap();
        let b = store
            .create_eval_run("/data/bench.tsv", "Qwen2.5-VL-3B")
            .await
            .unwrap();
        let runs = store.list_eval_runs().await.unwrap();
        assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [b, a]);
        assert_eq!(runs[1].status, EvalStatus::Complete);
        assert_eq!(runs[1].summary.as_deref(), Some("{\"overall\":{}}"));
        assert_eq!(runs[1].out_dir, "/out/1");
        assert_eq!(runs[0].status, EvalStatus::Running);
        // A later update without a summary keeps the one there is.
        store
            .update_eval_run(a, EvalStatus::Stopped, None, Some("stopped"))
            .await
            .unwrap();
        let got = store.get_eval_run(a).await.unwrap();
        assert_eq!(got.summary.as_deref(), Some("{\"overall\":{}}"));
        assert_eq!(got.error.as_deref(), Some("stopped"));
        store.close().await;

        // Reopened as after a crash: the run left running is stopped.
        let store = Store::open_in(dir.path()).await.unwrap();
        assert_eq!(
            store.get_eval_run(b).await.unwrap().status,
            EvalStatus::Stopped
        );
        store.delete_eval_run(b).await.unwrap();
        let e = store.get_eval_run(b).await.unwrap_err().to_string();
        assert!(e.contains("evaluation run"), "{e}");
    }
}
