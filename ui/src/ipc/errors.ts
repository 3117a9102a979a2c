/** Commands reject with one plain sentence; anything else (a thrown Error outside Tauri, say)
 * is reduced to a sentence too, so every failure can be shown where it happened. */
export function errorText(reason: unknown): string {
  if (typeof reason === "string" && reason.trim() !== "") return reason;
  if (reason instanceof Error && reason.message) return reason.message;
  if (reason && typeof reason === "object" && "message" in reason) {
    const message = (reason as { message: unknown }).message;
    if (typeof message === "string" && message) return message;
  }
  return "Something went wrong, and the app was given no reason.";
}
