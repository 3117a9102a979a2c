-- Search reads replies as text. The index held the markup the model wrote around its words
-- (`<think>`, `<answer>`, `**`, `$`, `\boxed{}`, TeX commands), so a search for "think" or
-- "boxed" matched every reply and snippets showed raw TeX. Now the index reads a view that
-- strips the markup and writes common TeX as the symbols it stands for (\frac{a}{b} as a/b,
-- \sqrt as √, \cdot as ·); snippets come from the same view, so they match what was indexed.
-- The view leaves out replies still streaming, which were never indexed (see 0002).
--
-- SQLite has no regular expressions, hence the chain of replace() calls; the app's snippet
-- reader (ui/src/history/snippet.ts) tidies what this leaves.

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

-- Three views in a row: SQLite's parser allows only so many nested calls in one expression.
CREATE VIEW messages_markup_stripped AS
SELECT
    id,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(text
        , '<think>', ' ')
        , '</think>', ' ')
        , '<answer>', ' ')
        , '</answer>', ' ')
        , '\boxed', '')
        , '\fbox', '')
        , '\textbf', '')
        , '\text', '')
        , '\mathrm', '')
        , '\dfrac', '')
        , '\tfrac', '')
        , '\frac', '')
        , '\left', '')
        , '\right', '') AS text,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(think
        , '<think>', ' ')
        , '</think>', ' ')
        , '<answer>', ' ')
        , '</answer>', ' ')
        , '\boxed', '')
        , '\fbox', '')
        , '\textbf', '')
        , '\text', '')
        , '\mathrm', '')
        , '\dfrac', '')
        , '\tfrac', '')
        , '\frac', '')
        , '\left', '')
        , '\right', '') AS think,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(answer
        , '<think>', ' ')
        , '</think>', ' ')
        , '<answer>', ' ')
        , '</answer>', ' ')
        , '\boxed', '')
        , '\fbox', '')
        , '\textbf', '')
        , '\text', '')
        , '\mathrm', '')
        , '\dfrac', '')
        , '\tfrac', '')
        , '\frac', '')
        , '\left', '')
        , '\right', '') AS answer
FROM messages
WHERE status <> 'streaming';

CREATE VIEW messages_symbols_written AS
SELECT
    id,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(text
        , '\sqrt', '√')
        , '\cdot', '·')
        , '\times', '×')
        , '\div', '÷')
        , '\pm', '±')
        , '\leq', '≤')
        , '\geq', '≥')
        , '\le', '≤')
        , '\ge', '≥')
        , '\neq', '≠')
        , '\approx', '≈')
        , '\pi', 'π')
        , '\circ', '°')
        , '\angle', '∠')
        , '\triangle', '△')
        , '\infty', '∞')
        , '\theta', 'θ')
        , '\alpha', 'α')
        , '\beta', 'β') AS text,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(think
        , '\sqrt', '√')
        , '\cdot', '·')
        , '\times', '×')
        , '\div', '÷')
        , '\pm', '±')
        , '\leq', '≤')
        , '\geq', '≥')
        , '\le', '≤')
        , '\ge', '≥')
        , '\neq', '≠')
        , '\approx', '≈')
        , '\pi', 'π')
        , '\circ', '°')
        , '\angle', '∠')
        , '\triangle', '△')
        , '\infty', '∞')
        , '\theta', 'θ')
        , '\alpha', 'α')
        , '\beta', 'β') AS think,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(answer
        , '\sqrt', '√')
        , '\cdot', '·')
        , '\times', '×')
        , '\div', '÷')
        , '\pm', '±')
        , '\leq', '≤')
        , '\geq', '≥')
        , '\le', '≤')
        , '\ge', '≥')
        , '\neq', '≠')
        , '\approx', '≈')
        , '\pi', 'π')
        , '\circ', '°')
        , '\angle', '∠')
        , '\triangle', '△')
        , '\infty', '∞')
        , '\theta', 'θ')
        , '\alpha', 'α')
        , '\beta', 'β') AS answer
FROM messages_markup_stripped;

CREATE VIEW messages_readable AS
SELECT
    id,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(text
        , '\(', ' ')
        , '\)', ' ')
        , '\[', ' ')
        , '\]', ' ')
        , '}{', '/')
        , '{', '')
        , '}', '')
        , '**', '')
        , '__', '')
        , '`', '')
        , '$', '') AS text,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(think
        , '\(', ' ')
        , '\)', ' ')
        , '\[', ' ')
        , '\]', ' ')
        , '}{', '/')
        , '{', '')
        , '}', '')
        , '**', '')
        , '__', '')
        , '`', '')
        , '$', '') AS think,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(answer
        , '\(', ' ')
        , '\)', ' ')
        , '\[', ' ')
        , '\]', ' ')
        , '}{', '/')
        , '{', '')
        , '}', '')
        , '**', '')
        , '__', '')
        , '`', '')
        , '$', '') AS answer
FROM messages_symbols_written;

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, think, answer,
    content = 'messages_readable',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

-- The old tokens are deleted before a row changes or goes (the view still shows it as it was)
-- and the new ones inserted after, both read from the view so they are exactly what it shows.
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
WHEN new.status <> 'streaming'
BEGIN
    INSERT INTO messages_fts (rowid, text, think, answer)
    SELECT id, text, think, answer FROM messages_readable WHERE id = new.id;
END;

CREATE TRIGGER messages_fts_delete BEFORE DELETE ON messages
WHEN old.status <> 'streaming'
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text, think, answer)
    SELECT 'delete', id, text, think, answer FROM messages_readable WHERE id = old.id;
END;

CREATE TRIGGER messages_fts_unindex BEFORE UPDATE OF text, think, answer, status ON messages
WHEN old.status <> 'streaming'
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text, think, answer)
    SELECT 'delete', id, text, think, answer FROM messages_readable WHERE id = old.id;
END;

CREATE TRIGGER messages_fts_reindex AFTER UPDATE OF text, think, answer, status ON messages
WHEN new.status <> 'streaming'
BEGIN
    INSERT INTO messages_fts (rowid, text, think, answer)
    SELECT id, text, think, answer FROM messages_readable WHERE id = new.id;
END;

INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
