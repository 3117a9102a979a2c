import { useEffect, useRef, type ReactNode } from "react";
import type { ModelCopy, ModelOffer } from "../ipc/types";
import { formatBytes } from "../stream/format";
import { describeFile, describeProgress, formatTook, fractionDone } from "./downloadText";
import { downloadTime } from "./recommend";
import type { DownloadState } from "./useDownloads";

/** Fills the panel with a folder to load; `offer` brings the precision advised for this machine. */
export type UseModel = (dir: string, offer: ModelOffer | null) => void;

/** One catalog model in the panel: how it runs here, and Use, Download, Stop or Resume with the
 * download's progress in words. */
export function CatalogOffer({
  offer: m,
  recommended = false,
  state,
  hasToken,
  token,
  onToken,
  onUse,
  onDownload,
  onStop,
  removal,
}: {
  offer: ModelOffer;
  /** The one model the panel recommends for this machine. */
  recommended?: boolean;
  state: DownloadState | undefined;
  /** A token is already set up (HF_TOKEN or `huggingface-cli login`). */
  hasToken: boolean;
  token: string;
  onToken: (token: string) => void;
  onUse: UseModel;
  onDownload: () => void;
  onStop: () => void;
  /** "Remove…" for the copy on disk (a finished or an interrupted download). */
  removal?: (copy: ModelCopy) => ReactNode;
}) {
  const copy = m.copies.find((c) => c.complete);
  // What "Remove…" deletes: the complete copy, else what an interrupted download left.
  const onDisk = copy ?? m.copies[0];
  const running = state?.phase === "running" ? state : null;
  const item = useRef<HTMLLIElement>(null);
  // A download that starts, or is running when the panel opens, is scrolled into the list's view,
  // again once its progress bar appears below it.
  const isRunning = running !== null;
  const hasProgress = running?.progress != null;
  useEffect(() => {
    if (isRunning) item.current?.scrollIntoView?.({ block: "nearest" });
  }, [isRunning, hasProgress]);
  const interrupted = !copy && (m.copies.length > 0 || state?.phase === "stopped" || state?.phase === "failed");
  const progress = state && state.phase !== "done" ? state.progress : null;

  let action;
  if (copy) {
    action = (
      <button type="button" className="button" title={copy.path} onClick={() => onUse(copy.path, m)}>
        Use
      </button>
    );
  } else if (running) {
    action = (
      <button type="button" className="button" data-testid="download-stop" disabled={running.stopping} onClick={onStop}>
        {running.stopping ? "Stopping…" : "Stop"}
      </button>
    );
  } else {
    action = (
      <button type="button" className="button" data-testid="download-button" onClick={onDownload}>
        {interrupted ? "Resume download" : `Download · ${formatBytes(m.download_bytes)}`}
      </button>
    );
  }

  return (
    <li
      ref={item}
      className="found-models__item"
      data-testid="found-model"
      data-id={m.id}
      data-download={state?.phase ?? "none"}
    >
      <div className="found-models__head">
        <span className="found-models__name">{m.name}</span>
        {recommended && (
          <span className="badge badge--recommended" data-testid="recommended">
            Recommended for this computer
          </span>
        )}
        {action}
      </div>
      <p className="found-models__note" data-testid="model-note">
        {m.note[0]?.toUpperCase()}
        {m.note.slice(1)}. Licence: {m.licence}.
      </p>
      <p className="found-models__advice">{m.advice}</p>
      {removal && !running && onDisk && removal(onDisk)}
      {recommended && !copy && !running && (
        <p className="field__hint" data-testid="recommended-download">
          {formatBytes(m.download_bytes)} to download: {downloadTime(m.download_bytes)} on a typical 50 Mbit/s line.
        </p>
      )}
      {progress && !copy && (
        <div className="download" data-testid="download-progress">
          <div
            className="meter"
            role="progressbar"
            aria-label={`Downloading ${m.name}`}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(fractionDone(progress) * 100)}
          >
            <div className="meter__fill" style={{ width: `${(fractionDone(progress) * 100).toFixed(1)}%` }} />
          </div>
          <p className="field__hint" data-testid="download-text">
            {describeProgress(progress)}
            {running && <> · {describeFile(progress)}</>}
          </p>
        </div>
      )}
      {state?.phase === "stopped" && !copy && (
        <p className="field__hint" data-testid="download-status">
          Stopped. What arrived is kept: “Resume download” goes on from there.
        </p>
      )}
      {state?.phase === "failed" && (
        <p className="field__error" data-testid="download-status" role="alert">
          {state.error}
        </p>
      )}
      {state?.phase === "done" && copy && (
        <p className="field__hint" data-testid="download-status">
          Downloaded and checked: {formatBytes(state.fetchedBytes)} in {formatTook(state.seconds)}.
        </p>
      )}
      {!copy && !running && m.gated && (
        <label className="field">
          <span className="field__hint" data-testid="download-token-hint">
            {hasToken
              ? "The repository is gated: the token saved by huggingface-cli login (or HF_TOKEN) is used; paste another here to use it instead (for this download only, never stored)."
              : "The repository is gated: accept its conditions on huggingface.co, then paste an access token (used for this download only, never stored)."}
          </span>
          <input
            className="input"
            type="password"
            data-testid="download-token"
            value={token}
            placeholder="hf_…"
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => onToken(e.target.value)}
          />
        </label>
      )}
      {!copy && !running && (
        <p className="field__hint">
          Or in a terminal: <code>onevision models download {m.id}</code>
        </p>
      )}
    </li>
  );
}
