import { useEffect, useRef, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { AttachedPicture, PictureView } from "../ipc/types";

export type ViewState = { view: PictureView; error: null } | { view: null; error: string };

/** What the model will see of each attached picture at the picture detail `maxPixels`, keyed by
 * SHA-256. Each picture is read once per detail (attaching another or cropping one does not read
 * the rest again); a picture no longer attached is forgotten. */
export function usePictureViews(pictures: readonly AttachedPicture[], maxPixels: number): Map<string, ViewState> {
  const [views, setViews] = useState<Map<string, ViewState>>(() => new Map());
  // The pictures asked for at the current detail; a new detail starts a new set.
  const asked = useRef({ maxPixels, shas: new Set<string>() });

  useEffect(() => {
    if (asked.current.maxPixels !== maxPixels) asked.current = { maxPixels, shas: new Set() };
    const round = asked.current;
    const attached = new Set(pictures.map((p) => p.sha256));
    for (const sha of round.shas) if (!attached.has(sha)) round.shas.delete(sha);
    setViews((m) => {
      const kept = new Map([...m].filter(([sha]) => round.shas.has(sha)));
      return kept.size === m.size ? m : kept;
    });
    const current = (sha: string) => asked.current === round && round.shas.has(sha);
    for (const sha of attached) {
      if (round.shas.has(sha)) continue;
      round.shas.add(sha);
      commands.viewPicture(sha, maxPixels).then(
        (view) => current(sha) && setViews((m) => new Map(m).set(sha, { view, error: null })),
        (reason: unknown) => current(sha) && setViews((m) => new Map(m).set(sha, { view: null, error: errorText(reason) })),
      );
    }
  }, [pictures, maxPixels]);

  return views;
}
