import { useEffect, useRef, useState } from "react";
import type { CaptureRegion, ScreenCapture } from "../ipc/types";
import { fitScale, isUsable, toCapturePixels, type Rect } from "./geometry";
import { useDragSelection } from "./useDragSelection";

export interface CaptureOverlayProps {
  capture: ScreenCapture;
  onConfirm: (region: CaptureRegion) => void;
  onCancel: () => void;
}

function useWindowSize() {
  const [size, setSize] = useState(() => ({ width: window.innerWidth, height: window.innerHeight }));
  useEffect(() => {
    const onResize = () => setSize({ width: window.innerWidth, height: window.innerHeight });
    window.addEventListener("resize", onResize);
    return () => window.removeEventListener("resize", onResize);
  }, []);
  return size;
}

/** The whole screen, scaled to fit the window, with a rectangle the user drags over it.
 * Releasing the mouse or pressing Enter takes the region; Esc gives up. */
export function CaptureOverlay({ capture, onConfirm, onCancel }: CaptureOverlayProps) {
  const windowSize = useWindowSize();
  const margin = 32;
  const scale = fitScale(capture.width, capture.height, windowSize.width - margin * 2, windowSize.height - margin * 2 - 40);
  const shownWidth = Math.round(capture.width * scale);
  const shownHeight = Math.round(capture.height * scale);
  const confirm = (rect: Rect | null) => {
    if (!rect) return;
    const pixels = toCapturePixels(rect, scale, capture.width, capture.height);
    if (isUsable(pixels)) onConfirm({ capture_id: capture.capture_id, ...pixels });
  };
  const { stageRef, selection, handlers } = useDragSelection(shownWidth, shownHeight, { onDone: confirm });

  const region = selection ? toCapturePixels(selection, scale, capture.width, capture.height) : null;

  const latest = useRef({ confirm, onCancel, selection });
  latest.current = { confirm, onCancel, selection };

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        latest.current.onCancel();
      } else if (event.key === "Enter") {
        event.preventDefault();
        latest.current.confirm(latest.current.selection);
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, []);

  return (
    <div className="capture" data-testid="capture-overlay" role="dialog" aria-modal="true" aria-label="Select a region of the screen">
      <p className="capture__hint">
        Drag over the part of the screen to attach · <kbd>Enter</kbd> takes the selection · <kbd>Esc</kbd> cancels
        {region && region.width > 0 && (
          <span className="capture__size">
            {" "}
            · {region.width} × {region.height} px
          </span>
        )}
      </p>
      <div
        ref={stageRef}
        className="capture__stage"
        style={{ width: shownWidth, height: shownHeight }}
        {...handlers}
      >
        <img className="capture__image" src={capture.image} alt="" draggable={false} width={shownWidth} height={shownHeight} />
        {selection && selection.width > 0 && selection.height > 0 && (
          <div
            className="capture__selection"
            data-testid="capture-selection"
            style={{ left: selection.x, top: selection.y, width: selection.width, height: selection.height }}
          />
        )}
      </div>
      <button type="button" className="button capture__cancel" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}
