// Transcribe-first's reading as the card shows it: the `Kind: …` line the model is asked to
// start with becomes a label, the rest is the reading. The engine reads the same line when it
// answers (onevision_engine::transcribe); this only decides how the card looks.

const KIND_LABELS: Record<string, string> = {
  equation: "Equation",
  formula: "Equation",
  chart: "Chart or table",
  table: "Chart or table",
  graph: "Chart or table",
  plot: "Chart or table",
  circuit: "Circuit",
  geometry: "Geometry figure",
  figure: "Geometry figure",
  diagram: "Geometry figure",
  chemistry: "Chemical structure",
  molecule: "Chemical structure",
  structure: "Chemical structure",
  text: "Text",
};

export interface ReadingParts {
  /** What the model says the picture is, as a label; null when it did not say. */
  kind: string | null;
  body: string;
}

/** Splits a reading into its kind and its text. */
export function readingParts(reading: string): ReadingParts {
  const trimmed = reading.trim();
  const newline = trimmed.indexOf("\n");
  const first = newline === -1 ? trimmed : trimmed.slice(0, newline);
  const match = /^[#\s*]*kind\**\s*[:：]\s*(.+)$/i.exec(first.trim());
  if (!match?.[1]) return { kind: null, body: trimmed };
  const word = match[1].replace(/[*.`]/g, "").trim().toLowerCase();
  const label = KIND_LABELS[word] ?? KIND_LABELS[word.replace(/s$/, "")] ?? word.charAt(0).toUpperCase() + word.slice(1);
  return { kind: label, body: newline === -1 ? "" : trimmed.slice(newline + 1).trim() };
}
