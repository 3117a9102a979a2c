// The answer stream may carry the `<answer>` wrapper the RL models are asked for; it is markup
// for the extractor, not something to show.
const ANSWER_TAG = /<\/?answer\s*>/gi;
const TAGS = ["<answer>", "</answer>"];

/** The answer text without `<answer>`/`</answer>`, including a tag cut off at the end of a
 * stream that is still growing. */
export function stripAnswerTags(text: string, streaming = false): string {
  let out = text.replace(ANSWER_TAG, "");
  if (streaming) {
    const lt = out.lastIndexOf("<");
    if (lt !== -1 && lt >= out.length - 9) {
      const tail = out.slice(lt).toLowerCase();
      if (TAGS.some((tag) => tag.startsWith(tail))) out = out.slice(0, lt);
    }
  }
  return out.replace(/^\s*\n/, "").trimEnd();
}

/** How the final answer is given to the Markdown renderer: bare TeX (the inside of a
 * `\boxed{}`) is wrapped in dollars so it is typeset; prose and already-delimited math pass. */
export function finalAnswerMarkdown(finalAnswer: string): string {
  const text = finalAnswer.trim();
  if (text === "" || text.includes("\n")) return text;
  if (/\$|\\\(|\\\[|\\begin\{/.test(text)) return text;
  const looksLikeTex = /\\[A-Za-z]+|[\^_{}]/.test(text);
  const looksLikeProse = /[A-Za-z]{2,}\s+[A-Za-z]{2,}\s+[A-Za-z]{2,}/.test(text.replace(/\\[A-Za-z]+/g, ""));
  return looksLikeTex && !looksLikeProse ? `$${text}$` : text;
}
