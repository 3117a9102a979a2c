import { describe, expect, it } from "vitest";
import { safeUrlTransform, webUrl } from "./urls";

describe("webUrl", () => {
  it("accepts http and https addresses, normalised", () => {
    expect(webUrl("https://example.org/a?b=1#c")).toBe("https://example.org/a?b=1#c");
    expect(webUrl("  HTTP://Example.org  ")).toBe("http://example.org/");
  });

  it("refuses everything that is not a web address", () => {
    for (const url of [
      "javascript:alert(1)",
      "JavaScript:alert(1)",
      " javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "vbscript:msgbox(1)",
      "file:///etc/passwd",
      "ftp://example.org/",
      "mailto:a@example.org",
      "tauri://localhost/",
      "//evil.example/",
      "/relative/path",
      "relative",
      "#fragment",
      "https:/one-slash",
      "http://",
      "",
    ]) {
      expect(webUrl(url), url).toBeNull();
    }
  });
});

describe("safeUrlTransform", () => {
  it("keeps web links and footnote anchors for href", () => {
    expect(safeUrlTransform("https://example.org", "href")).toBe("https://example.org/");
    expect(safeUrlTransform("#user-content-fn-1", "href")).toBe("#user-content-fn-1");
  });

  it("drops every other href", () => {
    expect(safeUrlTransform("javascript:alert(1)", "href")).toBeNull();
    expect(safeUrlTransform("data:text/html;base64,AAAA", "href")).toBeNull();
    expect(safeUrlTransform("#a b", "href")).toBeNull();
    expect(safeUrlTransform("#x\"onmouseover=alert(1)", "href")).toBeNull();
    expect(safeUrlTransform("page.html", "href")).toBeNull();
  });

  it("drops every image source, even a web one", () => {
    expect(safeUrlTransform("https://example.org/a.png", "src")).toBeNull();
    expect(safeUrlTransform("data:image/png;base64,AAAA", "src")).toBeNull();
    expect(safeUrlTransform("https://example.org/a.png", "srcset")).toBeNull();
  });
});
