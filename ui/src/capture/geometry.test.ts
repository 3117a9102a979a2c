import { describe, expect, it } from "vitest";
import { MIN_SELECTION, fitScale, isUsable, rectBetween, toCapturePixels } from "./geometry";

describe("fitScale", () => {
  it("shrinks an image to fit the box, keeping its proportions", () => {
    expect(fitScale(3840, 2160, 1920, 1080)).toBe(0.5);
    expect(fitScale(2000, 1000, 1000, 1000)).toBe(0.5);
    expect(fitScale(1000, 2000, 1000, 1000)).toBe(0.5);
  });

  it("never enlarges", () => {
    expect(fitScale(800, 600, 1920, 1080)).toBe(1);
  });

  it("falls back to 1 for empty sizes", () => {
    expect(fitScale(0, 100, 100, 100)).toBe(1);
    expect(fitScale(100, 100, 0, 100)).toBe(1);
    expect(fitScale(100, -1, 100, 100)).toBe(1);
  });
});

describe("rectBetween", () => {
  it("gives the same rectangle whichever way the drag went", () => {
    const want = { x: 10, y: 20, width: 90, height: 60 };
    expect(rectBetween({ x: 10, y: 20 }, { x: 100, y: 80 })).toEqual(want);
    expect(rectBetween({ x: 100, y: 80 }, { x: 10, y: 20 })).toEqual(want);
    expect(rectBetween({ x: 10, y: 80 }, { x: 100, y: 20 })).toEqual(want);
    expect(rectBetween({ x: 100, y: 20 }, { x: 10, y: 80 })).toEqual(want);
  });

  it("is empty for a click", () => {
    expect(rectBetween({ x: 5, y: 5 }, { x: 5, y: 5 })).toEqual({ x: 5, y: 5, width: 0, height: 0 });
  });
});

describe("toCapturePixels", () => {
  it("scales a displayed rectangle back to capture pixels", () => {
    expect(toCapturePixels({ x: 10, y: 20, width: 100, height: 50 }, 0.5, 3840, 2160)).toEqual({
      x: 20,
      y: 40,
      width: 200,
      height: 100,
    });
  });

  it("rounds outwards so the selection is never cut", () => {
    expect(toCapturePixels({ x: 10.4, y: 10.6, width: 20.2, height: 20.2 }, 1 / 3, 1000, 1000)).toEqual({
      x: 31,
      y: 31,
      width: 61,
      height: 62,
    });
  });

  it("keeps the rectangle inside the capture", () => {
    expect(toCapturePixels({ x: -50, y: -10, width: 100, height: 40 }, 1, 800, 600)).toEqual({
      x: 0,
      y: 0,
      width: 50,
      height: 30,
    });
    expect(toCapturePixels({ x: 780, y: 590, width: 100, height: 100 }, 1, 800, 600)).toEqual({
      x: 780,
      y: 590,
      width: 20,
      height: 10,
    });
    expect(toCapturePixels({ x: 900, y: 700, width: 10, height: 10 }, 1, 800, 600)).toEqual({
      x: 800,
      y: 600,
      width: 0,
      height: 0,
    });
  });
});

describe("isUsable", () => {
  it("takes a tiny selection for a stray click", () => {
    expect(isUsable({ x: 0, y: 0, width: MIN_SELECTION, height: MIN_SELECTION })).toBe(true);
    expect(isUsable({ x: 0, y: 0, width: MIN_SELECTION - 1, height: 500 })).toBe(false);
    expect(isUsable({ x: 0, y: 0, width: 500, height: MIN_SELECTION - 1 })).toBe(false);
    expect(isUsable({ x: 0, y: 0, width: 0, height: 0 })).toBe(false);
  });
});
