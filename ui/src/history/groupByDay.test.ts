import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConversationSummary } from "../ipc/types";
import { dayLabel, groupByDay } from "./groupByDay";

function conv(id: number, updatedAt: Date, pinned = false): ConversationSummary {
  return {
    id,
    title: `c${id}`,
    model_id: "m",
    pinned,
    created_at: updatedAt.getTime(),
    updated_at: updatedAt.getTime(),
    message_count: 2,
    interrupted: false,
  };
}

// Local times, so the test means the same in every time zone.
const NOW = new Date(2025, 4, 14, 9, 30).getTime(); // Wed 14 May 2025, 09:30

describe("dayLabel", () => {
  it("names today and yesterday by local day, not by 24 hours", () => {
    expect(dayLabel(new Date(2025, 4, 14, 0, 0).getTime(), NOW)).toBe("Today");
    expect(dayLabel(new Date(2025, 4, 14, 23, 59).getTime(), NOW)).toBe("Today");
    expect(dayLabel(new Date(2025, 4, 13, 23, 59).getTime(), NOW)).toBe("Yesterday");
    expect(dayLabel(new Date(2025, 4, 13, 0, 1).getTime(), NOW)).toBe("Yesterday");
  });

  it("names older days by date, with the year only for another year", () => {
    const label = dayLabel(new Date(2025, 4, 12, 15, 0).getTime(), NOW);
    expect(label).toMatch(/Mon/);
    expect(label).toMatch(/12/);
    expect(label).toMatch(/May/);
    expect(label).not.toMatch(/2025/);
    expect(dayLabel(new Date(2024, 11, 31, 12, 0).getTime(), NOW)).toMatch(/2024/);
  });

  it("knows yesterday across the turn of a month and a year", () => {
    expect(dayLabel(new Date(2025, 2, 31, 20, 0).getTime(), new Date(2025, 3, 1, 8, 0).getTime())).toBe("Yesterday");
    expect(dayLabel(new Date(2024, 11, 31, 20, 0).getTime(), new Date(2025, 0, 1, 8, 0).getTime())).toBe("Yesterday");
  });
});

describe("dayLabel across a daylight-saving change", () => {
  const saved = process.env.TZ;
  beforeAll(() => {
    process.env.TZ = "Europe/Berlin";
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });

  it("counts a 23-hour day as one day", () => {
    // Clocks went forward on Sunday 30 March 2025 in Berlin.
    const now = new Date(2025, 2, 31, 0, 30).getTime();
    expect(new Date(now).getTimezoneOffset()).toBe(-120);
    expect(dayLabel(new Date(2025, 2, 30, 0, 15).getTime(), now)).toBe("Yesterday");
    expect(dayLabel(new Date(2025, 2, 29, 23, 45).getTime(), now)).not.toBe("Yesterday");
  });
});

describe("groupByDay", () => {
  it("puts pinned conversations first, then one section per day, newest first", () => {
    const groups = groupByDay(
      [
        conv(1, new Date(2025, 4, 12, 10, 0)),
        conv(2, new Date(2025, 4, 14, 8, 0)),
        conv(3, new Date(2025, 4, 13, 18, 0), true),
        conv(4, new Date(2025, 4, 14, 9, 0)),
        conv(5, new Date(2025, 4, 13, 7, 0)),
        conv(6, new Date(2025, 0, 2, 7, 0), true),
      ],
      NOW,
    );
    expect(groups.map((g) => g.label)).toEqual(["Pinned", "Today", "Yesterday", dayLabel(new Date(2025, 4, 12).getTime(), NOW)]);
    expect(groups[3]!.label).toMatch(/12 May/);
    expect(groups.map((g) => g.items.map((c) => c.id))).toEqual([[3, 6], [4, 2], [5], [1]]);
  });

  it("orders conversations updated at the same moment by id, newest first", () => {
    const t = new Date(2025, 4, 14, 8, 0);
    const groups = groupByDay([conv(1, t), conv(3, t), conv(2, t)], NOW);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.items.map((c) => c.id)).toEqual([3, 2, 1]);
  });

  it("has no Pinned section without pinned conversations, and nothing for no conversations", () => {
    expect(groupByDay([], NOW)).toEqual([]);
    expect(groupByDay([conv(1, new Date(NOW))], NOW).map((g) => g.label)).toEqual(["Today"]);
  });

  it("does not reorder the caller's list", () => {
    const list = [conv(1, new Date(2025, 4, 1)), conv(2, new Date(2025, 4, 2))];
    groupByDay(list, NOW);
    expect(list.map((c) => c.id)).toEqual([1, 2]);
  });
});
