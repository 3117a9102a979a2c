// The folders the student added for the model panel to look for models in, besides the Hugging
// Face cache. Kept in this window's storage, in the order they were added.

const KEY = "onevision.model-folders.v1";

export function parseFolders(raw: string | null): string[] {
  if (!raw) return [];
  try {
    const data: unknown = JSON.parse(raw);
    if (!Array.isArray(data)) return [];
    const folders = data.filter((d): d is string => typeof d === "string" && d.trim() !== "");
    return [...new Set(folders)];
  } catch {
    return [];
  }
}

export function loadFolders(): string[] {
  try {
    return parseFolders(localStorage.getItem(KEY));
  } catch {
    return [];
  }
}

export function saveFolders(folders: readonly string[]) {
  try {
    localStorage.setItem(KEY, JSON.stringify(folders));
  } catch {
    // Not remembered next time; the list still applies until the window closes.
  }
}

/** `folders` with `dir` added at the end, unless it is already there. */
export function withFolder(folders: readonly string[], dir: string): string[] {
  const d = dir.trim();
  return d === "" || folders.includes(d) ? [...folders] : [...folders, d];
}
