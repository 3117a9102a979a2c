import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "katex/dist/katex.min.css";
import "./styles/app.css";
import { App } from "./App";
import { windowPainted } from "./ipc/commands";

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
  // Two frames later the first one has been painted: the start-up time ends there.
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      windowPainted().catch(() => {
        // Only a log line is lost.
      });
    }),
  );
}
