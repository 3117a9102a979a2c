import { useCallback, useRef, useState } from "react";
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

/** The model downloads of this window. Held by the app rather than the model panel, so closing
 * the panel neither stops a download nor forgets how far it got. */
export function useDownloads(): Downloads {
  const [states, setStates] = useState<Record<string, DownloadState>>({});
  const [finished, setFinished] = useState(0);
  // The last progress of each download, for the state a stop or a failure leaves.
  const last = useRef<Record<string, DownloadProgress | null>>({});

  const set = useCallback((id: string, state: DownloadState) => {
    setStates((all) => ({ ...all, [id]: state }));
  }, []);

  const start = useCallback(
    (id: string, token: string | null) => {
      set(id, { phase: "running", progress: last.current[id] ?? null, stopping: false });
      const onProgress = (progress: DownloadProgress) => {
        last.current[id] = progress;
        setStates((all) => {
          const now = all[id];
          const stopping = now?.phase === "running" && now.stopping;
          return { ...all, [id]: { phase: "running", progress, stopping } };
        });
      };
      commands.downloadModel(id, token, onProgress).then(
        (outcome) => {
          if (outcome.outcome === "done") {
            last.current[id] = null;
            set(id, {
              phase: "done",
              snapshot: outcome.snapshot,
              fetchedBytes: outcome.fetched_bytes,
              seconds: outcome.seconds,
            });
            setFinished((n) => n + 1);
          } else {
            set(id, { phase: "stopped", progress: last.current[id] ?? null });
          }
        },
        (reason: unknown) => set(id, { phase: "failed", progress: last.current[id] ?? null, error: errorText(reason) }),
      );
    },
    [set],
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
