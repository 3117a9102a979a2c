import { useEffect, useState } from "react";
import * as commands from "../ipc/commands";
import { errorText } from "../ipc/errors";
import type { DeviceChoice, DtypeChoice, MeasuredSpeed, QuantChoice } from "../ipc/types";
import { notMeasuredYet, speedLines } from "./measuredSpeed";

/** How fast the chosen folder's model ran on this computer, per precision tried, from its
 * replies in the history; the precision the panel would load is marked. */
export function MeasuredSpeeds({
  dir,
  device,
  dtype,
  quant,
  refresh,
}: {
  dir: string;
  device: DeviceChoice;
  dtype: DtypeChoice;
  quant: QuantChoice;
  /** Changes when a new model is loaded, so the speeds are read again. */
  refresh: unknown;
}) {
  const [speeds, setSpeeds] = useState<MeasuredSpeed[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const folder = dir.trim();

  useEffect(() => {
    let live = true;
    setError(null);
    if (folder === "") {
      setSpeeds(null);
      return;
    }
    commands.measuredSpeeds(folder).then(
      (s) => live && setSpeeds(s),
      (reason: unknown) => live && setError(errorText(reason)),
    );
    return () => {
      live = false;
    };
  }, [folder, refresh]);

  if (error) {
    return (
      <p className="field__error" role="alert">
        {error}
      </p>
    );
  }
  if (speeds === null) return null;
  const lines = speedLines(speeds, device, dtype, quant);
  const missing = notMeasuredYet(lines, quant);
  return (
    <section className="measured-speeds" data-testid="measured-speeds" aria-label="Measured on this computer">
      <h3 className="measured-speeds__title">Measured on this computer</h3>
      {lines.length > 0 && (
        <ul className="measured-speeds__list">
          {lines.map((l) => (
            <li
              key={l.key}
              className={l.chosen ? "measured-speeds__item measured-speeds__item--chosen" : "measured-speeds__item"}
              data-testid="measured-speed"
              data-chosen={l.chosen}
            >
              <span className="measured-speeds__precision">{l.precision}</span>
              <span className="measured-speeds__text">{l.text}</span>
            </li>
          ))}
        </ul>
      )}
      {missing && (
        <p className="field__hint" data-testid="speed-not-measured">
          {missing}
        </p>
      )}
    </section>
  );
}
