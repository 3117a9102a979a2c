import { useRef, useState, type PointerEvent, type RefObject } from "react";
import { rectBetween, type Point, type Rect } from "./geometry";

export interface DragSelection {
  /** The element the picture is shown in; selections are in its pixels. */
  stageRef: RefObject<HTMLDivElement | null>;
  /** The rectangle dragged so far (or last), in shown pixels. */
  selection: Rect | null;
  handlers: {
    onPointerDown: (event: PointerEvent<HTMLDivElement>) => void;
    onPointerMove: (event: PointerEvent<HTMLDivElement>) => void;
    onPointerUp: (event: PointerEvent<HTMLDivElement>) => void;
  };
}

/** A rectangle dragged with the mouse over a `shownWidth` × `shownHeight` stage, kept inside it.
 * `onStart` hears each new drag; `onDone` gets the rectangle when the button is released. */
export function useDragSelection(
  shownWidth: number,
  shownHeight: number,
  { onStart, onDone }: { onStart?: () => void; onDone?: (rect: Rect) => void } = {},
): DragSelection {
  const stageRef = useRef<HTMLDivElement>(null);
  const [anchor, setAnchor] = useState<Point | null>(null);
  const [selection, setSelection] = useState<Rect | null>(null);

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
    onStart?.();
  };

  const onPointerMove = (event: PointerEvent<HTMLDivElement>) => {
    if (anchor) setSelection(rectBetween(anchor, pointAt(event)));
  };

  const onPointerUp = (event: PointerEvent<HTMLDivElement>) => {
    if (!anchor) return;
    const rect = rectBetween(anchor, pointAt(event));
    setAnchor(null);
    setSelection(rect);
    onDone?.(rect);
  };

  return { stageRef, selection, handlers: { onPointerDown, onPointerMove, onPointerUp } };
}
