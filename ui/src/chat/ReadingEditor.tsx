import { useEffect, useRef, useState } from "react";

export interface ReadingEditorProps {
  /** The reading's source as it stands (or the student's refused correction). */
  initial: string;
  /** Why the last correction could not be answered from. */
  error: string | null;
  /** Null when the text was left as it was. */
  onSolve: (correction: string | null) => void;
  onCancel: () => void;
  /** The text the reading had before any editing: unchanged text is no correction. */
  original: string;
}

/** The reading's source, for the student to fix what the model misread before it solves. */
export function ReadingEditor({ initial, error, onSolve, onCancel, original }: ReadingEditorProps) {
  const [text, setText] = useState(initial);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  const empty = text.trim() === "";
  const solve = () => {
    if (empty) return;
    onSolve(text.trim() === original.trim() ? null : text);
  };
  return (
    <div className="reading-editor">
      <textarea
        ref={ref}
        className="reading-editor__input"
        data-testid="reading-editor"
        aria-label="The reading of the picture"
        value={text}
        rows={Math.min(16, Math.max(4, text.split("\n").length + 1))}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            solve();
          }
        }}
      />
      {error ? (
        <p className="field__error" role="alert" data-testid="reading-error">
          {error}
        </p>
      ) : (
        <p className="field__hint">
          {empty
            ? "Write what the picture shows, or cancel to keep the model's reading."
            : "Fix what the model misread: a label, a sign, a number. $…$ is typeset as math. Ctrl+Enter solves."}
        </p>
      )}
      <div className="reading-editor__actions">
        <button type="button" className="button button--quiet" data-testid="reading-cancel" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="button button--primary" data-testid="reading-solve" disabled={empty} onClick={solve}>
          Solve from this
        </button>
      </div>
    </div>
  );
}
