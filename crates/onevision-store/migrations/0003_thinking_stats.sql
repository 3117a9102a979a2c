-- How long and how many tokens a reply thought before answering, so a reopened conversation shows
-- "Thought for 41 s · 1,204 tokens" exactly as it did live. NULL for rows written before this.
ALTER TABLE messages ADD COLUMN think_ms REAL;
ALTER TABLE messages ADD COLUMN think_tokens INTEGER;
