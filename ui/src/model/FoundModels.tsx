import { useEffect, useRef, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { MachineModels, ModelOffer } from "../ipc/types";
import { formatBytes } from "../stream/format";
import { describeFile, describeProgress, formatTook, fractionDone } from "./downloadText";
import { loadFolders, saveFolders, withFolder } from "./modelFolders";
import type { DownloadState, Downloads } from "./useDownloads";

/** Fills the panel with a folder to load; `offer` brings the precision advised for this machine. */
export type UseModel = (dir: string, offer: ModelOffer | null) => void;

/** The catalog's models with the copies already on this machine (the Hugging Face cache and the
 * folders the student added) and, in words, how each runs here. A model not on disk downloads
 * from here, with progress, stop and resume; "Use" fills the panel with a complete copy. */
export function FoundModels({ onUse, downloads }: { onUse: UseModel; downloads: Downloads }) {
  const [found, setFound] = useState<MachineModels | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [folders, setFolders] = useState<string[]>(loadFolders);
  const [folderError, setFolderError] = useState<string | null>(null);
  const [tokens, setTokens] = useState<Record<string, string>>({});

  // Looked up again when the folders change and when a download finishes.
  useEffect(() => {
    let live = true;
    commands.findModels(folders).then(
      (m) => {
        if (!live) return;
        setFound(m);
        setError(null);
      },
      (reason: unknown) => live && setError(errorText(reason)),
    );
    return () => {
      live = false;
    };
  }, [folders, downloads.finished]);

  const changeFolders = (next: string[]) => {
    saveFolders(next);
    setFolders(next);
  };
  const addFolder = () => {
    setFolderError(null);
    commands.pickModelDir().then(
      (dir) => dir && changeFolders(withFolder(folders, dir)),
      (reason: unknown) => setFolderError(errorText(reason)),
    );
  };

  if (error) {
    return (
      <p className="field__error" role="alert">
        {error}
      </p>
    );
  }
  if (!found) return <p className="field__hint">Looking for models on this machine…</p>;
  return (
    <section className="found-models" data-testid="found-models" aria-label="Models for this machine">
      <h3 className="found-models__title">Models for this machine</h3>
      <ul className="found-models__list">
        {found.models.map((m) => (
          <Offer
            key={m.id}
            offer={m}
            state={downloads.states[m.id]}
            hasToken={found.has_token}
            token={tokens[m.id] ?? ""}
            onToken={(t) => setTokens((all) => ({ ...all, [m.id]: t }))}
            onUse={onUse}
            onDownload={() => downloads.start(m.id, tokens[m.id]?.trim() || null)}
            onStop={() => downloads.stop(m.id)}
          />
        ))}
        {found.others.map((o) => (
          <li key={o.path} className="found-models__item" data-testid="found-other">
            <div className="found-models__head">
              <span className="found-models__name">{o.name}</span>
              {o.complete ? (
                <button type="button" className="button" title={o.path} onClick={() => onUse(o.path, null)}>
                  Use
                </button>
              ) : (
                <span className="badge">Incomplete</span>
              )}
            </div>
            <p className="found-models__advice">
              {o.complete ? o.path : `${o.path} lacks ${o.missing.join(", ")}`}
            </p>
          </li>
        ))}
      </ul>
      <div className="found-models__folders">
        <span className="field__hint">
          Also looking in {folders.length === 0 ? "no other folder" : `${folders.length} folder${folders.length === 1 ? "" : "s"}`}
          {found.hub_cache ? `, besides the Hugging Face cache (${found.hub_cache})` : ""}.
        </span>
        <ul className="found-models__folder-list">
          {folders.map((f) => (
            <li key={f} className="found-models__folder" data-testid="model-folder">
              <span className="facts__path">{f}</span>
              <button
                type="button"
                className="link-button"
                aria-label={`Stop looking in ${f}`}
                onClick={() => changeFolders(folders.filter((x) => x !== f))}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
        <button type="button" className="button" data-testid="add-folder-button" onClick={addFolder}>
          Add a folder to look in…
        </button>
        {[...found.folder_errors, ...(folderError ? [folderError] : [])].map((e) => (
          <p key={e} className="field__error" role="alert">
            {e}
          </p>
        ))}
      </div>
    </section>
  );
}

function Offer({
  offer: m,
  state,
  hasToken,
  token,
  onToken,
  onUse,
  onDownload,
  onStop,
}: {
  offer: ModelOffer;
  state: DownloadState | undefined;
  /** A token is already set up (HF_TOKEN or `huggingface-cli login`). */
  hasToken: boolean;
  token: string;
  onToken: (token: string) => void;
  onUse: UseModel;
  onDownload: () => void;
  onStop: () => void;
}) {
  const copy = m.copies.find((c) => c.complete);
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
        {action}
      </div>
      <p className="found-models__note" data-testid="model-note">
        {m.note[0]?.toUpperCase()}
        {m.note.slice(1)}. Licence: {m.licence}.
      </p>
      <p className="found-models__advice">{m.advice}</p>
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
      {state?.phase === "done" && (
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
