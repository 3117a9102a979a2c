import { useEffect, useRef, useState, type PointerEvent } from "react";
import type { CaptureRegion, ScreenCapture } from "../ipc/types";
import { fitScale, isUsable, rectBetween, toCapturePixels, type Point, type Rect } from "./geometry";

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
  const stageRef = useRef<HTMLDivElement>(null);
  const [anchor, setAnchor] = useState<Point | null>(null);
  const [selection, setSelection] = useState<Rect | null>(null);

  const region = selection ? toCapturePixels(selection, scale, capture.width, capture.height) : null;

  const confirm = (rect: Rect | null) => {
    if (!rect) return;
    const pixels = toCapturePixels(rect, scale, capture.width, capture.height);
    if (isUsable(pixels)) onConfirm({ capture_id: capture.capture_id, ...pixels });
  };

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

  const pointAt = (event: PointerEvent): Point => {
    const box = stageRef.current?.getBoundingClientRect();
    const x = event.clientX - (box?.left ?? 0);
    const y = event.clientY - (box?.top ?? 0);
    return { x: Math.max(0, Math.min(shownWidth, x)), y: Math.max(0, Math.min(shownHeight, y)) };
  };

  const onPointerDown = (event: PointerEvent<HTMLDivElement>) => {
    if (event.button !== 0) return;
    event.currentTarget.setPointerCapture?.(event.pointerId);
    const point = pointAt(event);
    setAnchor(point);
    setSelection({ x: point.x, y: point.y, width: 0, height: 0 });
  };

  const onPointerMove = (event: PointerEvent<HTMLDivElement>) => {
    if (anchor) setSelection(rectBetween(anchor, pointAt(event)));
  };

  const onPointerUp = (event: PointerEvent<HTMLDivElement>) => {
    if (!anchor) return;
    const rect = rectBetween(anchor, pointAt(event));
    setAnchor(null);
    setSelection(rect);
    confirm(rect);
  };

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
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
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
