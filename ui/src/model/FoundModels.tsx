import { useEffect, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { MachineModels, ModelOffer } from "../ipc/types";
import { formatBytes } from "../stream/format";

/** The catalog's models with the copies already in the Hugging Face cache and, in words, how
 * each runs on this machine; "Use" fills the panel with a complete copy and the advised settings. */
export function FoundModels({ onUse }: { onUse: (dir: string, offer: ModelOffer) => void }) {
  const [found, setFound] = useState<MachineModels | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    commands.findModels().then(
      (m) => live && setFound(m),
      (reason: unknown) => live && setError(errorText(reason)),
    );
    return () => {
      live = false;
    };
  }, []);

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
        {found.models.map((m) => {
          const copy = m.copies.find((c) => c.complete);
          return (
            <li key={m.id} className="found-models__item" data-testid="found-model" data-id={m.id}>
              <div className="found-models__head">
                <span className="found-models__name">{m.name}</span>
                {copy ? (
                  <button type="button" className="button" title={copy.path} onClick={() => onUse(copy.path, m)}>
                    Use
                  </button>
                ) : (
                  <span className="badge">
                    {m.copies.length > 0 ? "Download incomplete" : `Not downloaded · ${formatBytes(m.download_bytes)}`}
                  </span>
                )}
              </div>
              <p className="found-models__advice">{m.advice}</p>
              {!copy && (
                <p className="field__hint">
                  Get it with <code>onevision models download {m.id}</code>
                  {m.gated ? " (the repository is gated: give a Hugging Face token with --token)" : ""}.
                </p>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
