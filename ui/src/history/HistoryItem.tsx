import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import * as commands from "../ipc/commands";
import type { ExportFormat } from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { ConversationSummary } from "../ipc/types";
import { notify } from "../ui/notices";

export interface HistoryItemProps {
  conversation: ConversationSummary;
  current: boolean;
  onOpen: (id: number) => void;
  onChanged: () => void;
  onDeleted: (id: number) => void;
  onError: (message: string) => void;
}

export function HistoryItem({ conversation, current, onOpen, onChanged, onDeleted, onError }: HistoryItemProps) {
  const { id, title, pinned, interrupted } = conversation;
  const [renaming, setRenaming] = useState<string | null>(null);
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);

  const editing = renaming !== null;

  useEffect(() => {
    if (editing) inputRef.current?.select();
  }, [editing]);

  const run = (work: Promise<unknown>, after?: () => void) =>
    work.then(
      () => {
        after?.();
        onChanged();
      },
      (reason: unknown) => onError(errorText(reason)),
    );

  const saveTitle = () => {
    const next = renaming?.trim() ?? "";
    setRenaming(null);
    if (next !== "" && next !== title) void run(commands.renameConversation(id, next));
  };

  const onRenameKey = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === "Enter") {
      event.preventDefault();
      saveTitle();
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      setRenaming(null);
    }
  };

  const exportAs = (format: ExportFormat) => {
    commands.exportConversation(id, format).then(
      (path) => path && notify(`Saved to ${path}`, "info"),
      (reason: unknown) => onError(errorText(reason)),
    );
  };

  if (renaming !== null) {
    return (
      <li className="history-item history-item--editing" data-testid="history-item" data-id={id}>
        <input
          ref={inputRef}
          className="input history-item__rename"
          value={renaming}
          aria-label="New title"
          onChange={(e) => setRenaming(e.target.value)}
          onKeyDown={onRenameKey}
          onBlur={saveTitle}
        />
      </li>
    );
  }

  return (
    <li
      className={`history-item${current ? " history-item--current" : ""}`}
      data-testid="history-item"
      data-id={id}
      onMouseLeave={() => setConfirmingDelete(false)}
    >
      <button
        type="button"
        className="history-item__open"
        aria-current={current ? "page" : undefined}
        onClick={() => onOpen(id)}
        title={title}
      >
        {pinned && (
          <span className="history-item__pin" aria-label="Pinned">
            ●
          </span>
        )}
        <span className="history-item__title">{title || "Untitled"}</span>
        {interrupted && (
          <span
            className="history-item__interrupted"
            data-testid="history-interrupted"
            title="A reply here was cut off when the app stopped unexpectedly"
          >
            interrupted
          </span>
        )}
      </button>
      {confirmingDelete ? (
        <span className="history-item__actions history-item__actions--shown">
          <button
            type="button"
            className="mini-button mini-button--danger"
            onClick={() => void run(commands.deleteConversation(id), () => onDeleted(id))}
          >
            Delete
          </button>
          <button type="button" className="mini-button" onClick={() => setConfirmingDelete(false)}>
            Keep
          </button>
        </span>
      ) : (
        <span className="history-item__actions">
          <button
            type="button"
            className="mini-button"
            title={pinned ? "Unpin" : "Pin"}
            aria-label={pinned ? "Unpin" : "Pin"}
            onClick={() => void run(commands.setPinned(id, !pinned))}
          >
            {pinned ? "Unpin" : "Pin"}
          </button>
          <button type="button" className="mini-button" title="Rename" aria-label="Rename" onClick={() => setRenaming(title)}>
            Rename
          </button>
          <details className="history-item__more">
            <summary className="mini-button" aria-label="More actions">
              ⋯
            </summary>
            <div className="menu">
              <button type="button" className="menu__item" onClick={() => exportAs("md")}>
                Export as Markdown…
              </button>
              <button type="button" className="menu__item" onClick={() => exportAs("json")}>
                Export as JSON…
              </button>
              <button type="button" className="menu__item menu__item--danger" onClick={() => setConfirmingDelete(true)}>
                Delete…
              </button>
            </div>
          </details>
        </span>
      )}
    </li>
  );
}
