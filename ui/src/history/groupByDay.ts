// The history list's sections: pinned conversations first, then one section per local day,
// newest first, named "Today", "Yesterday" or by date.
import type { ConversationSummary } from "../ipc/types";

export interface HistoryGroup {
  label: string;
  items: ConversationSummary[];
}

function dayStart(ms: number): number {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

export function dayLabel(ms: number, now: number): string {
  const day = dayStart(ms);
  const today = dayStart(now);
  if (day === today) return "Today";
  const yesterday = new Date(today);
  yesterday.setDate(yesterday.getDate() - 1);
  if (day === yesterday.getTime()) return "Yesterday";
  const date = new Date(ms);
  const sameYear = date.getFullYear() === new Date(now).getFullYear();
  return date.toLocaleDateString("en-GB", {
    weekday: "short",
    day: "numeric",
    month: "short",
    ...(sameYear ? {} : { year: "numeric" }),
  });
}

export function groupByDay(conversations: readonly ConversationSummary[], now: number): HistoryGroup[] {
  const newestFirst = [...conversations].sort((a, b) => b.updated_at - a.updated_at || b.id - a.id);
  const pinned = newestFirst.filter((c) => c.pinned);
  const days: HistoryGroup[] = [];
  for (const conversation of newestFirst) {
    if (conversation.pinned) continue;
    const label = dayLabel(conversation.updated_at, now);
    const last = days[days.length - 1];
    if (last && last.label === label) last.items.push(conversation);
    else days.push({ label, items: [conversation] });
  }
  return pinned.length > 0 ? [{ label: "Pinned", items: pinned }, ...days] : days;
}
