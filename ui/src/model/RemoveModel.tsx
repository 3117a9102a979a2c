import { useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { RemovedModel } from "../ipc/types";
import { formatBytes } from "../stream/format";

/** "Remove…" for a model on this machine: asks first (naming what goes and how much), then
 * deletes it with its packed weights and reports what was freed. */
export function RemoveModel({
  name,
  path,
  bytes,
  downloaded,
  onRemoved,
}: {
  name: string;
  path: string;
  bytes: number;
  /** A copy in the Hugging Face cache (downloaded), not a folder of the student's own. */
  downloaded: boolean;
  onRemoved: (name: string, removed: RemovedModel) => void;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const remove = () => {
    setBusy(true);
    setError(null);
    commands.removeModel(path).then(
      (removed) => {
        setBusy(false);
        setAsking(false);
        onRemoved(name, removed);
      },
      (reason: unknown) => {
        setBusy(false);
        setError(errorText(reason));
      },
    );
  };

  if (!asking) {
    return (
      <button
        type="button"
        className="link-button"
        data-testid="remove-model"
        aria-label={`Remove ${name} from this computer`}
        onClick={() => setAsking(true)}
      >
        Remove…
      </button>
    );
  }
  return (
    <div className="remove-model" role="group" aria-label={`Remove ${name}`}>
      <p className="field__hint" data-testid="remove-model-question">
        {downloaded
          ? `Delete ${name} (${formatBytes(bytes)}) and its packed weights from this computer? Its conversations stay in the history; using it again means downloading it again.`
          : `Delete the checkpoint files of ${name} (${formatBytes(bytes)}) and its packed weights? Other files in ${path} stay, and so do its conversations.`}
      </p>
      <span className="remove-model__actions">
        <button type="button" className="button" data-testid="remove-model-confirm" disabled={busy} onClick={remove}>
          {busy ? "Removing…" : "Remove"}
        </button>
        <button type="button" className="button" disabled={busy} onClick={() => setAsking(false)}>
          Keep
        </button>
      </span>
      {error && (
        <p className="field__error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** "Removed R1-Onevision-7B: 16.6 GB freed, with its packed weights." */
export function removedText(name: string, r: RemovedModel): string {
  const packed = r.packed_files === 0 ? "" : r.packed_files === 1 ? ", with its packed weights" : `, with ${r.packed_files} packed-weight files`;
  return `Removed ${name}: ${formatBytes(r.freed_bytes)} freed${packed}.`;
}
