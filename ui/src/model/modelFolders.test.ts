import { describe, expect, it } from "vitest";
import { parseFolders, withFolder } from "./modelFolders";

describe("model folders", () => {
  it("reads back a saved list and drops what is not a folder path", () => {
    expect(parseFolders(JSON.stringify(["/models", "", 3, "/more", "/models"]))).toEqual(["/models", "/more"]);
    expect(parseFolders("{not json")).toEqual([]);
    expect(parseFolders(JSON.stringify({ dir: "/models" }))).toEqual([]);
    expect(parseFolders(null)).toEqual([]);
  });

  it("adds a folder once, trimmed", () => {
    expect(withFolder(["/a"], " /b ")).toEqual(["/a", "/b"]);
    expect(withFolder(["/a"], "/a")).toEqual(["/a"]);
    expect(withFolder(["/a"], "  ")).toEqual(["/a"]);
  });
});
