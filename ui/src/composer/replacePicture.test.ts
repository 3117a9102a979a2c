import { describe, expect, it } from "vitest";
import type { AttachedPicture } from "../ipc/types";
import { replacePicture } from "./useAttachments";

const pic = (sha256: string): AttachedPicture => ({ sha256, width: 10, height: 10, mime: "image/png", thumbnail: "" });

describe("replacePicture", () => {
  it("puts the crop where the whole picture was", () => {
    const out = replacePicture([pic("a"), pic("b"), pic("c")], "b", pic("b-crop"));
    expect(out.map((p) => p.sha256)).toEqual(["a", "b-crop", "c"]);
  });

  it("keeps one copy when the crop was already attached", () => {
    const out = replacePicture([pic("a"), pic("b"), pic("c")], "c", pic("a"));
    expect(out.map((p) => p.sha256)).toEqual(["b", "a"]);
  });

  it("appends the crop when the whole picture is gone", () => {
    const out = replacePicture([pic("a")], "gone", pic("x"));
    expect(out.map((p) => p.sha256)).toEqual(["a", "x"]);
  });
});
