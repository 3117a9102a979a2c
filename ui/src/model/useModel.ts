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

  const load = useCallback(async (request: LoadRequest) => {
    saveLastRequest(request);
    setLoadingSince(Date.now());
    setError(null);
    try {
      setInfo(await commands.loadModel(request));
      return true;
    } catch (reason) {
      setError(errorText(reason));
      return false;
    } finally {
      setLoadingSince(null);
    }
  }, []);

  const connect = useCallback(async (request: ServerRequest) => {
    setLoadingSince(Date.now());
    setError(null);
    try {
      setInfo(await commands.switchToServer(request));
      return true;
    } catch (reason) {
      setError(errorText(reason));
      return false;
    } finally {
      setLoadingSince(null);
    }
  }, []);

  return { info, loadingSince, error, load, connect };
}
