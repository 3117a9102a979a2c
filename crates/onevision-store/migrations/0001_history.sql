-- The conversation history. Times are Unix milliseconds (UTC) so the UI can format them in the
-- user's zone without parsing; every table is STRICT so a wrong type is an error, not a surprise.

CREATE TABLE conversations (
    id          INTEGER PRIMARY KEY,
    title       TEXT    NOT NULL,
    model_id    TEXT    NOT NULL,
    pinned      INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- The sidebar's order: pinned first, then most recently used.
CREATE INDEX conversations_by_recency ON conversations (pinned DESC, updated_at DESC, id DESC);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    role             TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    text             TEXT    NOT NULL DEFAULT '',
    think            TEXT    NOT NULL DEFAULT '',
    answer           TEXT    NOT NULL DEFAULT '',
    final_answer     TEXT,
    status           TEXT    NOT NULL
                     CHECK (status IN ('streaming', 'complete', 'stopped', 'failed', 'interrupted')),
    error            TEXT,
    -- Which live process owns a `streaming` row; recovery leaves rows of live owners alone.
    stream_owner     TEXT,
    prompt_tokens    INTEGER,
    generated_tokens INTEGER,
    ttft_ms          REAL,
    vision_ms        REAL,
    prefill_ms       REAL,
    decode_ms        REAL,
    tokens_per_s     REAL,
    -- Generation settings as the engine gave them (JSON); the store does not interpret them.
    settings         TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (conversation_id, position)
) STRICT;

-- Recovery after a crash looks only at rows still streaming.
CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';

-- One row per distinct picture; the file lives at images/<sha256[0..2]>/<sha256>.<ext>.
CREATE TABLE pictures (
    sha256      TEXT    PRIMARY KEY CHECK (length(sha256) = 64),
    ext         TEXT    NOT NULL,
    mime        TEXT    NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    byte_size   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE message_pictures (
    message_id      INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    picture_sha256  TEXT    NOT NULL REFERENCES pictures (sha256),
    PRIMARY KEY (message_id, position)
) STRICT, WITHOUT ROWID;

-- Garbage collection asks "does anything still use this picture?".
CREATE INDEX message_pictures_by_picture ON message_pictures (picture_sha256);
