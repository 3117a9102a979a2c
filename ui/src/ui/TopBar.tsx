import type { ModelInfo } from "../ipc/types";
import { serverHost } from "../model/serverText";
import type { Theme } from "../theme/theme";

export interface TopBarProps {
  model: ModelInfo | null | undefined;
  modelLoading: boolean;
  /** "Downloading 34%" while a model downloads, so it shows with the model panel closed. */
  downloading: string | null;
  theme: Theme;
  /** Which view the main area shows. */
  view: "chat" | "benchmarks";
  onToggleView: () => void;
  onModel: () => void;
  onSettings: () => void;
  onToggleTheme: () => void;
}

function precision(model: ModelInfo): string {
  return model.quant && model.quant !== "none" ? `${model.dtype} · ${model.quant}` : model.dtype;
}

export function TopBar({
  model,
  modelLoading,
  downloading,
  theme,
  view,
  onToggleView,
  onModel,
  onSettings,
  onToggleTheme,
}: TopBarProps) {
  return (
    <header className="topbar">
      <div className="topbar__model">
        {model ? (
          <>
            <span className="topbar__name" data-testid="topbar-model" title={model.endpoint ?? model.dir}>
              {model.name}
            </span>
            {model.engine === "server" ? (
              <span className="chip" data-testid="topbar-server" title={model.endpoint ?? undefined}>
                server · {serverHost(model.endpoint)}
              </span>
            ) : (
              <>
                <span className="chip">{model.device}</span>
                <span className="chip">{precision(model)}</span>
              </>
            )}
          </>
        ) : (
          <span className="topbar__none">{modelLoading ? "Loading the model…" : model === null ? "No model loaded" : ""}</span>
        )}
      </div>
      <div className="topbar__actions">
        {downloading && (
          <button type="button" className="link-button" data-testid="topbar-download" onClick={onModel}>
            {downloading}
          </button>
        )}
        <button
          type="button"
          className="button"
          data-testid="benchmarks-button"
          aria-pressed={view === "benchmarks"}
          onClick={onToggleView}
        >
          {view === "benchmarks" ? "Chat" : "Benchmarks"}
        </button>
        <button type="button" className="button" data-testid="model-button" onClick={onModel}>
          Model
        </button>
        <button type="button" className="button" data-testid="settings-button" onClick={onSettings}>
          Settings
        </button>
        <button
          type="button"
          className="icon-button"
          data-testid="theme-toggle"
          onClick={onToggleTheme}
          aria-label={theme === "dark" ? "Switch to the light theme" : "Switch to the dark theme"}
          title={theme === "dark" ? "Light theme" : "Dark theme"}
        >
          {theme === "dark" ? (
            <svg viewBox="0 0 24 24" aria-hidden="true">
              <circle cx="12" cy="12" r="4" />
              <path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4" />
            </svg>
          ) : (
            <svg viewBox="0 0 24 24" aria-hidden="true">
              <path d="M20 14.5A8 8 0 1 1 9.5 4a6.5 6.5 0 0 0 10.5 10.5z" />
            </svg>
          )}
        </button>
      </div>
    </header>
  );
}
