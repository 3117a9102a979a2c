// A benchmark reply as the model wrote it, split for reading: the thinking (folded away) and the
// rest. The tags themselves are not shown.

export function splitReply(reply: string): { think: string; answer: string } {
  const open = reply.indexOf("<think>");
  const close = reply.lastIndexOf("</think>");
  let think = "";
  let rest = reply;
  if (close >= 0) {
    think = reply.slice(open >= 0 && open < close ? open + "<think>".length : 0, close);
    rest = reply.slice(close + "</think>".length);
  } else if (open >= 0) {
    think = reply.slice(open + "<think>".length);
    rest = reply.slice(0, open);
  }
  const answer = rest.replace(/<\/?answer>/g, "").trim();
  return { think: think.trim(), answer };
}
