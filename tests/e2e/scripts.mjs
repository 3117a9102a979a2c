// The two scripted checkpoints of the end-to-end test: one thinks and answers with math, one
// thinks briefly and then answers forever (for streaming and stop). prepare.mjs writes them.
// Each token of a script can be used once (the model is a bigram table); the wording avoids
// repeats the writer cannot re-spell, such as a second newline after a tag or a repeated digit.

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const ANSWER_MODEL = {
  name: "scripted-answer",
  text:
    "<think>\nThe legs are three and four, so by Pythagoras the square of c equals nine plus sixteen.</think>" +
    "<answer>The hypotenuse is $c = \\sqrt{9+16}=5$.</answer>",
};

export const LOOP_MODEL = {
  name: "scripted-loop",
  text: "<think>\nCount the sides first.</think>The sides counted:",
  loop: " one two three four five six seven eight nine ten,",
};

export const modelDir = (m) => join(root, "target/e2e/models", m.name);
