import { useCallback, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { DownloadProgress } from "../ipc/types";

/** Where one catalog model's download stands in this window. */
export type DownloadState =
  | { phase: "running"; progress: DownloadProgress | null; stopping: boolean }
  | { phase: "stopped"; progress: DownloadProgress | null }
  | { phase: "failed"; progress: DownloadProgress | null; error: string }
  | { phase: "done"; snapshot: string; fetchedBytes: number; seconds: number };

export interface Downloads {
  /** By catalog id; a model never downloaded here has no entry. */
  states: Readonly<Record<string, DownloadState>>;
  /** Counts finished downloads, so lists of what is on disk know to look again. */
  finished: number;
  start: (id: string, token: string | null) => void;
  stop: (id: string) => void;
}

/** The progress a state holds, for the state that follows it (a resume, a stop, a failure). */
function progressOf(state: DownloadState | undefined): DownloadProgress | null {
  return state && state.phase !== "done" ? state.progress : null;
}

/** The model downloads of this window. Held by the app rather than the model panel, so closing
 * the panel neither stops a download nor forgets how far it got. */
export function useDownloads(): Downloads {
  const [states, setStates] = useState<Record<string, DownloadState>>({});
  const [finished, setFinished] = useState(0);

  /** Moves download `id` on from where it stands. */
  const update = useCallback((id: string, next: (now: DownloadState | undefined) => DownloadState) => {
    setStates((all) => ({ ...all, [id]: next(all[id]) }));
  }, []);

  const start = useCallback(
    (id: string, token: string | null) => {
      update(id, (now) => ({ phase: "running", progress: progressOf(now), stopping: false }));
      const onProgress = (progress: DownloadProgress) =>
        update(id, (now) => ({ phase: "running", progress, stopping: now?.phase === "running" && now.stopping }));
      commands.downloadModel(id, token, onProgress).then(
        (outcome) => {
          if (outcome.outcome === "done") {
            update(id, () => ({
              phase: "done",
              snapshot: outcome.snapshot,
              fetchedBytes: outcome.fetched_bytes,
              seconds: outcome.seconds,
            }));
            setFinished((n) => n + 1);
          } else {
            update(id, (now) => ({ phase: "stopped", progress: progressOf(now) }));
          }
        },
        (reason: unknown) =>
          update(id, (now) => ({ phase: "failed", progress: progressOf(now), error: errorText(reason) })),
      );
    },
    [update],
  );

  const stop = useCallback((id: string) => {
    setStates((all) => {
      const now = all[id];
      return now?.phase === "running" ? { ...all, [id]: { ...now, stopping: true } } : all;
    });
    // A stop that finds nothing running (it finished meanwhile) changes nothing.
    commands.stopDownload(id).catch(() => undefined);
  }, []);

  return { states, finished, start, stop };
}
