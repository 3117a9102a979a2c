import { useCallback, useEffect, useState } from "react";
import { applyTheme, rememberTheme, savedTheme, systemTheme, type Theme } from "./theme";

/** The theme in force: the system's until the user toggles, then theirs from then on. */
export function useTheme(): { theme: Theme; toggle: () => void } {
  const [chosen, setChosen] = useState<Theme | null>(savedTheme);
  const [system, setSystem] = useState<Theme>(systemTheme);
  const theme = chosen ?? system;

  useEffect(() => {
    if (typeof matchMedia !== "function") return;
    const query = matchMedia("(prefers-color-scheme: dark)");
    const onChange = () => setSystem(query.matches ? "dark" : "light");
    query.addEventListener?.("change", onChange);
    return () => query.removeEventListener?.("change", onChange);
  }, []);

  useEffect(() => applyTheme(theme), [theme]);

  const toggle = useCallback(() => {
    const next: Theme = theme === "dark" ? "light" : "dark";
    rememberTheme(next);
    setChosen(next);
  }, [theme]);

  return { theme, toggle };
}
