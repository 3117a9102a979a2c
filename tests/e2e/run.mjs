// End-to-end test of the real desktop app: starts Xvfb (unless a display is given), a stand-in
// for the Hugging Face hub, tauri-driver and the debug build of OneVision Desk with a fresh data
// folder and an empty Hugging Face cache, then drives it like a student: load a folder that is
// not a model, download a model from the panel (stopped halfway and resumed), load it, paste a
// picture, ask, watch thinking and answer stream, stop a long answer with Esc, reopen a
// conversation from the history, switch to a server (`onevision serve`) and ask it, … and at
// the end have the picture read first, correct the reading and solve from it. Screenshots go to
// tests/e2e/artifacts/. The models are tiny scripted checkpoints written by the engine's
// `scripted_model` example (see scripts.mjs), run by the real engine.
//
//   node run.mjs            (make e2e builds everything first)

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { remote } from "webdriverio";

import { startFakeHub } from "./fakeHub.mjs";
import { ANSWER_MODEL, LOOP_MODEL, TRANSCRIBE_MODEL, modelDir } from "./scripts.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const app = process.env.ONEVISION_DESK_BIN ?? join(root, "target/debug/onevision-desk");
const artifacts = join(here, "artifacts");
const dataDir = join(root, "target/e2e/data");
const hfHome = join(root, "target/e2e/hf");
// The webview's own storage (the panel's remembered folder and settings) starts empty each run.
const xdgDir = join(root, "target/e2e/xdg");
const driverBin = process.env.TAURI_DRIVER ?? "tauri-driver";
const WAIT = 60_000;

rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });
rmSync(hfHome, { recursive: true, force: true });
rmSync(xdgDir, { recursive: true, force: true });

const children = [];
// The app's log lines (through tauri-driver), kept to read the prompts the engine rendered.
const appLog = [];
function start(cmd, args, env, { keepLog = false } = {}) {
  const output = keepLog ? "pipe" : "inherit";
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", output, output] });
  if (keepLog) {
    for (const [stream, echo] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
      stream.on("data", (chunk) => echo.write(chunk));
      createInterface({ input: stream }).on("line", (line) => appLog.push(line));
    }
  }
  children.push(child);
  return child;
}
/** The prompts the engine rendered so far, oldest first, as logged (newlines escaped). */
const renderedPrompts = () => appLog.filter((line) => line.includes("rendered prompt"));
function cleanup() {
  for (const c of children.reverse()) {
    if (c.exitCode === null) c.kill("SIGTERM");
  }
}
process.on("exit", cleanup);

// The answering model, offered as the catalog's Qwen2.5-VL-3B-Instruct.
const HUB_REPO = "Qwen/Qwen2.5-VL-3B-Instruct";
const HUB_COMMIT = "e2e0000000000000000000000000000000000001";
const hub = await startFakeHub({ repo: HUB_REPO, dir: modelDir(ANSWER_MODEL), commit: HUB_COMMIT });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForPort(port, ms) {
  const net = await import("node:net");
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise((res) => {
      const s = net.connect(port, "127.0.0.1", () => { s.end(); res(true); });
      s.on("error", () => res(false));
    });
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`nothing listens on port ${port} after ${ms} ms`);
}

const cli = process.env.ONEVISION_BIN ?? join(root, "target/debug/onevision");
/** `onevision serve` on a free port; resolves with its address once it listens. */
function startServer(model, key) {
  const child = spawn(cli, ["serve", "--model", model, "--port", "0", "--api-key", key], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolveUrl, reject) => {
    child.once("exit", (code) => reject(new Error(`onevision serve exited with ${code}`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) resolveUrl({ url: m[1] });
      else reject(new Error(`unexpected first line from onevision serve: ${line}`));
    });
  });
}

let display = process.env.DISPLAY;
if (!display || process.env.E2E_OWN_XVFB === "1") {
  display = ":87";
  start("Xvfb", [display, "-screen", "0", "1400x900x24", "-nolisten", "tcp"], {});
  await sleep(1000);
}
start(driverBin, ["--port", "4444", "--native-driver", "/usr/bin/WebKitWebDriver"], {
  DISPLAY: display,
  ONEVISION_DESK_DATA_DIR: dataDir,
  // The window's software rendering under Xvfb; compositing needs a GPU.
  WEBKIT_DISABLE_COMPOSITING_MODE: "1",
  // The engine's rendered prompts too, for step 15 to read.
  RUST_LOG: "info,sqlx=warn,onevision_engine::prompt=debug",
  NO_COLOR: "1",
  // Downloads go to the stand-in hub and into an empty cache; no token of this machine is used.
  XDG_DATA_HOME: join(xdgDir, "data"),
  XDG_CACHE_HOME: join(xdgDir, "cache"),
  HF_ENDPOINT: hub.endpoint,
  HF_HOME: hfHome,
  HF_HUB_CACHE: "",
  HUGGINGFACE_HUB_CACHE: "",
  HF_TOKEN: "",
  HUGGING_FACE_HUB_TOKEN: "",
}, { keepLog: true });
await waitForPort(4444, 20_000);

/** A WebDriver session, which starts the app. */
const startApp = () =>
  remote({
    hostname: "127.0.0.1",
    port: 4444,
    logLevel: "warn",
    capabilities: {
      browserName: "wry",
      "wdio:enforceWebDriverClassic": true,
      "tauri:options": { application: app },
    },
  });
let browser = await startApp();

