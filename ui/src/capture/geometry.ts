// Mapping a rectangle dragged over the scaled-down screenshot back to the capture's pixels.
export interface Point {
  x: number;
  y: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The scale that fits a `width` × `height` image inside the box, never enlarging it. */
export function fitScale(width: number, height: number, boxWidth: number, boxHeight: number): number {
  if (width <= 0 || height <= 0 || boxWidth <= 0 || boxHeight <= 0) return 1;
  return Math.min(boxWidth / width, boxHeight / height, 1);
}

/** The rectangle between two corners, whichever way the drag went. */
export function rectBetween(a: Point, b: Point): Rect {
  return {
    x: Math.min(a.x, b.x),
    y: Math.min(a.y, b.y),
    width: Math.abs(a.x - b.x),
    height: Math.abs(a.y - b.y),
  };
}

/** A rectangle in displayed pixels as whole capture pixels, kept inside the capture. */
export function toCapturePixels(rect: Rect, scale: number, captureWidth: number, captureHeight: number): Rect {
  const x0 = Math.max(0, Math.min(captureWidth, Math.floor(rect.x / scale)));
  const y0 = Math.max(0, Math.min(captureHeight, Math.floor(rect.y / scale)));
  const x1 = Math.max(0, Math.min(captureWidth, Math.ceil((rect.x + rect.width) / scale)));
  const y1 = Math.max(0, Math.min(captureHeight, Math.ceil((rect.y + rect.height) / scale)));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Selections smaller than this (in capture pixels) are taken for a stray click. */
export const MIN_SELECTION = 8;

export function isUsable(rect: Rect): boolean {
  return rect.width >= MIN_SELECTION && rect.height >= MIN_SELECTION;
}
