import { useCallback, useEffect, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { LoadRequest, ModelInfo, ServerRequest } from "../ipc/types";
import { saveLastRequest } from "./lastRequest";

export interface ModelState {
  /** undefined until the backend has said whether a model is loaded. */
  info: ModelInfo | null | undefined;
  /** When the running load began, or null when none is running. */
  loadingSince: number | null;
  error: string | null;
  load: (request: LoadRequest) => Promise<boolean>;
  /** Makes a server's model the one that answers. */
  connect: (request: ServerRequest) => Promise<boolean>;
}

export function useModel(): ModelState {
  const [info, setInfo] = useState<ModelInfo | null | undefined>(undefined);
  const [loadingSince, setLoadingSince] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    commands.modelInfo().then(
      (model) => current && setInfo(model),
      (reason: unknown) => {
        if (!current) return;
        setInfo(null);
        setError(errorText(reason));
      },
    );
    return () => {
      current = false;
    };
  }, []);

  // Loading a folder and switching to a server both replace what answers, with the same
  // progress and error handling.
  const replace = useCallback(async (start: () => Promise<ModelInfo>) => {
    setLoadingSince(Date.now());
    setError(null);
    try {
      setInfo(await start());
      return true;
    } catch (reason) {
      setError(errorText(reason));
      return false;
    } finally {
      setLoadingSince(null);
    }
  }, []);

  const load = useCallback(
    (request: LoadRequest) => {
      saveLastRequest(request);
      return replace(() => commands.loadModel(request));
    },
    [replace],
  );

  const connect = useCallback(
    (request: ServerRequest) => replace(() => commands.switchToServer(request)),
    [replace],
  );

  return { info, loadingSince, error, load, connect };
}
