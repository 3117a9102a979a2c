import { useCallback, useEffect, useRef, useState } from "react";
import { BenchmarksView } from "./benchmarks/BenchmarksView";
import { CaptureOverlay } from "./capture/CaptureOverlay";
import { ChatController } from "./chat/controller";
import { ConversationView } from "./chat/ConversationView";
import { ChatContext, useChatState } from "./chat/useChat";
import { fileToBase64, imageFiles } from "./composer/clipboardImages";
import { Composer } from "./composer/Composer";
import { DropOverlay } from "./composer/DropOverlay";
import { useAttachments } from "./composer/useAttachments";
import { useDragDrop } from "./composer/useDragDrop";
import { Sidebar } from "./history/Sidebar";
import { useHistory } from "./history/useHistory";
import * as commands from "./ipc/commands";
import { errorText } from "./ipc/errors";
import type { AppInfo, CaptureRegion, ScreenCapture } from "./ipc/types";
import { examplePicture, type Example } from "./examples/examples";
import { ModelPanel } from "./model/ModelPanel";
import { loadLastRequest, loadSource } from "./model/lastRequest";
import { downloadingLabel } from "./model/downloadText";
import { useDownloads } from "./model/useDownloads";
import { useModel } from "./model/useModel";
import { loadSettings, saveSettings, toGenerationSettings, type SavedSettings } from "./settings/settings";
import { SettingsPanel } from "./settings/SettingsPanel";
import { useTheme } from "./theme/useTheme";
import { notify } from "./ui/notices";
import { Notices } from "./ui/Notices";
import { TopBar } from "./ui/TopBar";

type Panel = "model" | "settings" | null;

