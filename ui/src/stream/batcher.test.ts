import { afterEach, describe, expect, it, vi } from "vitest";
import { createBatcher } from "./batcher";

/** A frame scheduler the test runs by hand. */
function manualFrames() {
  const pending = new Set<() => void>();
  return {
    schedule: (run: () => void) => {
      pending.add(run);
      return () => pending.delete(run);
    },
    get pending() {
      return pending.size;
    },
    runFrame() {
      const runs = [...pending];
      pending.clear();
      for (const run of runs) run();
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("createBatcher", () => {
  it("delivers everything pushed in one frame together, in order", () => {
    const frames = manualFrames();
    const delivered: number[][] = [];
    const b = createBatcher<number>((items) => delivered.push(items), frames.schedule);
    for (let i = 0; i < 500; i += 1) b.push(i);
    expect(delivered).toEqual([]);
    expect(frames.pending).toBe(1);
    frames.runFrame();
    expect(delivered).toEqual([Array.from({ length: 500 }, (_, i) => i)]);
  });

  it("schedules one frame at a time and a new one after delivering", () => {
    const frames = manualFrames();
    const delivered: string[][] = [];
    const b = createBatcher<string>((items) => delivered.push(items), frames.schedule);
    b.push("a");
    b.push("b");
    expect(frames.pending).toBe(1);
    frames.runFrame();
    b.push("c");
    expect(frames.pending).toBe(1);
    frames.runFrame();
    frames.runFrame();
    expect(delivered).toEqual([["a", "b"], ["c"]]);
  });

  it("flush hands over the tail at once and cancels the pending frame", () => {
    const frames = manualFrames();
    const delivered: string[][] = [];
    const b = createBatcher<string>((items) => delivered.push(items), frames.schedule);
    b.push("x");
    frames.runFrame();
    b.push("y");
    b.push("done");
    b.flush();
    expect(delivered).toEqual([["x"], ["y", "done"]]);
    expect(frames.pending).toBe(0);
    frames.runFrame();
    expect(delivered).toHaveLength(2);
  });

  it("flush with nothing queued delivers nothing", () => {
    const deliver = vi.fn();
    const b = createBatcher<number>(deliver, manualFrames().schedule);
    b.flush();
    expect(deliver).not.toHaveBeenCalled();
  });

  it("loses nothing across many frames: every item once, in order", () => {
    const frames = manualFrames();
    const seen: number[] = [];
    const b = createBatcher<number>((items) => seen.push(...items), frames.schedule);
    let next = 0;
    for (let frame = 0; frame < 50; frame += 1) {
      for (let k = 0; k < frame % 7; k += 1) b.push(next++);
      if (frame % 3 === 0) frames.runFrame();
    }
    b.flush();
    expect(seen).toEqual(Array.from({ length: next }, (_, i) => i));
  });

  it("an item pushed while delivering waits for the next frame", () => {
    const frames = manualFrames();
    const delivered: string[][] = [];
    const b = createBatcher<string>((items) => {
      delivered.push(items);
      if (items.includes("a")) b.push("from inside");
    }, frames.schedule);
    b.push("a");
    frames.runFrame();
    expect(delivered).toEqual([["a"]]);
    frames.runFrame();
    expect(delivered).toEqual([["a"], ["from inside"]]);
  });

  it("cancel drops what is queued and stops the frame", () => {
    const frames = manualFrames();
    const deliver = vi.fn();
    const b = createBatcher<number>(deliver, frames.schedule);
    b.push(1);
    b.cancel();
    expect(frames.pending).toBe(0);
    frames.runFrame();
    b.flush();
    expect(deliver).not.toHaveBeenCalled();
    b.push(2);
    b.flush();
    expect(deliver).toHaveBeenCalledWith([2]);
  });

  it("uses animation frames by default", () => {
    vi.useFakeTimers();
    const deliver = vi.fn();
    const b = createBatcher<number>(deliver);
    b.push(1);
    b.push(2);
    expect(deliver).not.toHaveBeenCalled();
    vi.advanceTimersToNextFrame();
    expect(deliver).toHaveBeenCalledExactlyOnceWith([1, 2]);
  });
});
