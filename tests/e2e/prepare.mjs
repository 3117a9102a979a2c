// Writes the scripted checkpoints the end-to-end test loads, with the engine's example program as
// `cargo test --workspace` built it (building it alone would compile the dependencies again with
// another feature set).
import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { ANSWER_MODEL, LOOP_MODEL, TRANSCRIBE_MODEL, modelDir } from "./scripts.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const tokenizerFrom = join(root, "tests/parity/fixtures/real_tokenizer_chat/model");
const writer = join(root, "target/debug/examples/scripted_model");

for (const m of [ANSWER_MODEL, LOOP_MODEL, TRANSCRIBE_MODEL]) {
  const args = ["--tokenizer-from", tokenizerFrom, "--out", modelDir(m)];
  for (const script of m.scripts ?? [m]) {
    if (script.afterTranscriptionRequest) args.push("--after-transcription-request");
    if (script.after) args.push("--after", script.after);
    args.push("--text", script.text);
  }
  if (m.loop) args.push("--loop", m.loop);
  execFileSync(writer, args, { cwd: root, stdio: "inherit" });
}