const byId = (id) => browser.$(`[data-testid="${id}"]`);
// Screenshots of the X display, as the student sees the window. WebKitWebDriver's own screenshot
// command never answers once a generation has been stopped (seen with WebKitGTK 2.50 under Xvfb),
// while the page itself keeps answering.
const shot = async (name) => {
  // A dialog still fading in would be caught half-transparent: let finite animations and
  // transitions end first (a spinner's endless one is not waited for).
  await browser
    .waitUntil(
      () =>
        browser.execute(() =>
          document.getAnimations().every((a) => a.playState !== "running" || a.effect?.getComputedTiming().endTime === Infinity),
        ),
      { timeout: 3000 },
    )
    .catch(() => {
      // Taken anyway: a screenshot is for looking at, not an assertion.
    });
  execFileSync("import", ["-display", display, "-window", "root", join(artifacts, `${name}.png`)]);
};
const lastTurn = async () => {
  const turns = await browser.$$('[data-testid="assistant-turn"]');
  assert.ok(turns.length > 0, "no assistant turn on screen");
  return turns[turns.length - 1];
};
async function waitText(el, pred, what) {
  await browser.waitUntil(async () => pred(await el.getText()), { timeout: WAIT, timeoutMsg: what });
}
/** Pastes a PNG into the composer, the clipboard path a student uses with Ctrl+V. */
async function pastePicture(b64png) {
  await browser.execute((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const file = new File([bytes], "right-triangle.png", { type: "image/png" });
    const dt = new DataTransfer();
    dt.items.add(file);
    const target = document.querySelector('[data-testid="composer-input"]');
    target.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  }, b64png);
  await (await byId("attachment-thumb")).waitForDisplayed({ timeout: WAIT });
}
async function loadModel(dir) {
  if (!(await (await byId("model-panel")).isDisplayed().catch(() => false))) {
    await (await byId("model-button")).click();
  }
  // The panel opens on the tab last used; a folder is loaded from "This computer".
  const local = await byId("engine-local");
  await local.waitForDisplayed({ timeout: WAIT });
  await local.click();
  const input = await byId("model-dir-input");
  await input.waitForDisplayed({ timeout: WAIT });
  await input.clearValue();
  await input.setValue(dir);
  await (await byId("model-load-button")).click();
}

