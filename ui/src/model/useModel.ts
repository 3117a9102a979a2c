import { useCallback, useEffect, useRef, useState } from "react";
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
  /** Gives up the folder load under way; the model in use stays. */
  cancel: () => void;
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
  // progress and error handling. Each attempt has a number; one cancelled or overtaken no
  // longer touches the state.
  const attempt = useRef(0);
  const replace = useCallback(async (start: () => Promise<ModelInfo>) => {
    const mine = ++attempt.current;
    setLoadingSince(Date.now());
    setError(null);
    try {
      const loaded = await start();
      if (attempt.current !== mine) return false;
      setInfo(loaded);
      return true;
    } catch (reason) {
      if (attempt.current === mine) setError(errorText(reason));
      return false;
    } finally {
      if (attempt.current === mine) setLoadingSince(null);
    }
  }, []);

  const cancel = useCallback(() => {
    attempt.current += 1;
    setLoadingSince(null);
    commands.cancelLoad().catch((reason: unknown) => setError(errorText(reason)));
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

  return { info, loadingSince, error, load, connect, cancel };
}
