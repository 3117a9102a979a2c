import { useEffect, useRef, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { MachineModels, RemovedModel } from "../ipc/types";
import { CatalogOffer, type UseModel } from "./CatalogOffer";
import { loadFolders, saveFolders, withFolder } from "./modelFolders";
import { recommendedModel } from "./recommend";
import { RemoveModel, removedText } from "./RemoveModel";
import type { Downloads } from "./useDownloads";

/** The catalog's models with the copies already on this machine (the Hugging Face cache and the
 * folders the student added) and, in words, how each runs here. A model not on disk downloads
 * from here, with progress, stop and resume; "Use" fills the panel with a complete copy. */
export function FoundModels({ onUse, downloads }: { onUse: UseModel; downloads: Downloads }) {
  const [found, setFound] = useState<MachineModels | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [folders, setFolders] = useState<string[]>(loadFolders);
  const [folderError, setFolderError] = useState<string | null>(null);
  const [tokens, setTokens] = useState<Record<string, string>>({});
  const [removals, setRemovals] = useState(0);
  const [removed, setRemoved] = useState<string | null>(null);
  const removedNote = useRef<HTMLParagraphElement>(null);
  // The list shrinks under the Remove button the student pressed; what was freed is said at the top.
  useEffect(() => {
    if (removed) removedNote.current?.scrollIntoView?.({ block: "nearest" });
  }, [removed]);

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
  }, [folders, downloads.finished, removals]);

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

  const onRemoved = (name: string, r: RemovedModel) => {
    setRemoved(removedText(name, r));
    setRemovals((n) => n + 1);
  };

  if (error) {
    return (
      <p className="field__error" role="alert">
        {error}
      </p>
    );
  }
  if (!found) return <p className="field__hint">Looking for models on this machine…</p>;
  // The one recommended for this machine comes first.
  const recommended = recommendedModel(found);
  const offers = recommended ? [recommended, ...found.models.filter((m) => m !== recommended)] : found.models;
  return (
    <section className="found-models" data-testid="found-models" aria-label="Models for this machine">
      <h3 className="found-models__title">Models for this machine</h3>
      {removed && (
        <p ref={removedNote} className="field__hint" data-testid="model-removed" role="status">
          {removed}
        </p>
      )}
      <ul className="found-models__list">
        {offers.map((m) => (
          <CatalogOffer
            key={m.id}
            offer={m}
            recommended={m === recommended}
            state={downloads.states[m.id]}
            hasToken={found.has_token}
            token={tokens[m.id] ?? ""}
            onToken={(t) => setTokens((all) => ({ ...all, [m.id]: t }))}
            onUse={onUse}
            onDownload={() => downloads.start(m.id, tokens[m.id]?.trim() || null)}
            onStop={() => downloads.stop(m.id)}
            removal={(c) => (
              <RemoveModel name={m.name} path={c.path} bytes={c.bytes} downloaded={c.downloaded} onRemoved={onRemoved} />
            )}
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
            <RemoveModel name={o.name} path={o.path} bytes={o.bytes} downloaded={o.downloaded} onRemoved={onRemoved} />
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
