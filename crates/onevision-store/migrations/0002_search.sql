-- Full-text search over questions, thinking and answers. A separate migration because databases
-- written before search existed must get their old messages indexed (the backfill below).
--
-- External content: the text lives once, in `messages`; the index only holds tokens. A row is
-- indexed only once it stops streaming, so a reply being written is not re-tokenised on every
-- flush (twice a second, up to tens of kilobytes) and the triggers only ever delete what they
-- inserted.

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, think, answer,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
WHEN new.status <> 'streaming'
BEGIN
    INSERT INTO messages_fts (rowid, text, think, answer)
    VALUES (new.id, new.text, new.think, new.answer);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.status <> 'streaming'
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text, think, answer)
    VALUES ('delete', old.id, old.text, old.think, old.answer);
END;

-- One trigger, two guarded statements: the delete of the old tokens must run before the insert
-- of the new ones, and SQLite does not promise an order between separate triggers.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, think, answer, status ON messages
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text, think, answer)
    SELECT 'delete', old.id, old.text, old.think, old.answer WHERE old.status <> 'streaming';
    INSERT INTO messages_fts (rowid, text, think, answer)
    SELECT new.id, new.text, new.think, new.answer WHERE new.status <> 'streaming';
END;

INSERT INTO messages_fts (rowid, text, think, answer)
SELECT id, text, think, answer FROM messages WHERE status <> 'streaming';

-- Search maps thousands of matching message ids to their conversation. Message rows are large
-- (the text is inline), so reading them for that touches a page per row; this index holds just
-- the pair, a few hundred per page.
CREATE INDEX messages_conversation_of ON messages (id, conversation_id);
