// The one Markdown renderer for model output (thinking, answer, final answer) and user text.
// It is the security boundary of the app: no raw HTML, no remote loads, web links only.
import { memo, useMemo, type MouseEvent, type ReactNode } from "react";
import rehypeSanitize, { defaultSchema, type Options as SanitizeSchema } from "rehype-sanitize";
import remarkMath from "remark-math";
import {
  Streamdown,
  defaultRemarkPlugins,
  type Components,
  type ControlsConfig,
  type ExtraProps,
} from "streamdown";
import type { PluggableList } from "unified";
import { openLink } from "../ipc/commands";
import { errorText } from "../ipc/errors";
import { notify } from "../ui/notices";
import { normalizeMath, questionMarkdown } from "./math";
import rehypeTex from "./rehypeTex";
import { safeUrlTransform, webUrl } from "./urls";

const schema: SanitizeSchema = {
  ...defaultSchema,
  protocols: { ...defaultSchema.protocols, href: ["http", "https"], src: [] },
  attributes: {
    ...defaultSchema.attributes,
    code: [["className", /^language-./, "math-inline", "math-display"], "metastring"],
  },
};

// Built once: Streamdown memoises finished blocks by these arrays' identity, which is what keeps
// a long streaming answer cheap to re-render.
const remarkPlugins: PluggableList = [
  ...Object.values(defaultRemarkPlugins),
  [remarkMath, { singleDollarTextMath: true }],
];
// No rehype-raw here: without it Streamdown turns every HTML tag in the Markdown into text.
const rehypePlugins: PluggableList = [[rehypeSanitize, schema], rehypeTex];
const remarkRehypeOptions = { allowDangerousHtml: false };
const controls: ControlsConfig = {
  code: { copy: true, download: false },
  table: false,
  mermaid: false,
  image: false,
};
const linkSafety = { enabled: false };
const remendOptions = { katex: false, inlineKatex: false, linkMode: "text-only" as const };

function onWebLinkClick(event: MouseEvent<HTMLAnchorElement>, url: string) {
  event.preventDefault();
  openLink(url).catch((reason: unknown) => notify(errorText(reason)));
}

type AnchorProps = { href?: string; children?: ReactNode } & ExtraProps;
type ImageProps = { alt?: string } & ExtraProps;

function Anchor({ href, children }: AnchorProps) {
  const url = href ? webUrl(href) : null;
  if (url) {
    return (
      <a href={url} title={url} rel="noreferrer noopener" onClick={(e) => onWebLinkClick(e, url)}>
        {children}
      </a>
    );
  }
  if (href && href.startsWith("#")) return <a href={href}>{children}</a>;
  return <span className="md-link-text">{children}</span>;
}

/** Pictures named in model output are never fetched: the reader sees what they would show. */
function ImageAlt({ alt }: ImageProps) {
  return <span className="md-image-alt">[image{alt ? `: ${alt}` : ""}]</span>;
}

const components: Components = {
  a: Anchor as Components["a"],
  img: ImageAlt as Components["img"],
};

export interface MarkdownProps {
  text: string;
  /** While true, half-written Markdown is completed for display and blocks are memoised. */
  streaming?: boolean;
  className?: string;
  /** Text a person typed: shown as typed, only its math typeset (no Markdown read into it). */
  literal?: boolean;
  /** Inline math in display style (full-size fractions), as the final answer shows it. */
  displayMath?: boolean;
}

export const Markdown = memo(function Markdown({
  text,
  streaming = false,
  className,
  literal = false,
  displayMath = false,
}: MarkdownProps) {
  const source = useMemo(
    () => (literal ? questionMarkdown(text) : normalizeMath(text, { inlineDisplay: displayMath })),
    [text, literal, displayMath],
  );
  return (
    <Streamdown
      className={className ? `markdown ${className}` : "markdown"}
      mode={streaming ? "streaming" : "static"}
      isAnimating={streaming}
      parseIncompleteMarkdown={streaming}
      remend={remendOptions}
      remarkPlugins={remarkPlugins}
      rehypePlugins={rehypePlugins}
      remarkRehypeOptions={remarkRehypeOptions}
      urlTransform={safeUrlTransform}
      components={components}
      controls={controls}
      linkSafety={linkSafety}
      lineNumbers={false}
    >
      {source}
    </Streamdown>
  );
});
