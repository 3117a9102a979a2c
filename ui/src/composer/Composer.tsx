import { forwardRef, useEffect, useState, type FormEvent, type KeyboardEvent } from "react";
import { createPortal } from "react-dom";
import * as commands from "../ipc/commands";
import { PictureDialog } from "./PictureDialog";
import type { Attachments } from "./useAttachments";
import { usePictureViews } from "./usePictureViews";

export interface ComposerProps {
  attachments: Attachments;
  /** A generation is running: the question can be written but not sent yet. */
  generating: boolean;
  capturing: boolean;
  onSend: (text: string) => boolean;
  onCapture: () => void;
  /** Text put in the composer from outside (an example's question); a new `id` puts it again. */
  draft?: { id: number; text: string } | null;
  /** The picture detail setting: the most pixels a picture is shown to the model with. */
  maxPixels: number;
  onOpenSettings: () => void;
  /** Transcribe-first for questions with pictures (the same setting as in Settings). */
  transcribeFirst: boolean;
  onTranscribeFirstChange: (on: boolean) => void;
}

export const Composer = forwardRef<HTMLTextAreaElement, ComposerProps>(function Composer(
  {
    attachments,
    generating,
    capturing,
    onSend,
    onCapture,
    draft,
    maxPixels,
    onOpenSettings,
    transcribeFirst,
    onTranscribeFirstChange,
  },
  inputRef,
) {
  const [text, setText] = useState("");
  const [opened, setOpened] = useState<string | null>(null);
  const views = usePictureViews(attachments.pictures, maxPixels);
  useEffect(() => {
    if (draft) setText(draft.text);
  }, [draft]);
  const { pictures, pending, error } = attachments;
  const openedPicture = pictures.find((p) => p.sha256 === opened) ?? null;
  const canSend = !generating && pending === 0 && (text.trim() !== "" || pictures.length > 0);

  const send = () => {
    if (!canSend) return;
    if (onSend(text)) {
      setText("");
      attachments.clear();
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      send();
    }
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    send();
  };

  return (
    <form className="composer" onSubmit={onSubmit} aria-label="Ask a question">
      {(pictures.length > 0 || pending > 0) && (
        <ul className="composer__pictures" aria-label="Attached pictures">
          {pictures.map((picture) => {
            const warning = views.get(picture.sha256)?.view?.warning;
            return (
              <li key={picture.sha256} className="thumb" data-testid="attachment-thumb">
                <button
                  type="button"
                  className="thumb__open"
                  data-testid="attachment-open"
                  title="See what the model sees, or crop"
                  onClick={() => setOpened(picture.sha256)}
                >
                  <img src={picture.thumbnail} alt={`Attached picture, ${picture.width} × ${picture.height}`} />
                </button>
                {warning && (
                  <span className="thumb__warning" data-testid="attachment-warning" title={warning}>
                    !
                  </span>
                )}
                <button
                  type="button"
                  className="thumb__remove"
                  data-testid="attachment-remove"
                  aria-label="Remove this picture"
                  title="Remove"
                  onClick={() => attachments.remove(picture.sha256)}
                >
                  ×
                </button>
              </li>
            );
          })}
          {pending > 0 && (
            <li className="thumb thumb--pending" aria-label="Reading a picture">
              <span className="spinner" aria-hidden="true" />
            </li>
          )}
        </ul>
      )}
      {pictures.length > 0 && (
        <label className="composer__switch" title="The model first writes down what the picture shows; you check it, then it solves">
          <input
            type="checkbox"
            role="switch"
            data-testid="transcribe-first-switch"
            checked={transcribeFirst}
            onChange={(e) => onTranscribeFirstChange(e.target.checked)}
          />
          <span>Read the picture first, so I can check it</span>
        </label>
      )}
      {error && (
        <p className="composer__error" role="alert">
          {error}
          <button type="button" className="link-button" onClick={() => attachments.showError(null)}>
            Dismiss
          </button>
        </p>
      )}
      <div className="composer__row">
        <div className="composer__tools">
          <button
            type="button"
            className="icon-button"
            data-testid="attach-button"
            title="Attach pictures"
            aria-label="Attach pictures"
            onClick={() => void attachments.track(commands.pickPictures())}
          >
            <svg viewBox="0 0 24 24" aria-hidden="true">
              <path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5" />
            </svg>
          </button>
          <button
            type="button"
            className="icon-button"
            data-testid="capture-button"
            title="Capture a region of the screen"
            aria-label="Capture a region of the screen"
            disabled={capturing}
            onClick={onCapture}
          >
            <svg viewBox="0 0 24 24" aria-hidden="true">
              <path d="M4 8V5a1 1 0 0 1 1-1h3M16 4h3a1 1 0 0 1 1 1v3M20 16v3a1 1 0 0 1-1 1h-3M8 20H5a1 1 0 0 1-1-1v-3" />
              <rect x="9" y="9" width="6" height="6" rx="1" />
            </svg>
          </button>
        </div>
        <textarea
          ref={inputRef}
          className="composer__input"
          data-testid="composer-input"
          placeholder={pictures.length > 0 ? "Ask about the picture…" : "Ask a question, or attach a picture first…"}
          value={text}
          rows={Math.min(10, Math.max(1, text.split("\n").length))}
          aria-label="Your question"
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
        />
        <button
          type="submit"
          className="button button--primary composer__send"
          data-testid="send-button"
          disabled={!canSend}
          title={generating ? "Wait for the answer, or stop it with Esc" : "Send (Enter)"}
        >
          Send
        </button>
      </div>
      {openedPicture &&
        createPortal(
          <PictureDialog
            picture={openedPicture}
            view={views.get(openedPicture.sha256)?.view ?? null}
            error={views.get(openedPicture.sha256)?.error ?? null}
            onCropped={(crop) => {
              attachments.replace(openedPicture.sha256, crop);
              setOpened(null);
            }}
            onOpenSettings={() => {
              setOpened(null);
              onOpenSettings();
            }}
            onClose={() => setOpened(null)}
          />,
          document.body,
        )}
    </form>
  );
});
