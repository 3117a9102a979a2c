import { useEffect, useState } from "react";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import { errorText } from "../ipc/errors";
import { notify } from "../ui/notices";

/** Tauri delivers dropped files as paths, not as DOM drop events; this reports whether a drag
 * is over the window and hands each drop's paths on. Outside Tauri it does nothing. */
export function useDragDrop(onDrop: (paths: string[]) => void): boolean {
  const [dragging, setDragging] = useState(false);

  useEffect(() => {
    let unlisten: (() => void) | null = null;
    let disposed = false;
    try {
      getCurrentWebview()
        .onDragDropEvent((event) => {
          const payload = event.payload;
          if (payload.type === "enter" || payload.type === "over") {
            setDragging(true);
          } else if (payload.type === "drop") {
            setDragging(false);
            if (payload.paths.length > 0) onDrop(payload.paths);
          } else {
            setDragging(false);
          }
        })
        .then(
          (stop) => {
            if (disposed) stop();
            else unlisten = stop;
          },
          (reason: unknown) => notify(`Dropping pictures on the window will not work: ${errorText(reason)}`),
        );
    } catch {
      // Not running inside Tauri (a plain browser during development): no file drops.
    }
    return () => {
      disposed = true;
      unlisten?.();
    };
  }, [onDrop]);

  return dragging;
}
