import { useEffect, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { AttachedPicture, PictureView } from "../ipc/types";

export type ViewState = { view: PictureView; error: null } | { view: null; error: string };

/** What the model will see of each attached picture at the picture detail `maxPixels`, read
 * again when the detail changes; keyed by SHA-256. */
export function usePictureViews(pictures: AttachedPicture[], maxPixels: number): Map<string, ViewState> {
  const [views, setViews] = useState<Map<string, ViewState>>(new Map());
  const key = pictures.map((p) => p.sha256).join(",");

  useEffect(() => {
    let live = true;
    setViews(new Map());
    for (const sha of key === "" ? [] : key.split(",")) {
      commands.viewPicture(sha, maxPixels).then(
        (view) => live && setViews((m) => new Map(m).set(sha, { view, error: null })),
        (reason: unknown) => live && setViews((m) => new Map(m).set(sha, { view: null, error: errorText(reason) })),
      );
    }
    return () => {
      live = false;
    };
  }, [key, maxPixels]);

  return views;
}
