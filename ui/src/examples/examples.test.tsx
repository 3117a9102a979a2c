import { fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ExampleList } from "./ExampleList";
import { EXAMPLES, examplePicture } from "./examples";

describe("examples", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("lists every drawn sample with a picture and a question that asks something", () => {
    expect(EXAMPLES.length).toBeGreaterThanOrEqual(6);
    const ids = new Set(EXAMPLES.map((e) => e.id));
    expect(ids.size).toBe(EXAMPLES.length);
    for (const e of EXAMPLES) {
      expect(e.file).toBe(`samples/${e.id}.png`);
      expect(e.question).toMatch(/\?|\.$/);
    }
  });

  it("hands the chosen example to the caller", () => {
    const onTry = vi.fn();
    render(<ExampleList onTry={onTry} />);
    const cards = screen.getAllByTestId("example");
    expect(cards).toHaveLength(EXAMPLES.length);
    fireEvent.click(cards[2]!);
    expect(onTry).toHaveBeenCalledWith(EXAMPLES[2]);
  });

  it("reads the picture from the app's files, and says which one when it cannot", async () => {
    // The window's own Blob (jsdom's), as the app's fetch would give.
    const png = new Blob([new Uint8Array([137, 80, 78, 71])], { type: "image/png" });
    const fetchMock = vi.fn(async () => ({ ok: true, status: 200, blob: async () => png }));
    vi.stubGlobal("fetch", fetchMock);
    await expect(examplePicture(EXAMPLES[0]!)).resolves.toBe("iVBORw==");
    expect(fetchMock).toHaveBeenCalledWith(`/${EXAMPLES[0]!.file}`);
    vi.stubGlobal("fetch", vi.fn(async () => ({ ok: false, status: 404 })));
    await expect(examplePicture(EXAMPLES[1]!)).rejects.toThrow(`the example picture ${EXAMPLES[1]!.file} could not be read`);
  });
});
