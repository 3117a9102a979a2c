import { useCallback, useMemo, useState } from "react";
import { errorText } from "../ipc/errors";
import type { AttachedPicture } from "../ipc/types";

export interface Attachments {
  pictures: AttachedPicture[];
  /** How many pictures are still being read by the backend. */
  pending: number;
  error: string | null;
  /** Adds what the backend returns for one attach action, or shows why it failed. */
  track: (work: Promise<AttachedPicture | AttachedPicture[]>) => Promise<void>;
  remove: (sha256: string) => void;
  /** Puts `picture` in the place of the picture `sha256` (a crop of it). */
  replace: (sha256: string, picture: AttachedPicture) => void;
  clear: () => void;
  showError: (message: string | null) => void;
}

/** `list` with `picture` in the place of the picture `sha256` (appended when that is gone), and
 * no second copy of `picture`. */
export function replacePicture(list: AttachedPicture[], sha256: string, picture: AttachedPicture): AttachedPicture[] {
  const rest = list.filter((p) => p.sha256 !== picture.sha256 || p.sha256 === sha256);
  const at = rest.findIndex((p) => p.sha256 === sha256);
  return at < 0 ? [...rest, picture] : [...rest.slice(0, at), picture, ...rest.slice(at + 1)];
}

/** The pictures waiting in the composer. The same picture attached twice is kept once: the
 * backend stores pictures by their SHA-256 anyway. */
export function useAttachments(): Attachments {
  const [pictures, setPictures] = useState<AttachedPicture[]>([]);
  const [pending, setPending] = useState(0);
  const [error, setError] = useState<string | null>(null);

  const track = useCallback(async (work: Promise<AttachedPicture | AttachedPicture[]>) => {
    setPending((n) => n + 1);
    try {
      const result = await work;
      const added = Array.isArray(result) ? result : [result];
      if (added.length > 0) setError(null);
      setPictures((current) => {
        const seen = new Set(current.map((p) => p.sha256));
        return [...current, ...added.filter((p) => !seen.has(p.sha256) && seen.add(p.sha256))];
      });
    } catch (reason) {
      setError(errorText(reason));
    } finally {
      setPending((n) => n - 1);
    }
  }, []);

  const remove = useCallback((sha256: string) => {
    setPictures((current) => current.filter((p) => p.sha256 !== sha256));
  }, []);

  const replace = useCallback((sha256: string, picture: AttachedPicture) => {
    setPictures((current) => replacePicture(current, sha256, picture));
  }, []);

  const clear = useCallback(() => {
    setPictures([]);
    setError(null);
  }, []);

  return useMemo(
    () => ({ pictures, pending, error, track, remove, replace, clear, showError: setError }),
    [pictures, pending, error, track, remove, replace, clear],
  );
}
