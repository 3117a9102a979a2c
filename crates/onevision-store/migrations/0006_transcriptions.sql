-- Transcribe-first (DESIGN.md §10): before an answer, the model may write a formal transcription
-- of the question's pictures, which the student can correct. It is an assistant message of its
-- own kind, streamed, searched and exported like a reply; `edited_from` keeps the model's own
-- reading once the student has corrected `answer`.
ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'reply'
    CHECK (kind IN ('reply', 'transcription'));
ALTER TABLE messages ADD COLUMN edited_from TEXT;
