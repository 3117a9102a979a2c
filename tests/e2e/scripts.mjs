// The scripted checkpoints of the end-to-end test: one thinks and answers with math, one thinks
// briefly and then answers forever (for streaming and stop), one reads a picture and then answers
// from the reading (transcribe-first). prepare.mjs writes them.
// The model predicts each token from the six before it, so any token may repeat as long as no
// six tokens in a row are followed once by one token and once by another (the writer says so).

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const ANSWER_MODEL = {
  name: "scripted-answer",
  text:
    "<think>\nThe legs are 3 and 4, so by Pythagoras $c^2 = 3^2 + 4^2 = 9 + 16 = 25$.\n" +
    "The area is $\\frac{1}{2} \\cdot 3 \\cdot 4 = 6$, a check for later.</think>" +
    "<answer>The hypotenuse is $c = \\sqrt{9+16} = 5$.\n\n\\boxed{5}</answer>",
};

export const LOOP_MODEL = {
  name: "scripted-loop",
  text: "<think>\nCount the sides first.</think>The sides counted:",
  loop: " one two three four five six seven eight nine ten,",
};

// Transcribe-first's two passes: a reading of the picture after the transcription request (with
// math to typeset), and an answer after the question "What is AC?" (scripts keyed by `after`).
export const TRANSCRIBE_MODEL = {
  name: "scripted-transcribe",
  scripts: [
    {
      afterTranscriptionRequest: true,
      text: "Kind: geometry\n- Right triangle $ABC$ with $\\angle B = 90^\\circ$.\n- $AB = 3$, $BC = 4$.",
    },
    { after: "What is AC?", text: "<think>\nUse the legs in the reading.</think><answer>By Pythagoras, $AC = 5$.</answer>" },
  ],
};

export const modelDir = (m) => join(root, "target/e2e/models", m.name);
