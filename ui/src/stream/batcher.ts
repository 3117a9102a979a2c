// Deltas arrive hundreds of times a second; React should see them at most once a frame.
export interface Batcher<T> {
  push(item: T): void;
  /** Hands over whatever is queued now (used when the stream ends, so nothing waits a frame). */
  flush(): void;
  cancel(): void;
}

type Schedule = (run: () => void) => () => void;

const nextFrame: Schedule = (run) => {
  if (typeof requestAnimationFrame === "function") {
    const id = requestAnimationFrame(run);
    return () => cancelAnimationFrame(id);
  }
  const id = setTimeout(run, 16);
  return () => clearTimeout(id);
};

export function createBatcher<T>(deliver: (items: T[]) => void, schedule: Schedule = nextFrame): Batcher<T> {
  let queue: T[] = [];
  let cancelScheduled: (() => void) | null = null;

  const flush = () => {
    cancelScheduled?.();
    cancelScheduled = null;
    if (queue.length === 0) return;
    const items = queue;
    queue = [];
    deliver(items);
  };

  return {
    push(item) {
      queue.push(item);
      if (!cancelScheduled) cancelScheduled = schedule(flush);
    },
    flush,
    cancel() {
      cancelScheduled?.();
      cancelScheduled = null;
      queue = [];
    },
  };
}