export function App() {
  const history = useHistory();
  const model = useModel();
  const downloads = useDownloads();
  const { theme, toggle: toggleTheme } = useTheme();
  const attachments = useAttachments();
  const { track, showError } = attachments;
  const [settings, setSettings] = useState<SavedSettings>(loadSettings);
  const [panel, setPanel] = useState<Panel>(null);
  const [view, setView] = useState<"chat" | "benchmarks">("chat");
  const [appInfo, setAppInfo] = useState<AppInfo | null>(null);
  const [capture, setCapture] = useState<ScreenCapture | "starting" | null>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const composerRef = useRef<HTMLTextAreaElement>(null);

  // The controller lives as long as the window; it reads settings and the model through refs so
  // a question always goes out with what the panels show at that moment.
  const latest = useRef({ settings, info: model.info, refresh: history.refresh });
  latest.current = { settings, info: model.info, refresh: history.refresh };
  const [controller] = useState(
    () =>
      new ChatController({
        getSettings: () => toGenerationSettings(latest.current.settings, latest.current.info ?? null),
        getTranscribeFirst: () => latest.current.settings.transcribe_first,
        onHistoryChanged: () => latest.current.refresh(),
      }),
  );

  useEffect(() => {
    commands.appInfo().then(setAppInfo, (reason: unknown) => notify(errorText(reason)));
  }, []);

  // Nothing loaded yet: the model panel is where to start. A model used before is loaded again
  // by itself (the panel shows its progress and a Cancel) unless the student turned that off or
  // last chose a server; once it is loaded the panel closes.
  const firstRunShown = useRef(false);
  const [autoLoading, setAutoLoading] = useState(false);
  const { load } = model;
  useEffect(() => {
    if (model.info !== null || firstRunShown.current) return;
    firstRunShown.current = true;
    setPanel("model");
    const last = loadLastRequest();
    if (!settings.load_last_model || last.dir === "" || loadSource() === "server") return;
    setAutoLoading(true);
    void load(last).then((loaded) => {
      setAutoLoading(false);
      if (loaded) setPanel((p) => (p === "model" ? null : p));
    });
  }, [model.info, settings.load_last_model, load]);

  const changeSettings = useCallback((next: SavedSettings) => {
    setSettings(next);
    saveSettings(next);
  }, []);

  const onDrop = useCallback(
    (paths: string[]) => {
      for (const path of paths) void track(commands.attachPicturePath(path));
    },
    [track],
  );
  const dragging = useDragDrop(onDrop);

  // Pasting a picture anywhere in the window attaches it; pasted text is left alone.
  useEffect(() => {
    const onPaste = (event: ClipboardEvent) => {
      const files = imageFiles(event.clipboardData);
      if (files.length === 0) return;
      event.preventDefault();
      for (const file of files) {
        void track(fileToBase64(file).then((data) => commands.attachPictureBytes(data)));
      }
    };
    document.addEventListener("paste", onPaste);
    return () => document.removeEventListener("paste", onPaste);
  }, [track]);

  // An example attaches its picture (as a paste would) and puts its question in the composer,
  // ready to send or to change.
  const [draft, setDraft] = useState<{ id: number; text: string } | null>(null);
  const tryExample = useCallback(
    (example: Example) => {
      void track(examplePicture(example).then((data) => commands.attachPictureBytes(data)));
      setDraft({ id: Date.now(), text: example.question });
      composerRef.current?.focus();
    },
    [track],
  );

  const startCapture = useCallback(() => {
    setCapture("starting");
    commands.captureScreen().then(setCapture, (reason: unknown) => {
      setCapture(null);
      showError(errorText(reason));
    });
  }, [showError]);

  const confirmCapture = useCallback(
    (region: CaptureRegion) => {
      setCapture(null);
      void track(commands.cropCapture(region));
      composerRef.current?.focus();
    },
    [track],
  );

  const cancelCapture = useCallback(() => {
    setCapture((current) => {
      if (current && current !== "starting") {
        commands.cancelCapture(current.capture_id).catch((reason: unknown) => notify(errorText(reason)));
      }
      return null;
    });
  }, []);

  const generating = useChatState(controller, (s) => s.generating);
  const currentId = useChatState(controller, (s) => s.conversationId);

  // Keyboard first: Ctrl+K searches, Esc stops a running answer.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
        event.preventDefault();
        searchRef.current?.focus();
        searchRef.current?.select();
      } else if (event.key === "Escape" && !event.defaultPrevented && generating && panel === null && !capture) {
        event.preventDefault();
        controller.stop().catch((reason: unknown) => notify(errorText(reason)));
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [controller, generating, panel, capture]);

  const send = useCallback(
    (text: string) => controller.send(text, attachments.pictures),
    [controller, attachments.pictures],
  );

  const openConversation = useCallback(
    (id: number) => {
      setView("chat");
      void controller.open(id);
    },
    [controller],
  );

  // A benchmark item opened as a conversation is new history.
  const openFromBenchmark = useCallback(
    (id: number) => {
      history.refresh();
      openConversation(id);
    },
    [history, openConversation],
  );

  const newConversation = useCallback(() => {
    setView("chat");
    controller.newConversation();
    composerRef.current?.focus();
  }, [controller]);

  const onDeleted = useCallback(
    (id: number) => {
      if (controller.getSnapshot().conversationId === id) controller.newConversation();
    },
    [controller],
  );

  return (
    <ChatContext.Provider value={controller}>
    <div className="app">
      <Sidebar
        ref={searchRef}
        history={history}
        currentId={currentId}
        unavailable={appInfo?.history_error ?? null}
        onOpen={openConversation}
        onNew={newConversation}
        onDeleted={onDeleted}
      />
      <main className="main">
        <TopBar
          model={model.info}
          modelLoading={model.loadingSince !== null}
          downloading={downloadingLabel(downloads.states)}
          theme={theme}
          view={view}
          onToggleView={() => setView((v) => (v === "chat" ? "benchmarks" : "chat"))}
          onModel={() => setPanel("model")}
          onSettings={() => setPanel("settings")}
          onToggleTheme={toggleTheme}
        />
        {view === "benchmarks" ? (
          <BenchmarksView engineReady={Boolean(model.info)} onOpenConversation={openFromBenchmark} />
        ) : (
          <>
            <ConversationView
              onTryExample={tryExample}
              onChooseModel={model.info === null && model.loadingSince === null ? () => setPanel("model") : undefined}
            />
            <Composer
              ref={composerRef}
              draft={draft}
              attachments={attachments}
              generating={generating}
              capturing={capture !== null}
              onSend={send}
              onCapture={startCapture}
              maxPixels={settings.max_pixels}
              onOpenSettings={() => setPanel("settings")}
              transcribeFirst={settings.transcribe_first}
              onTranscribeFirstChange={(on) => changeSettings({ ...settings, transcribe_first: on })}
            />
          </>
        )}
      </main>
      {panel === "model" && (
        <ModelPanel
          model={model}
          downloads={downloads}
          autoLoading={autoLoading && model.loadingSince !== null}
          onClose={() => setPanel(null)}
        />
      )}
      {panel === "settings" && (
        <SettingsPanel
          settings={settings}
          model={model.info}
          appInfo={appInfo}
          onChange={changeSettings}
          onClose={() => setPanel(null)}
        />
      )}
      {capture && capture !== "starting" && (
        <CaptureOverlay capture={capture} onConfirm={confirmCapture} onCancel={cancelCapture} />
      )}
      {dragging && <DropOverlay />}
      <Notices />
    </div>
    </ChatContext.Provider>
  );
}
