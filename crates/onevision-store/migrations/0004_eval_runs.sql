-- Benchmark runs started from the app (onevision eval's records): where the data and the output
-- folder are, which model answered, how it ended, and the summary once there is one, so past runs
-- can be listed and compared without reading their folders.
CREATE TABLE eval_runs (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    data_path TEXT NOT NULL,
    model TEXT NOT NULL,
    out_dir TEXT NOT NULL,
    -- running | complete | stopped | failed
    status TEXT NOT NULL,
    -- summary.json's text, once written
    summary TEXT,
    error TEXT
) STRICT;
