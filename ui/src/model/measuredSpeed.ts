// The model panel's measured speeds in words: per precision the student tried, how fast the
// model wrote and read here, and whether that is the precision chosen in the panel now.
import type { DeviceChoice, DtypeChoice, MeasuredSpeed, QuantChoice } from "../ipc/types";
import { formatRate } from "../stream/format";

export interface SpeedLine {
  key: string;
  /** "CPU · f32 · Q4K". */
  precision: string;
  /** "3.7 tokens/s writing, 10.5 tokens/s reading the question (12 answers)". */
  text: string;
  /** The panel's device, precision and quantisation would load this one. */
  chosen: boolean;
}

const QUANT_LABELS: Record<string, string> = { none: "full weights", q8_0: "Q8_0", q4k: "Q4K" };

export function quantLabel(quant: string): string {
  return QUANT_LABELS[quant] ?? quant;
}

function deviceLabel(device: string): string {
  return device === "cpu" ? "CPU" : device === "cuda" ? "NVIDIA GPU" : device === "metal" ? "Apple GPU" : device;
}

/** Whether the panel's choices load `s`: "auto" stands for whatever the engine picked. */
export function isChosen(s: MeasuredSpeed, device: DeviceChoice, dtype: DtypeChoice, quant: QuantChoice): boolean {
  return (
    s.quant === quant && (device === "auto" || s.device === device) && (dtype === "auto" || s.dtype === dtype)
  );
}

export function speedLines(
  speeds: readonly MeasuredSpeed[],
  device: DeviceChoice,
  dtype: DtypeChoice,
  quant: QuantChoice,
): SpeedLine[] {
  return speeds.map((s) => {
    const reading = s.prefill_tok_s === null ? "" : `, ${formatRate(s.prefill_tok_s)} reading the question`;
    const answers = `${s.replies} answer${s.replies === 1 ? "" : "s"}`;
    return {
      key: `${s.device}/${s.dtype}/${s.quant}`,
      precision: `${deviceLabel(s.device)} · ${s.dtype} · ${quantLabel(s.quant)}`,
      text: `${formatRate(s.decode_tok_s)} writing${reading} (median of ${answers})`,
      chosen: isChosen(s, device, dtype, quant),
    };
  });
}

/** A sentence for when the chosen precision has no measurement yet; null when it has one. */
export function notMeasuredYet(lines: readonly SpeedLine[], quant: QuantChoice): string | null {
  if (lines.some((l) => l.chosen)) return null;
  const tried = lines.length === 0 ? "this model" : `this model with ${quantLabel(quant)}`;
  return `No speed measured yet for ${tried} on this computer: it appears here after a few answers of 16 tokens or more.`;
}
