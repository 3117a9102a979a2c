// Model output is untrusted: a link may only point at the web (opened by the backend in the
// system browser) or at a footnote on the same page, and nothing is ever loaded from a URL.

/** The URL as a web address to open, or null when it is anything else (javascript:, data:,
 * file:, a relative path…). */
export function webUrl(raw: string): string | null {
  const trimmed = raw.trim();
  if (!/^https?:\/\//i.test(trimmed)) return null;
  try {
    const url = new URL(trimmed);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function isFragment(raw: string): boolean {
  return /^#[\w\-.:]*$/.test(raw.trim());
}

/** Streamdown's `urlTransform`: keeps web links and in-page footnote anchors, drops every other
 * URL (the element then renders as text), and drops every image source so nothing is fetched. */
export function safeUrlTransform(url: string, key: string): string | null {
  if (key === "href") return webUrl(url) ?? (isFragment(url) ? url.trim() : null);
  return null;
}
