// Short messages for actions that have no place of their own on screen (a link the system
// refused to open, an export that was saved): shown in one corner, gone after a while.
export interface Notice {
  id: number;
  text: string;
  tone: "info" | "error";
}

type Listener = (notices: readonly Notice[]) => void;

let notices: readonly Notice[] = [];
let nextId = 1;
const listeners = new Set<Listener>();
const LIFETIME_MS = 6000;

function publish() {
  for (const listener of listeners) listener(notices);
}

export function dismiss(id: number) {
  notices = notices.filter((n) => n.id !== id);
  publish();
}

export function notify(text: string, tone: Notice["tone"] = "error") {
  const id = nextId++;
  notices = [...notices.slice(-3), { id, text, tone }];
  publish();
  setTimeout(() => dismiss(id), LIFETIME_MS);
}

export function subscribeNotices(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function currentNotices(): readonly Notice[] {
  return notices;
}