let failed = false;
try {
  // 1. First run: the model panel is there; a folder that is not a model gets a sentence.
  await (await byId("model-panel")).waitForDisplayed({ timeout: WAIT });
  // The panel lists the catalog with what this machine can run of each model.
  await browser.waitUntil(async () => (await browser.$$('[data-testid="found-model"]')).length === 5, {
    timeout: WAIT,
    timeoutMsg: "the model panel does not list the five catalog models",
  });
  // One model is recommended for this machine (which one depends on its memory), first in the
  // list, with its size and download time (issue 19's first run).
  const recommended = await browser.$$('[data-testid="found-model"]:has([data-testid="recommended"])');
  assert.equal(recommended.length, 1, "not exactly one model is recommended");
  const listedFirst = (await browser.$$('[data-testid="found-model"]'))[0];
  assert.equal(await listedFirst.getAttribute("data-id"), await recommended[0].getAttribute("data-id"));
  assert.match(
    await (await byId("recommended-download")).getProperty("textContent"),
    /GB to download: about \d+(\.\d)? (min|h) on a typical 50 Mbit\/s line\./,
  );
  const offer = await browser.$('[data-testid="found-model"][data-id="r1-onevision-7b"]');
  assert.match(await offer.getProperty("textContent"), /R1-Onevision-7B.*(GB|choose|runs|needs)/is);
  await shot("01-first-run");
  await loadModel("/nonexistent/model-folder");
  const err = await byId("model-error");
  await err.waitForDisplayed({ timeout: WAIT });
  assert.match(await err.getText(), /\/nonexistent\/model-folder/);
  // Closed, the panel leaves an empty conversation that says what to do next, and reopens from it.
  await browser.keys(["Escape"]);
  const noModel = await byId("empty-no-model");
  await noModel.waitForDisplayed({ timeout: WAIT });
  assert.match(await noModel.getText(), /No model answers yet/);
  await shot("01b-no-model");
  await (await noModel.$("button=Choose a model")).click();
  await (await byId("model-panel")).waitForDisplayed({ timeout: WAIT });

  // 2. Download the answering model from the panel: stop it partway, resume it (only the rest is
  //    asked for), then "Use" fills the folder and "Load" loads it under its repository's name.
  const offer3b = await browser.$('[data-testid="found-model"][data-id="qwen2.5-vl-3b"]');
  await (await offer3b.$('[data-testid="download-button"]')).click();
  const stop = await offer3b.$('[data-testid="download-stop"]');
  await stop.waitForDisplayed({ timeout: WAIT });
  const progressText = await offer3b.$('[data-testid="download-text"]');
  // The stand-in hub sends the first quarter of the weights at once, then trickles.
  await waitText(progressText, (t) => / of .*B\/s.*\.safetensors/.test(t), "no progress on the weights shown");
  const bar = await offer3b.$('[role="progressbar"]');
  await browser.waitUntil(async () => Number(await bar.getAttribute("aria-valuenow")) >= 20, {
    timeout: WAIT,
    timeoutMsg: "the progress bar did not move",
  });
  const shown = Number(await bar.getAttribute("aria-valuenow"));
  assert.ok(shown < 100, `progress bar at ${shown}% while the weights trickle in`);
  console.log(`e2e: downloading, ${shown}%: ${await progressText.getText()}`);
  // The top bar says so too, for when the panel is closed.
  assert.match(await (await byId("topbar-download")).getProperty("textContent"), /^Downloading \d+%$/);
  await shot("02-downloading");
  await stop.click();
  await browser.waitUntil(async () => (await offer3b.getAttribute("data-download")) === "stopped", {
    timeout: WAIT,
    timeoutMsg: "the download did not stop",
  });
  const resume = await offer3b.$('[data-testid="download-button"]');
  assert.equal(await resume.getText(), "Resume download");
  await resume.click();
  await browser.waitUntil(async () => (await offer3b.getAttribute("data-download")) === "done", {
    timeout: WAIT,
    timeoutMsg: "the resumed download did not finish",
  });
  const weights = hub.requests.filter((r) => r.file?.endsWith(".safetensors"));
  assert.equal(weights.length, 2, `weights asked for ${JSON.stringify(weights)}`);
  assert.equal(weights[0].start, 0);
  assert.ok(weights[1].start > 0, "the resumed download asked for the weights from the start again");
  const use = await offer3b.$("button=Use");
  await use.waitForDisplayed({ timeout: WAIT });
  await use.click();
  const dirInput = await byId("model-dir-input");
  assert.match(await dirInput.getValue(), /models--Qwen--Qwen2\.5-VL-3B-Instruct\/snapshots\/e2e0+1$/);
  // The advised quantisation depends on this machine's free memory; the scripted model is tiny.
  await (await byId("model-quant-select")).selectByAttribute("value", "none");
  await shot("03-downloaded");
  await (await byId("model-load-button")).click();
  const status = await byId("model-status");
  await waitText(status, (t) => t.includes("Qwen2.5-VL-3B-Instruct") && /cpu/i.test(t), "the downloaded model never loaded");
  await shot("04-model-loaded");
  if (await (await byId("model-panel")).isDisplayed().catch(() => false)) {
    await browser.keys(["Escape"]);
  }

  // 3. Paste a picture into the composer (the clipboard path a student uses with Ctrl+V).
  const png = readFileSync(join(here, "fixtures/right-triangle.png")).toString("base64");
  const input = await byId("composer-input");
  await input.click();
  await pastePicture(png);

  // Transcribe-first is on by default for a question with a picture; these steps ask directly,
  // so it is switched off here (and step 15 finds it remembered after a restart).
  const transcribeSwitch = await byId("transcribe-first-switch");
  await transcribeSwitch.waitForDisplayed({ timeout: WAIT });
  assert.equal(await transcribeSwitch.isSelected(), true, "transcribe-first is not on by default");
  await transcribeSwitch.click();
  assert.equal(await transcribeSwitch.isSelected(), false);

  // 4. Ask; thinking then the answer come in; the turn completes with typeset math.
  await input.setValue("How long is the hypotenuse?");
  await browser.keys(["Enter"]);
  let turn = await lastTurn();
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "complete", {
    timeout: WAIT,
    timeoutMsg: "the answer never completed",
  });
  const header = await turn.$('[data-testid="thinking-header"]');
  // textContent: WebKitWebDriver's visible-text atom skips the label's ellipsis box.
  assert.match(await header.getProperty("textContent"), /Thought for (under a second|\d+ s) · \d+ tokens/);
  const answer = await turn.$('[data-testid="answer"]');
  assert.match(await answer.getText(), /hypotenuse is/);
  assert.ok(await answer.$(".katex").isExisting(), "the answer's math is not typeset");
  assert.ok(!(await answer.$(".katex-error").isExisting()), "KaTeX reported an error");
  // A bare \boxed{5} (no dollars round it) is typeset in the answer and in the final-answer
  // box, never shown as TeX (issue 21, point 1).
  // (KaTeX keeps each formula's source in hidden MathML, which is left out here.)
  const shownText = (el) =>
    browser.execute((node) => {
      const copy = node.cloneNode(true);
      for (const m of copy.querySelectorAll(".katex-mathml")) m.remove();
      return copy.textContent;
    }, el);
  assert.doesNotMatch(await shownText(answer), /\\boxed/);
  const final = await turn.$('[data-testid="final-answer"]');
  assert.match(await final.getText(), /5/);
  assert.doesNotMatch(await shownText(final), /\\boxed/);
  assert.match(await (await turn.$('[data-testid="turn-stats"]')).getText(), /tokens\/s · first token in \d+ ms/);
  await header.click();
  await waitText(await turn.$('[data-testid="thinking-body"]'), (t) => t.includes("Pythagoras"), "thinking did not open");
  await shot("05-answered");

  // 5. A new conversation on the looping model: thinking folds, the answer keeps streaming
  //    (its text grows while we watch), Esc stops it and the turn says so.
  await (await byId("history-new")).click();
  await loadModel(modelDir(LOOP_MODEL));
  await waitText(status, (t) => t.includes(LOOP_MODEL.name), "loop model never loaded");
  if (await (await byId("model-panel")).isDisplayed().catch(() => false)) {
    await browser.keys(["Escape"]);
  }
  const input2 = await byId("composer-input");
  // The question shows as typed: no italics read into 2*3*4 (issue 21, point 2).
  await input2.setValue("Count the sides, please: is 2*3*4 = 24?");
  await (await byId("send-button")).click();
  turn = await lastTurn();
  const asked = (await browser.$$('[data-testid="user-turn"]')).at(-1);
  assert.match(await asked.getText(), /is 2\*3\*4 = 24\?/);
  assert.ok(!(await asked.$("em").isExisting()), "the question was read as Markdown");
  const answer2 = await turn.$('[data-testid="answer"]');
  await waitText(answer2, (t) => t.length > 40, "the answer never started streaming");
  const before = (await answer2.getText()).length;
  await sleep(700);
  const after = (await answer2.getText()).length;
  assert.ok(after > before, `the answer did not grow while streaming (${before} -> ${after})`);
  assert.equal(await turn.getAttribute("data-status"), "streaming");
  assert.ok(await (await byId("stop-button")).isDisplayed(), "no stop button while streaming");
  // While the answer streams, the folded thinking says how much was thought (issue 21, point 6).
  const streamingHeader = await (await turn.$('[data-testid="thinking-header"]')).getProperty("textContent");
  assert.match(streamingHeader, /^Thought for (under a second|\d+ s) · \d+ (words|tokens)$/);
  await shot("06-streaming");
  await browser.keys(["Escape"]);
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "stopped", {
    timeout: WAIT,
    timeoutMsg: "Esc did not stop the generation",
  });
  const stoppedLength = (await answer2.getText()).length;
  await sleep(500);
  assert.equal((await answer2.getText()).length, stoppedLength, "text kept coming after stop");
  await shot("07-stopped");

  // 6. Both conversations are in the history; reopening the first shows it as it was.
  const items = await browser.$$('[data-testid="history-item"]');
  assert.equal(items.length, 2, "the history should list both conversations");
  // A DOM click on the row's open button: WebDriver clicks an element's centre, and hovering a row
  // shows its Pin/Rename buttons over the right half of it.
  const open = await items[items.length - 1].$(".history-item__open");
  await browser.execute((el) => el.click(), open);
  turn = await lastTurn();
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "complete", {
    timeout: WAIT,
    timeoutMsg: "the reopened conversation does not show its completed answer",
  });
  assert.match(await (await turn.$('[data-testid="final-answer"]')).getText(), /5/);
  assert.ok(await (await browser.$('[data-testid="user-turn"] img')).isExisting(), "the reopened question lost its picture");
  await shot("08-reopened");

  // 7. A server answers instead: `onevision serve` (the project's own, as a classroom would run
  //    vLLM) with the answering model and a key. The panel's "A server" tests the connection,
  //    lists the model and switches to it; the top bar says a server answers; a question with a
  //    picture streams thinking and answer from it and is kept in the history.
  const server = await startServer(modelDir(ANSWER_MODEL), "e2e-class-key");
  await (await byId("history-new")).click();
  await (await byId("model-button")).click();
  await (await byId("engine-server")).click();
  const address = await byId("server-address");
  await address.waitForDisplayed({ timeout: WAIT });
  await address.setValue(server.url);
  await (await byId("server-key")).setValue("wrong-key");
  await (await byId("server-test")).click();
  const serverError = await byId("server-error");
  await serverError.waitForDisplayed({ timeout: WAIT });
  assert.match(await serverError.getText(), /answered 401: the API key is wrong/);
  await (await byId("server-key")).clearValue();
  await (await byId("server-key")).setValue("e2e-class-key");
  await (await byId("server-test")).click();
  const check = await byId("server-check");
  await check.waitForDisplayed({ timeout: WAIT });
  assert.match(await check.getText(), /\(onevision serve\) answered in .* with 1 model/);
  assert.match(await check.getText(), /scripted-answer · reads pictures/);
  await shot("09-server-checked");
  await (await byId("server-use")).click();
  const serverChip = await byId("topbar-server");
  await serverChip.waitForDisplayed({ timeout: WAIT });
  assert.match(await serverChip.getProperty("textContent"), /^server · 127\.0\.0\.1:\d+$/);
  await waitText(status, (t) => t.includes("a server at 127.0.0.1"), "the panel does not say a server answers");
  await browser.keys(["Escape"]);
  const input3 = await byId("composer-input");
  await input3.click();
  await pastePicture(png);
  await input3.setValue("And through the server?");
  await browser.keys(["Enter"]);
  turn = await lastTurn();
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "complete", {
    timeout: WAIT,
    timeoutMsg: "the server's answer never completed",
  });
  assert.match(await (await turn.$('[data-testid="answer"]')).getText(), /hypotenuse is/);
  assert.match(await (await turn.$('[data-testid="final-answer"]')).getText(), /5/);
  const serverHeader = await turn.$('[data-testid="thinking-header"]');
  assert.match(await serverHeader.getProperty("textContent"), /Thought for (under a second|\d+ s)/);
  assert.equal((await browser.$$('[data-testid="history-item"]')).length, 3, "the server's conversation is not in the history");
  await shot("10-server-answered");

  // 8. Benchmarks: the fixture benchmark through the server in use. A file that is not there
  //    gets a sentence; the first 6 items run (every reply is the scripted one, whose final
  //    value 5 is right only for item 1), the table by stage and subject shows, an item opens
  //    with its picture and reasoning, and continues as a conversation in the history.
  await (await byId("benchmarks-button")).click();
  const benchPath = await byId("bench-path");
  await benchPath.waitForDisplayed({ timeout: WAIT });
  await benchPath.setValue("/nonexistent/bench.tsv");
  await (await byId("bench-start")).click();
  const benchError = await byId("bench-error");
  await benchError.waitForDisplayed({ timeout: WAIT });
  assert.match(await benchError.getText(), /\/nonexistent\/bench\.tsv/);
  await benchPath.clearValue();
  await benchPath.setValue(join(root, "tests/eval/fixtures/bench.tsv"));
  await (await byId("bench-limit")).setValue("6");
  await (await byId("bench-start")).click();
  const overall = await byId("bench-overall");
  await overall.waitForDisplayed({ timeout: WAIT });
  assert.match(await overall.getText(), /16\.7 % \(1 of 6 correct\)/);
  const benchTable = await byId("bench-table");
  assert.match(await benchTable.getText(), /junior high school/);
  assert.equal((await browser.$$('[data-testid^="bench-row-"]')).length, 6, "the run does not list its 6 items");
  await shot("11-benchmark-run");
  await (await byId("bench-row-1")).click();
  const itemPanel = await byId("bench-item-panel");
  await itemPanel.waitForDisplayed({ timeout: WAIT });
  assert.match(await (await byId("bench-item-verdict")).getText(), /Reference 5 · found .*5.* · correct/);
  assert.ok(await (await itemPanel.$("img")).isExisting(), "the item's picture is not shown");
  await shot("12-benchmark-item");
  await (await byId("bench-open-item")).click();
  await browser.waitUntil(async () => (await browser.$$('[data-testid="assistant-turn"]')).length > 0, {
    timeout: WAIT,
    timeoutMsg: "the benchmark item did not open as a conversation",
  });
  turn = await lastTurn();
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "complete", {
    timeout: WAIT,
    timeoutMsg: "the benchmark item did not open as a conversation",
  });
  assert.match(await (await turn.$('[data-testid="final-answer"]')).getText(), /5/);
  await browser.waitUntil(async () => (await browser.$$('[data-testid="history-item"]')).length === 4, {
    timeout: WAIT,
    timeoutMsg: "the opened benchmark item is not in the history",
  });
  await shot("13-benchmark-item-opened");

  // 9. A second, shorter run is kept beside the first; the two are compared by stage.
  await (await byId("benchmarks-button")).click();
  await (await byId("bench-path")).waitForDisplayed({ timeout: WAIT });
  await (await byId("bench-path")).setValue(join(root, "tests/eval/fixtures/bench.tsv"));
  await (await byId("bench-limit")).setValue("3");
  await (await byId("bench-start")).click();
  await browser.waitUntil(async () => /1 of 3 correct/.test(await (await byId("bench-overall")).getText().catch(() => "")), {
    timeout: WAIT,
    timeoutMsg: "the second run did not finish with 1 of 3 correct",
  });
  assert.ok(await (await byId("bench-chart")).isDisplayed(), "the run's chart is not shown");
  const runs = await browser.$$('[data-testid^="bench-run-"]');
  assert.equal(runs.length, 2, "both runs are listed");
  const first = await browser.$$('[data-testid^="bench-compare-"]');
  await first[1].click();
  const comparison = await byId("bench-comparison");
  await comparison.waitForDisplayed({ timeout: WAIT });
  assert.match(await comparison.getText(), /all\s*33\.3 %\s*16\.7 %\s*−16\.7/);
  await shot("14-benchmarks-compared");

  // 10. Search snippets read as text, without the reply's markup (issue 21, point 4).
  await (await byId("history-search")).setValue("hypotenuse");
  await browser.waitUntil(async () => (await browser.$$(".hit__snippet")).length > 0, {
    timeout: WAIT,
    timeoutMsg: "searching the history found nothing",
  });
  const snippets = [];
  for (const el of await browser.$$(".hit__snippet")) snippets.push(await el.getProperty("textContent"));
  assert.ok(snippets.some((t) => /hypotenuse/i.test(t)), `no snippet names the word: ${JSON.stringify(snippets)}`);
  for (const t of snippets) assert.doesNotMatch(t, /<\/?(think|answer)>|\*\*|\$|\\/, `a snippet shows markup: ${t}`);
  await shot("15-search-snippets");
  await (await byId("history-search")).click();
  await browser.keys(["Control", "a"]);
  await browser.keys(["Backspace"]);

  // 11. The app is killed while an answer streams. On the next start the last model loads by
  //     itself (the panel shows it, then closes), the conversation is marked interrupted in the
  //     sidebar, and its reply keeps what was known: its text, tokens and thinking time
  //     (issue 21, points 3 and 5).
  await (await byId("history-new")).click();
  await loadModel(modelDir(LOOP_MODEL));
  await waitText(status, (t) => t.includes(LOOP_MODEL.name), "loop model never loaded again");
  if (await (await byId("model-panel")).isDisplayed().catch(() => false)) {
    await browser.keys(["Escape"]);
  }
  const input4 = await byId("composer-input");
  await input4.setValue("Keep counting until the app stops");
  await browser.keys(["Enter"]);
  turn = await lastTurn();
  await waitText(await turn.$('[data-testid="answer"]'), (t) => t.length > 120, "the answer never streamed before the kill");
  // The writer flushes text and progress a few times a second; the window's storage too.
  await sleep(2000);
  execFileSync("pkill", ["-KILL", "-f", `^${app}`]);
  await browser.deleteSession().catch(() => {});
  browser = await startApp();
  const topModel = await byId("topbar-model");
  await topModel.waitForDisplayed({ timeout: WAIT });
  // textContent: the name sits in an ellipsis box, which the visible-text atom skips.
  await browser.waitUntil(async () => (await topModel.getProperty("textContent")).includes(LOOP_MODEL.name), {
    timeout: WAIT,
    timeoutMsg: "the last model was not loaded by itself",
  });
  await browser.waitUntil(async () => !(await (await byId("model-panel")).isDisplayed().catch(() => false)), {
    timeout: WAIT,
    timeoutMsg: "the model panel stayed open after the last model loaded by itself",
  });
  const marked = await browser.$$('[data-testid="history-interrupted"]');
  assert.equal(marked.length, 1, "exactly the killed conversation is marked interrupted");
  const killedRow = await browser.$('[data-testid="history-item"]:has([data-testid="history-interrupted"]) .history-item__open');
  await browser.execute((el) => el.click(), killedRow);
  turn = await lastTurn();
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "interrupted", {
    timeout: WAIT,
    timeoutMsg: "the killed reply is not shown as interrupted",
  });
  assert.ok((await (await turn.$('[data-testid="answer"]')).getText()).length > 120, "the killed reply lost its text");
  const keptHeader = await (await turn.$('[data-testid="thinking-header"]')).getProperty("textContent");
  assert.match(keptHeader, /^Thought for (under a second|\d+ s) · \d+ tokens$/, "the killed reply lost its stats");
  await shot("16-interrupted-reopened");

  // 12. The window at its default size and at small laptop sizes, light and dark: the answered
  //     conversation, and the model dialog with its Load button inside the dialog and the
  //     window (issue 21, point 3).
  const answered = (await browser.$$('[data-testid="history-item"] .history-item__open')).at(-1);
  await browser.execute((el) => el.click(), answered);
  turn = await lastTurn();
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "complete", {
    timeout: WAIT,
    timeoutMsg: "the answered conversation did not reopen",
  });
  for (const [w, h] of [[1200, 820], [1366, 768], [1024, 700]]) {
    await browser.setWindowSize(w, h);
    for (const theme of ["light", "dark"]) {
      if ((await browser.execute(() => document.documentElement.dataset.theme)) !== theme) {
        await (await byId("theme-toggle")).click();
      }
      await browser.waitUntil(
        async () => (await browser.execute(() => [window.innerWidth, document.documentElement.dataset.theme])).join() === `${w},${theme}`,
        { timeout: WAIT, timeoutMsg: `the window did not become ${w} wide in the ${theme} theme` },
      );
      await sleep(300);
      await shot(`17-chat-${w}x${h}-${theme}`);
      await (await byId("model-button")).click();
      const loadButton = await byId("model-load-button");
      await loadButton.waitForDisplayed({ timeout: WAIT });
      const fit = await browser.execute(() => {
        const b = document.querySelector('[data-testid="model-load-button"]').getBoundingClientRect();
        const d = document.querySelector('[data-testid="model-panel"]').getBoundingClientRect();
        return { button: b.bottom, dialog: d.bottom, window: window.innerHeight };
      });
      assert.ok(
        fit.button <= fit.dialog + 0.5 && fit.button <= fit.window,
        `at ${w}x${h} the Load button's bottom (${fit.button}) is below the dialog (${fit.dialog}) or the window (${fit.window})`,
      );
      await shot(`18-model-${w}x${h}-${theme}`);
      await browser.keys(["Escape"]);
      await browser.waitUntil(async () => !(await (await byId("model-panel")).isDisplayed().catch(() => false)), {
        timeout: WAIT,
        timeoutMsg: "Escape did not close the model dialog",
      });
    }
  }

  // 13. A new conversation offers the sample problems ("Try an example"): one attaches its
  //     picture and puts its question in the composer, ready to send; the answering model
  //     answers it (issue 19's first run).
  await browser.setWindowSize(1200, 820);
  if ((await browser.execute(() => document.documentElement.dataset.theme)) !== "light") {
    await (await byId("theme-toggle")).click();
  }
  await (await byId("history-new")).click();
  await loadModel(modelDir(ANSWER_MODEL));
  await browser.waitUntil(async () => (await (await byId("topbar-model")).getProperty("textContent")).includes(ANSWER_MODEL.name), {
    timeout: WAIT,
    timeoutMsg: "the answering model did not load for the example",
  });
  if (await (await byId("model-panel")).isDisplayed().catch(() => false)) {
    await browser.keys(["Escape"]);
  }
  const examples = await browser.$$('[data-testid="example"]');
  assert.equal(examples.length, 6, "the empty conversation does not offer the six examples");
  await shot("19-examples");
  const parabola = await browser.$('[data-testid="example"][data-id="parabola"]');
  await parabola.click();
  await (await byId("attachment-thumb")).waitForDisplayed({ timeout: WAIT });
  const composer = await byId("composer-input");
  await browser.waitUntil(async () => /parabola cross the x-axis/.test(await composer.getValue()), {
    timeout: WAIT,
    timeoutMsg: "the example's question is not in the composer",
  });
  await (await byId("send-button")).click();
  turn = await lastTurn();
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "complete", {
    timeout: WAIT,
    timeoutMsg: "the example was not answered",
  });
  assert.ok(await (await browser.$('[data-testid="user-turn"] img')).isExisting(), "the example's picture was not sent");
  assert.match(await (await turn.$('[data-testid="final-answer"]')).getText(), /5/);
  await shot("20-example-answered");

  // The model panel gives the speed this computer measured from the answers just given, for the
  // precision it would load; the downloaded copy of step 2 (not in use) is removed from there,
  // after a question, and the catalog offers its download again (issue 18).
  await (await byId("model-button")).click();
  const speed = await byId("measured-speed");
  await speed.waitForDisplayed({ timeout: WAIT });
  assert.equal(await speed.getAttribute("data-chosen"), "true", "the measured speed is not the chosen precision's");
  assert.match(
    await speed.getProperty("textContent"),
    /^CPU · f32 · full weights[\d.]+ tokens\/s writing, [\d.]+ tokens\/s reading the question \(median of \d+ answers?\)$/,
  );
  await browser.execute((el) => el.scrollIntoView({ block: "center" }), speed);
  await shot("20b-measured-speed");
  const copy3b = await browser.$('[data-testid="found-model"][data-id="qwen2.5-vl-3b"]');
  await (await copy3b.$('[data-testid="remove-model"]')).click();
  assert.match(await (await copy3b.$('[data-testid="remove-model-question"]')).getText(), /^Delete Qwen2\.5-VL-3B-Instruct \(\d+ MB\)/);
  await shot("20c-remove-model-asks");
  await (await copy3b.$('[data-testid="remove-model-confirm"]')).click();
  const removedNote = await byId("model-removed");
  await removedNote.waitForDisplayed({ timeout: WAIT });
  assert.match(await removedNote.getText(), /^Removed Qwen2\.5-VL-3B-Instruct: \d+ MB freed\.$/);
  await browser.waitUntil(
    async () => (await (await browser.$('[data-testid="found-model"][data-id="qwen2.5-vl-3b"] [data-testid="download-button"]')).isExisting()),
    { timeout: WAIT, timeoutMsg: "the removed copy is still offered for use" },
  );
  await shot("20d-model-removed");
  await browser.keys(["Escape"]);

  // 14. What the model sees (issue 17): a large worksheet photo is shown shrunk, with its exact
  //     size and token count and a warning that small print may be lost; a crop too small to
  //     read is refused with a sentence and nothing is lost; cropping one problem sends that
  //     part, which keeps its detail.
  await (await byId("history-new")).click();
  await browser.execute(() => {
    const canvas = document.createElement("canvas");
    canvas.width = 3200;
    canvas.height = 2400;
    const g = canvas.getContext("2d");
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, 3200, 2400);
    g.fillStyle = "#111111";
    g.font = "28px sans-serif";
    for (let i = 0; i < 12; i++) g.fillText(`Problem ${i + 1}: solve 3x + ${i} = ${2 * i + 9} for x.`, 120, 180 + i * 180);
    const b64 = canvas.toDataURL("image/png").split(",")[1];
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], "worksheet.png", { type: "image/png" }));
    const target = document.querySelector('[data-testid="composer-input"]');
    target.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  await (await byId("attachment-thumb")).waitForDisplayed({ timeout: WAIT });
  await (await byId("attachment-warning")).waitForExist({ timeout: WAIT, timeoutMsg: "a 3200x2400 picture at 1 MP detail has no warning" });
  await (await byId("attachment-open")).click();
  const summary = await byId("picture-summary");
  await summary.waitForDisplayed({ timeout: WAIT });
  const said = await summary.getText();
  const sizes = said.replace(/,(?=\d{3})/g, "").match(/(\d+) × (\d+) pixels, (\d+) picture tokens\. Your picture is (\d+) × (\d+)/);
  assert.ok(sizes, `the picture summary says: ${said}`);
  const [seenW, seenH, tokens, fullW, fullH] = sizes.slice(1).map(Number);
  assert.deepEqual([fullW, fullH], [3200, 2400]);
  assert.ok(seenW % 28 === 0 && seenH % 28 === 0 && seenW * seenH <= 1003520, `the model is shown ${seenW}x${seenH}`);
  assert.equal(tokens, (seenW / 28) * (seenH / 28));
  assert.match(said, /^The model is shown exactly this/);
  assert.match(await (await byId("picture-warning")).getText(), /at 3\d % of its width, so small print may be lost/);
  await shot("21-what-the-model-sees");
  const stage = await byId("picture-stage");
  const stageBox = () =>
    browser.execute(() => {
      const r = document.querySelector('[data-testid="picture-stage"]').getBoundingClientRect();
      return { x: r.left, y: r.top, w: r.width, h: r.height };
    });
  // Measured before each drag, in case the centred dialog has changed height.
  let box = await stageBox();
  const drag = async (x0, y0, x1, y1) => {
    box = await stageBox();
    await browser
      .action("pointer")
      .move({ origin: "viewport", x: Math.round(box.x + x0), y: Math.round(box.y + y0) })
      .down()
      .move({ origin: "viewport", x: Math.round(box.x + x1), y: Math.round(box.y + y1), duration: 100 })
      .up()
      .perform();
  };
  assert.ok(await stage.isDisplayed());
  // About 4 shown pixels: some 20 of the picture's, less than one 28-pixel picture token.
  await drag(40, 40, 44, 44);
  await (await byId("crop-button")).click();
  const cropError = await byId("crop-error");
  await cropError.waitForDisplayed({ timeout: WAIT });
  assert.match(await cropError.getText(), /too small to read/);
  // One problem: the top-left part of the sheet, about 40 % by 25 %.
  box = await stageBox();
  await drag(0, 0, box.w * 0.4, box.h * 0.25);
  assert.match(await (await byId("crop-size")).getText(), /\d+ × \d+ px of the picture/);
  await shot("22-crop-selected");
  await (await byId("crop-button")).click();
  await browser.waitUntil(async () => !(await (await byId("picture-dialog")).isExisting()), {
    timeout: WAIT,
    timeoutMsg: "the picture dialog did not close after cropping",
  });
  assert.equal((await browser.$$('[data-testid="attachment-thumb"]')).length, 1, "the crop did not replace the picture");
  await browser.waitUntil(async () => !(await (await byId("attachment-warning")).isExisting()), {
    timeout: WAIT,
    timeoutMsg: "the cropped problem still warns that small print may be lost",
  });
  await (await byId("attachment-open")).click();
  await (await byId("picture-summary")).waitForDisplayed({ timeout: WAIT });
  const cropped = (await (await byId("picture-summary")).getText()).replace(/,(?=\d{3})/g, "").match(/Your picture is (\d+) × (\d+)/);
  assert.ok(cropped && Math.abs(Number(cropped[1]) - 1280) <= 20 && Math.abs(Number(cropped[2]) - 600) <= 20, `the crop is ${cropped}`);
  await browser.keys(["Escape"]);
  await (await byId("composer-input")).setValue("Solve problem 1.");
  await (await byId("send-button")).click();
  turn = await lastTurn();
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "complete", {
    timeout: WAIT,
    timeoutMsg: "the cropped problem was not answered",
  });
  const sent = await browser.$$('[data-testid="user-turn"] img');
  assert.ok(sent.length > 0, "the cropped picture was not sent");
  await shot("23-cropped-problem-answered");

  // 15. Read the picture first (issue 17): the switch, turned off in step 3, is still off after
  //     the restart; on, the model's reading streams into a card (kind, typeset math) and the
  //     question waits; the student corrects the reading (an absurd one is refused in the card,
  //     nothing lost) and solves; the second pass's rendered prompt holds the correction and not
  //     the model's misreading; reopened, the conversation shows the corrected reading.
  await (await byId("history-new")).click();
  await loadModel(modelDir(TRANSCRIBE_MODEL));
  await browser.waitUntil(async () => (await (await byId("topbar-model")).getProperty("textContent")).includes(TRANSCRIBE_MODEL.name), {
    timeout: WAIT,
    timeoutMsg: "the transcribing model did not load",
  });
  if (await (await byId("model-panel")).isDisplayed().catch(() => false)) {
    await browser.keys(["Escape"]);
  }
  await (await byId("composer-input")).click();
  await pastePicture(png);
  const readFirst = await byId("transcribe-first-switch");
  assert.equal(await readFirst.isSelected(), false, "the switch turned off in step 3 was not remembered");
  await readFirst.click();
  assert.equal(await readFirst.isSelected(), true);
  await (await byId("composer-input")).setValue("What is AC?");
  await shot("24-read-the-picture-first");
  const promptsBefore = renderedPrompts().length;
  await (await byId("send-button")).click();
  const reading = await lastTurn();
  await browser.waitUntil(async () => (await reading.getAttribute("data-status")) === "complete", {
    timeout: WAIT,
    timeoutMsg: "the reading never completed",
  });
  assert.equal(await (await reading.$('[data-testid="transcription-label"]')).getProperty("textContent"), "What the picture shows, as the model read it");
  assert.equal(await (await reading.$('[data-testid="transcription-kind"]')).getText(), "Geometry figure");
  const readingText = await reading.$('[data-testid="answer"]');
  assert.equal((await readingText.$$(".katex")).length, 4, "the reading's math is not typeset");
  assert.ok(!(await readingText.$(".katex-error").isExisting()), "KaTeX reported an error in the reading");
  assert.ok(!(await reading.$('[data-testid="final-answer"]').isExisting()), "a reading is not a final answer");
  const firstPass = renderedPrompts().slice(promptsBefore);
  assert.equal(firstPass.length, 1, "not one prompt for the first pass");
  assert.match(firstPass[0], /<\|vision_start\|>.*write down exactly what this picture shows/);
  assert.doesNotMatch(firstPass[0], /What is AC\?/, "the first pass already asked the question");
  await (await byId("solve-button")).waitForDisplayed({ timeout: WAIT });
  await shot("25-transcription-read");

  // The model's reading is right here; the student "corrects" two lengths, to prove it is their
  // text the answer starts from.
  await (await byId("reading-edit")).click();
  const editor = await byId("reading-editor");
  await editor.waitForDisplayed({ timeout: WAIT });
  assert.equal(await editor.getValue(), TRANSCRIBE_MODEL.scripts[0].text);
  const typeInto = (text) =>
    browser.execute((t) => {
      const el = document.querySelector('[data-testid="reading-editor"]');
      Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, "value").set.call(el, t);
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }, text);
  const turnsBefore = (await browser.$$('[data-testid="assistant-turn"]')).length;
  await typeInto("AB = 3. ".repeat(3000));
  await (await byId("reading-solve")).click();
  const readingError = await byId("reading-error");
  await readingError.waitForDisplayed({ timeout: WAIT });
  assert.match(await readingError.getText(), /^the transcription is 23999 characters long, more than the 20000/);
  assert.equal((await (await byId("reading-editor")).getValue()).length, 24000, "the refused text was not kept in the card");
  assert.equal((await browser.$$('[data-testid="assistant-turn"]')).length, turnsBefore, "a refused reading left a turn behind");
  const corrected = TRANSCRIBE_MODEL.scripts[0].text.replace("$AB = 3$, $BC = 4$", "$AB = 6$, $BC = 8$");
  await typeInto(corrected);
  await shot("26-transcription-corrected");
  await (await byId("reading-solve")).click();
  turn = await lastTurn();
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "complete" && turnsBefore + 1 === (await browser.$$('[data-testid="assistant-turn"]')).length, {
    timeout: WAIT,
    timeoutMsg: "the answer from the corrected reading never completed",
  });
  assert.match(await (await turn.$('[data-testid="final-answer"]')).getText(), /By Pythagoras/);
  const readingAgain = (await browser.$$('[data-testid="assistant-turn"]')).at(-2);
  assert.equal(await (await readingAgain.$('[data-testid="transcription-label"]')).getProperty("textContent"), "What the picture shows, as corrected by you");
  const secondPass = renderedPrompts().slice(promptsBefore + 1);
  assert.equal(secondPass.length, 1, "not one prompt for the second pass");
  assert.ok(secondPass[0].includes("$AB = 6$, $BC = 8$"), `the correction is not in the second pass: ${secondPass[0]}`);
  assert.ok(!secondPass[0].includes("$AB = 3$"), "the model's misreading is still in the second pass");
  assert.match(secondPass[0], /write down exactly what this picture shows.*Kind: geometry.*trust the transcription.*What is AC\?/);
  // The second pass continues the first (so the engine reuses its cache and vision output).
  const promptOf = (line) => line.slice(line.indexOf('prompt="'));
  assert.ok(promptOf(secondPass[0]).startsWith(promptOf(firstPass[0]).slice(0, -1)), "the second pass does not continue the first");
  await shot("27-solved-from-the-correction");

  // Reopened from the history: the corrected reading, then its answer; the reading can be
  // edited again (which would replace the answer).
  await (await byId("history-new")).click();
  const rows = await browser.$$('[data-testid="history-item"]');
  let row = null;
  for (const r of rows) if ((await r.getProperty("textContent")).includes("What is AC?")) row = r;
  assert.ok(row, "the conversation is not in the history");
  await browser.execute((el) => el.click(), await row.$(".history-item__open"));
  await browser.waitUntil(async () => (await browser.$$('[data-testid="assistant-turn"]')).length === 2, {
    timeout: WAIT,
    timeoutMsg: "the conversation with a reading did not reopen",
  });
  const [savedReading, savedAnswer] = await browser.$$('[data-testid="assistant-turn"]');
  assert.equal(await (await savedReading.$('[data-testid="transcription-label"]')).getProperty("textContent"), "What the picture shows, as corrected by you");
  assert.ok(await savedReading.$('[data-testid="reading-edit"]').isExisting(), "the reopened reading cannot be edited");
  assert.ok(!(await savedReading.$('[data-testid="solve-button"]').isExisting()), "an answered reading asks to be solved");
  assert.match(await (await savedAnswer.$('[data-testid="final-answer"]')).getText(), /By Pythagoras/);
  await shot("28-reading-reopened");
  // Regenerating the answer answers from the same (corrected) reading again.
  await (await savedAnswer.$('[data-testid="regenerate-button"]')).click();
  await browser.waitUntil(async () => renderedPrompts().length === promptsBefore + 3, {
    timeout: WAIT,
    timeoutMsg: "regenerating the answer rendered no prompt",
  });
  assert.equal(promptOf(renderedPrompts().at(-1)), promptOf(secondPass[0]), "the regenerated answer was not asked from the same reading");
  turn = await lastTurn();
  await browser.waitUntil(async () => (await turn.getAttribute("data-status")) === "complete", {
    timeout: WAIT,
    timeoutMsg: "the regenerated answer never completed",
  });
  assert.equal((await browser.$$('[data-testid="assistant-turn"]')).length, 2, "regenerating added a turn instead of replacing the answer");
  console.log("e2e: all steps passed; screenshots in tests/e2e/artifacts/");
} catch (e) {
  failed = true;
  console.error("e2e failed:", e);
  await shot("failure").catch(() => {});
} finally {
  await browser.deleteSession().catch(() => {});
  hub.close();
  cleanup();
}
process.exit(failed ? 1 : 0);
