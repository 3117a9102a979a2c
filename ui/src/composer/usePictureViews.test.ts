import { act, renderHook, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { AttachedPicture, PictureView } from "../ipc/types";
import { usePictureViews } from "./usePictureViews";

const viewPicture = vi.fn();
vi.mock("../ipc/commands", () => ({ viewPicture: (...args: unknown[]) => viewPicture(...args) }));

const pic = (sha256: string): AttachedPicture => ({ sha256, width: 10, height: 10, mime: "image/png", thumbnail: "" });
const view = (tokens: number): PictureView => ({
  width: 10,
  height: 10,
  seen_width: 28,
  seen_height: 28,
  tokens,
  warning: null,
  exact: true,
  image: "",
});

beforeEach(() => {
  viewPicture.mockReset();
  viewPicture.mockImplementation((sha: string, maxPixels: number) =>
    sha === "broken" ? Promise.reject(new Error("cannot read it")) : Promise.resolve(view(maxPixels)),
  );
});

describe("usePictureViews", () => {
  it("reads each picture once per detail, and forgets pictures taken away", async () => {
    const { result, rerender } = renderHook(({ pictures, max }) => usePictureViews(pictures, max), {
      initialProps: { pictures: [pic("a")], max: 100 },
    });
    await waitFor(() => expect(result.current.get("a")?.view?.tokens).toBe(100));

    rerender({ pictures: [pic("a"), pic("b")], max: 100 });
    await waitFor(() => expect(result.current.get("b")?.view?.tokens).toBe(100));
    expect(viewPicture.mock.calls).toEqual([
      ["a", 100],
      ["b", 100],
    ]);

    rerender({ pictures: [pic("b")], max: 100 });
    await waitFor(() => expect(result.current.has("a")).toBe(false));
    expect(viewPicture).toHaveBeenCalledTimes(2);

    // Another detail reads what is attached again.
    rerender({ pictures: [pic("b")], max: 200 });
    await waitFor(() => expect(result.current.get("b")?.view?.tokens).toBe(200));
    expect(viewPicture).toHaveBeenLastCalledWith("b", 200);
    expect(viewPicture).toHaveBeenCalledTimes(3);
  });

  it("keeps why a picture could not be read", async () => {
    const { result } = renderHook(() => usePictureViews([pic("broken")], 100));
    await waitFor(() => expect(result.current.get("broken")?.error).toBe("cannot read it"));
    await act(async () => {});
    expect(result.current.get("broken")?.view).toBeNull();
  });
});
