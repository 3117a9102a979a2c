// Model output and pasted text are untrusted (DESIGN.md §6). Every payload below goes through
// the one Markdown renderer, both as a finished text and as a stream growing one character at a
// time, and nothing may run, nothing may be fetched, and no dangerous element or attribute may
// reach the DOM, not even for one frame.
import { fireEvent, render } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { openLink } from "../ipc/commands";
import { Markdown } from "./Markdown";

vi.mock("../ipc/commands", () => ({
  openLink: vi.fn(() => Promise.resolve()),
}));

type Pwnable = { __pwned?: unknown };
/** Inline handlers run in jsdom's own global, which is not quite the test's `window`. */
const pages: Pwnable[] = [window as Pwnable, (window as { jsdom?: { window: Pwnable } }).jsdom?.window ?? {}];
function pwned(): unknown {
  return pages.map((w) => w.__pwned).find((v) => v !== undefined);
}
function unpwn() {
  for (const w of pages) delete w.__pwned;
}

const PAYLOADS: [string, string][] = [
  ["script tag", "<script>window.__pwned=1</script>"],
  ["script tag in a paragraph", "Hello <script>window.__pwned=1</script> world"],
  ["img onerror", '<img src=x onerror="window.__pwned=1">'],
  ["img onerror, self-closing", '<img src="https://evil.example/x.png" onerror="window.__pwned=1"/>'],
  ["javascript: link", "[click](javascript:window.__pwned=1)"],
  ["javascript: link, mixed case", "[click](JaVaScRiPt:window.__pwned=1)"],
  ["javascript: link, entity-encoded", "[click](jav&#x61;script:window.__pwned=1)"],
  ["javascript: link, tab inside", "[click](java&#9;script:window.__pwned=1)"],
  ["javascript: link in angle brackets", "[click](<javascript:window.__pwned=1>)"],
  ["javascript: autolink", "<javascript:window.__pwned=1>"],
  ["javascript: reference link", "[click][evil]\n\n[evil]: javascript:window.__pwned=1"],
  ["vbscript: link", "[click](vbscript:msgbox(1))"],
  ["data: link", "[click](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD0xPC9zY3JpcHQ+)"],
  ["data: image", "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+)"],
  ["remote image", "![x](https://evil.example/a.png)"],
  ["remote image with title", '![x](https://evil.example/a.png "t")'],
  ["remote reference image", "![x][img]\n\n[img]: https://evil.example/b.png"],
  ["svg onload with script", '<svg onload="window.__pwned=1"><script>window.__pwned=1</script></svg>'],
  ["svg image", '<svg><image href="https://evil.example/i.png"/></svg>'],
  ["iframe", '<iframe src="https://evil.example"></iframe>'],
  ["iframe srcdoc", "<iframe srcdoc=\"<script>parent.__pwned=1</script>\"></iframe>"],
  ["raw anchor", '<a href="https://evil.example">x</a>'],
  ["raw javascript: anchor", '<a href="javascript:window.__pwned=1">x</a>'],
  ["style element", "<style>body{background:url(https://evil.example/s.png)}</style>"],
  ["style attribute", '<div style="background:url(https://evil.example/d.png);position:fixed">x</div>'],
  ["object", '<object data="https://evil.example/o.swf"></object>'],
  ["embed", '<embed src="https://evil.example/e.swf">'],
  ["link stylesheet", '<link rel="stylesheet" href="https://evil.example/s.css">'],
  ["meta refresh", '<meta http-equiv="refresh" content="0;url=javascript:window.__pwned=1">'],
  ["base", '<base href="https://evil.example/">'],
  ["form", '<form action="javascript:window.__pwned=1"><button>go</button></form>'],
  ["details ontoggle", '<details open ontoggle="window.__pwned=1">x</details>'],
  ["video source onerror", '<video><source onerror="window.__pwned=1"></video>'],
  ["mathml mutation", '<math><mtext><table><mglyph><style><img src=x onerror="window.__pwned=1">'],
  ["html comment", '<!-- --><img src=x onerror="window.__pwned=1"><!-- -->'],
  ["html in a table cell", '| a |\n|---|\n| <img src=x onerror="window.__pwned=1"> |'],
  ["html in a list and a quote", '- <script>window.__pwned=1</script>\n\n> <iframe src="https://evil.example">'],
  ["footnote with javascript: link", "Note[^1]\n\n[^1]: [x](javascript:window.__pwned=1)"],
  ["KaTeX \\href javascript:", "$\\href{javascript:window.__pwned=1}{x}$"],
  ["KaTeX \\href web, display", "$$\\href{https://evil.example}{x}$$"],
  ["KaTeX \\url", "\\(\\url{javascript:window.__pwned=1}\\)"],
  ["KaTeX \\includegraphics", "\\[\\includegraphics{https://evil.example/a.png}\\]"],
  ["KaTeX \\htmlStyle", "$\\htmlStyle{background:url(https://evil.example/k.png)}{x}$"],
  ["KaTeX \\htmlData", "$\\htmlData{onload=window.__pwned=1}{y}$"],
  ["KaTeX \\htmlId and \\htmlClass", "$\\htmlId{pwn}{y} + \\htmlClass{evil}{z}$"],
  ["HTML inside math", '$<img src=x onerror="window.__pwned=1">$ and \\(\\text{<script>window.__pwned=1</script>}\\)'],
  ["html code fence", "```html\n<script>window.__pwned=1</script>\n<img src=x onerror=alert(1)>\n```"],
  ["mermaid fence with a click callback", "```mermaid\ngraph TD\nA-->B\nclick A call alert()\n```"],
  ["svg code fence", "```svg\n<svg onload=alert(1)></svg>\n```"],
];

