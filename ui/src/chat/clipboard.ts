// Copying needs no permission in the webview: the Clipboard API is allowed on a user gesture.
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    await navigator.clipboard.writeText(text);
    return;
  }
  throw new Error("Copying is not available in this window.");
}
