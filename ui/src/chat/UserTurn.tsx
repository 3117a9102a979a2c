import { memo, useEffect, useRef, useState, type KeyboardEvent } from "react";
import type { AttachedPicture } from "../ipc/types";
import { Markdown } from "../render/Markdown";

export interface UserTurnProps {
  text: string;
  pictures: AttachedPicture[];
  /** Absent while editing is not possible (another answer is generating). */
  onResend?: ((text: string) => void) | undefined;
}

export const UserTurn = memo(function UserTurn({ text, pictures, onResend }: UserTurnProps) {
  const [draft, setDraft] = useState<string | null>(null);
  const editorRef = useRef<HTMLTextAreaElement>(null);
  const editing = draft !== null;

  useEffect(() => {
    if (editing) editorRef.current?.focus();
  }, [editing]);

  const submit = () => {
    if (draft === null || draft.trim() === "" || !onResend) return;
    onResend(draft);
    setDraft(null);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      setDraft(null);
    }
  };

  return (
    <article className="turn turn--user" data-testid="user-turn">
      {pictures.length > 0 && (
        <div className="turn__pictures">
          {pictures.map((picture) => (
            <img
              key={picture.sha256}
              className="turn__picture"
              src={picture.thumbnail}
              width={picture.width}
              height={picture.height}
              alt={`Attached picture, ${picture.width} × ${picture.height}`}
            />
          ))}
        </div>
      )}
      {draft === null ? (
        <div className="turn__question">
          <Markdown text={text} literal />
        </div>
      ) : (
        <div className="turn__editor">
          <textarea
            ref={editorRef}
            className="textarea"
            value={draft}
            rows={Math.min(12, Math.max(2, draft.split("\n").length))}
            aria-label="Edit the question"
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={onKeyDown}
          />
          <div className="turn__editor-actions">
            <button type="button" className="button" onClick={() => setDraft(null)}>
              Cancel
            </button>
            <button type="button" className="button button--primary" disabled={!onResend || draft.trim() === ""} onClick={submit}>
              Send again
            </button>
          </div>
        </div>
      )}
      {draft === null && onResend && (
        <div className="turn__footer turn__footer--user">
          <button type="button" className="button button--quiet" data-testid="edit-button" onClick={() => setDraft(text)}>
            Edit
          </button>
        </div>
      )}
    </article>
  );
});