/** Elements that may never appear, whatever their attributes. */
const FORBIDDEN = [
  "script", "iframe", "frame", "frameset", "object", "embed", "applet", "style", "link", "meta",
  "base", "form", "img", "image", "video", "audio", "source", "track", "picture", "portal",
  "foreignobject", "use", "input", "textarea", "select", "details", "dialog", "template",
];
/** Attributes that load something when present. */
const LOADING_ATTRIBUTES = ["src", "srcset", "srcdoc", "data", "poster", "background", "action", "formaction", "xlink:href", "ping"];

function isSafeHref(value: string): boolean {
  return /^https?:\/\//i.test(value) || /^#[\w\-.:]*$/.test(value);
}

/** Everything wrong with one element (not its descendants). Where an element sits decides
 * some rules; for one already removed from the page (seen by the mutation observer) only the
 * rules that need no context apply. */
function problemsOf(el: Element): string[] {
  const problems: string[] = [];
  const placed = el.isConnected;
  const tag = el.localName.toLowerCase();
  if (FORBIDDEN.includes(tag)) problems.push(`<${tag}> element`);
  // KaTeX draws some glyphs with SVG and Streamdown's own buttons have SVG icons.
  if (placed && tag === "svg" && !el.closest(".katex, button[data-streamdown]")) problems.push("<svg> outside KaTeX");
  for (const attr of Array.from(el.attributes)) {
    const name = attr.name.toLowerCase();
    const value = attr.value;
    if (name.startsWith("on")) problems.push(`${name}= on <${tag}>`);
    if (LOADING_ATTRIBUTES.includes(name)) problems.push(`${name}= on <${tag}>`);
    if ((name === "href" || name.endsWith(":href")) && !isSafeHref(value)) problems.push(`href=${value}`);
    if (/^\s*(javascript|data|vbscript):/i.test(value.replace(/[\s\u0000-\u001f]/g, ""))) {
      problems.push(`${name}=${value} on <${tag}>`);
    }
    if (name === "style") {
      // KaTeX positions its glyphs with inline styles and Streamdown sizes its own boxes and
      // colours highlighted code; any other style came from the payload.
      if (placed && !el.closest(".katex, [data-streamdown]")) problems.push(`style on <${tag}>`);
      if (/url\(|expression|javascript|evil|position\s*:\s*fixed/i.test(value)) problems.push(`style=${value}`);
    }
    if (name === "id" && value === "pwn") problems.push("id from the payload");
  }
  return problems;
}

function problemsIn(root: Element): string[] {
  return [root, ...Array.from(root.querySelectorAll("*"))].flatMap(problemsOf);
}

/** Watches the page for anything that would load or run, including elements that exist for
 * a single render while the text streams. */
class Watch {
  created: string[] = [];
  attributes: string[] = [];
  private observer: MutationObserver;
  private seen: string[] = [];
  fetch = vi.fn();
  xhrOpen = vi.fn();
  imageSrc = vi.fn();
  windowOpen = vi.fn();

  constructor() {
    const created = this.created;
    const attributes = this.attributes;
    const createElement = Document.prototype.createElement;
    vi.spyOn(Document.prototype, "createElement").mockImplementation(function (
      this: Document,
      tag: string,
      options?: ElementCreationOptions,
    ) {
      created.push(tag.toLowerCase());
      return createElement.call(this, tag, options);
    });
    const createElementNS = Document.prototype.createElementNS;
    vi.spyOn(Document.prototype, "createElementNS").mockImplementation(function (
      this: Document,
      ns: string | null,
      tag: string,
    ) {
      created.push(tag.toLowerCase());
      return createElementNS.call(this, ns, tag);
    } as typeof Document.prototype.createElementNS);
    const setAttribute = Element.prototype.setAttribute;
    vi.spyOn(Element.prototype, "setAttribute").mockImplementation(function (this: Element, name: string, value: string) {
      attributes.push(`${name}=${value}`);
      setAttribute.call(this, name, value);
    });
    vi.spyOn(HTMLImageElement.prototype, "src", "set").mockImplementation(this.imageSrc);
    vi.spyOn(XMLHttpRequest.prototype, "open").mockImplementation(this.xhrOpen);
    vi.spyOn(window, "open").mockImplementation((...args) => {
      this.windowOpen(...args);
      return null;
    });
    vi.stubGlobal("fetch", this.fetch);
    this.observer = new MutationObserver((records) => this.record(records));
    this.observer.observe(document.body, { subtree: true, childList: true, attributes: true });
  }

  private record(records: MutationRecord[]) {
    for (const r of records) {
      if (r.type === "attributes" && r.target instanceof Element) this.seen.push(...problemsOf(r.target));
      for (const node of Array.from(r.addedNodes)) if (node instanceof Element) this.seen.push(...problemsIn(node));
    }
  }

  /** Everything that went wrong since the watch began. */
  problems(): string[] {
    this.record(this.observer.takeRecords());
    const problems = [...this.seen];
    for (const tag of this.created) if (FORBIDDEN.includes(tag)) problems.push(`created <${tag}>`);
    for (const attr of this.attributes) {
      const [name = ""] = attr.split("=", 1);
      const lower = name.toLowerCase();
      if (lower.startsWith("on") || LOADING_ATTRIBUTES.includes(lower)) problems.push(`setAttribute ${attr}`);
      if ((lower === "href" || lower.endsWith(":href")) && !isSafeHref(attr.slice(name.length + 1))) {
        problems.push(`setAttribute ${attr}`);
      }
    }
    if (this.fetch.mock.calls.length) problems.push("fetch called");
    if (this.xhrOpen.mock.calls.length) problems.push("XMLHttpRequest opened");
    if (this.imageSrc.mock.calls.length) problems.push("an image src was set");
    if (this.windowOpen.mock.calls.length) problems.push("window.open called");
    if (pwned() !== undefined) problems.push("the payload ran");
    return problems;
  }

  stop() {
    this.observer.disconnect();
  }
}

/** Fires what would set off an inline handler or a navigation on every element: a reader
 * clicking and hovering, a picture loading or failing. Buttons are Streamdown's own controls. */
function poke(root: Element) {
  for (const el of [root, ...Array.from(root.querySelectorAll("*"))]) {
    if (el.closest("button")) continue;
    fireEvent.click(el);
    fireEvent.mouseOver(el);
    fireEvent.focus(el);
    fireEvent.load(el);
    fireEvent.error(el);
    fireEvent.animationStart(el);
  }
}

let watch: Watch;

beforeEach(() => {
  unpwn();
  vi.mocked(openLink).mockClear();
  watch = new Watch();
});

afterEach(() => {
  watch.stop();
  vi.unstubAllGlobals();
  unpwn();
});

function expectOnlyWebLinksOpened() {
  for (const [url] of vi.mocked(openLink).mock.calls) expect(url).toMatch(/^https?:\/\//);
}

describe("XSS payloads through the Markdown renderer", () => {
  for (const [name, payload] of PAYLOADS) {
    it(`${name}: nothing runs, nothing loads (finished text)`, () => {
      const { container } = render(<Markdown text={payload} />);
      expect(problemsIn(container)).toEqual([]);
      poke(container);
      expect(watch.problems()).toEqual([]);
      expect(pwned()).toBeUndefined();
      expectOnlyWebLinksOpened();
    });

    it(`${name}: nothing runs, nothing loads (streamed a character at a time)`, () => {
      const { container, rerender } = render(<Markdown text="" streaming />);
      for (let n = 1; n <= payload.length; n += 1) {
        rerender(<Markdown text={payload.slice(0, n)} streaming />);
        const now = problemsIn(container);
        if (now.length) expect.fail(`after ${JSON.stringify(payload.slice(0, n))}: ${now.join(", ")}`);
      }
      poke(container);
      rerender(<Markdown text={payload} />);
      poke(container);
      expect(problemsIn(container)).toEqual([]);
      expect(watch.problems()).toEqual([]);
      expect(pwned()).toBeUndefined();
      expectOnlyWebLinksOpened();
    });
  }

  it("shows HTML tags as the text they are", () => {
    const { container } = render(<Markdown text={'Hi <script>x()</script> <img src=x onerror="y()">'} />);
    expect(container.textContent).toContain("<script>x()</script>");
    expect(container.textContent).toContain('<img src=x onerror="y()">');
  });

  it("keeps the text of a refused link, without the link", () => {
    const { container } = render(<Markdown text="[click me](javascript:window.__pwned=1)" />);
    expect(container.querySelector("a")).toBeNull();
    expect(container.querySelector(".md-link-text")?.textContent).toBe("click me");
  });

  it("shows a refused KaTeX command as its source", () => {
    const { container } = render(<Markdown text="$\href{javascript:window.__pwned=1}{x}$" />);
    expect(container.querySelector(".katex")).toBeNull();
    expect(container.querySelector(".math-source")?.textContent).toBe("$\\href{javascript:window.__pwned=1}{x}$");
  });

  it("opens a web link through the backend, never by navigating", () => {
    const { container } = render(<Markdown text="[site](https://example.org/page)" />);
    const link = container.querySelector("a")!;
    expect(link.getAttribute("href")).toBe("https://example.org/page");
    const click = new MouseEvent("click", { bubbles: true, cancelable: true });
    link.dispatchEvent(click);
    expect(click.defaultPrevented).toBe(true);
    expect(vi.mocked(openLink)).toHaveBeenCalledWith("https://example.org/page");
    expect(watch.problems()).toEqual([]);
  });
});

describe("the XSS harness itself", () => {
  // Without these, a harness that saw nothing would pass every payload above.
  it("notices an inline handler that runs", () => {
    const { container } = render(
      <div dangerouslySetInnerHTML={{ __html: '<span onclick="window.__pwned=1">x</span>' }} />,
    );
    expect(problemsIn(container)).toContain("onclick= on <span>");
    poke(container);
    expect(pwned()).toBe(1);
    expect(watch.problems()).toContain("the payload ran");
  });

  it("notices a remote picture, a bad link and a style", () => {
    const { container } = render(
      <div>
        <img src="https://evil.example/a.png" alt="" />
        <a href="javascript:void 0">x</a>
        <span style={{ background: "url(https://evil.example/b.png)" }}>y</span>
      </div>,
    );
    const problems = watch.problems();
    expect(problems).toContain("created <img>");
    expect(problems.some((p) => p.startsWith("src="))).toBe(true);
    expect(problems.some((p) => p.startsWith("href=javascript:"))).toBe(true);
    expect(problems.some((p) => p.startsWith("style on <span>"))).toBe(true);
    expect(problemsIn(container).length).toBeGreaterThan(0);
  });

  it("notices fetches and requests", () => {
    void fetch("https://evil.example/");
    new XMLHttpRequest().open("GET", "https://evil.example/");
    expect(watch.problems()).toEqual(expect.arrayContaining(["fetch called", "XMLHttpRequest opened"]));
  });
});
