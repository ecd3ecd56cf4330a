// Markdown of model answers: markdown-it (CommonMark + GFM tables and strikethrough),
// highlight.js for code blocks, and DOMPurify as the last word on what reaches the page.
//
// The guarantees (asserted by the end-to-end XSS test):
// - raw HTML in an answer is never parsed as HTML: markdown-it runs with ``html: false``, so
//   "<tag>" is escaped and shows up as text;
// - links keep only http(s)/mailto targets and open in a new tab without a referrer;
// - images are never loaded: an image becomes a link to its address, so an answer cannot make
//   the browser fetch a remote resource on its own;
// - the HTML markdown-it produces still goes through DOMPurify with a short allow-list of tags
//   and attributes (no style, no event handler, no URL scheme but http(s)/mailto), parsed
//   into an inert fragment before anything is attached to the page.

import hljs from "./vendor/highlight.mjs";
import MarkdownIt from "./vendor/markdown-it.mjs";
import DOMPurify from "./vendor/purify.mjs";

const SAFE_URL = /^(https?:\/\/|mailto:)/i;
const LANG = /^[\w+#.-]{1,32}$/;
// Highlighting is skipped for very long blocks (it runs again on every streamed frame).
const HIGHLIGHT_MAX_CHARS = 20_000;

const md = new MarkdownIt({
  html: false,
  linkify: true,
  breaks: true,
  typographer: false,
  highlight(code, lang) {
    const language = LANG.test(lang || "") && hljs.getLanguage(lang) ? lang : null;
    let body = md.utils.escapeHtml(code);
    if (language && code.length <= HIGHLIGHT_MAX_CHARS) {
      body = hljs.highlight(code, { language, ignoreIllegals: true }).value;
    }
    const cls = language ? ` class="hljs language-${language}"` : ' class="hljs"';
    return `<pre><code${cls}>${body}</code></pre>`;
  },
});
md.validateLink = (url) => SAFE_URL.test(url.trim());

// Answers sit under the page's own headings: "#" renders as h3.
md.renderer.rules.heading_open = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  token.tag = `h${Math.min(6, Number(token.tag.slice(1)) + 2)}`;
  return self.renderToken(tokens, idx, options);
};
md.renderer.rules.heading_close = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  token.tag = `h${Math.min(6, Number(token.tag.slice(1)) + 2)}`;
  return self.renderToken(tokens, idx, options);
};

// Images are not loaded: a link (when the address is safe) labelled as an image.
md.renderer.rules.image = (tokens, idx) => {
  const token = tokens[idx];
  const src = token.attrGet("src") || "";
  const alt = token.content || src;
  const label = md.utils.escapeHtml(`image: ${alt}`);
  if (!SAFE_URL.test(src)) return label;
  return `<a href="${md.utils.escapeHtml(src)}">${label}</a>`;
};

// Table alignment comes as an inline style, which the page's policy refuses: a class instead.
for (const name of ["th_open", "td_open"]) {
  md.renderer.rules[name] = (tokens, idx, options, env, self) => {
    const token = tokens[idx];
    const style = token.attrGet("style") || "";
    if (token.attrs) token.attrs = token.attrs.filter(([key]) => key !== "style");
    const align = /text-align:(left|center|right)/.exec(style);
    if (align) token.attrJoin("class", `align-${align[1]}`);
    return self.renderToken(tokens, idx, options);
  };
}

const ALLOWED_TAGS = [
  "a", "blockquote", "br", "code", "del", "em", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p",
  "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
];
const ALLOWED_ATTR = ["href", "class", "start"];

const purifier = DOMPurify(window);
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const href = node.getAttribute("href") || "";
    if (!SAFE_URL.test(href)) node.removeAttribute("href");
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
  // Only our own classes: highlight.js token classes, table alignment, language labels.
  const cls = node.getAttribute && node.getAttribute("class");
  if (cls && !/^(hljs[\w-]*|language-[\w+#.-]+|align-(left|center|right))( [\w+#.-]+)*$/.test(cls)) {
    node.removeAttribute("class");
  }
});

function copyButton(code) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy-code";
  button.textContent = "Copy";
  button.setAttribute("aria-label", "Copy code");
  button.addEventListener("click", () => {
    const done = (text) => {
      button.textContent = text;
      setTimeout(() => (button.textContent = "Copy"), 1500);
    };
    if (!navigator.clipboard) return done("Copy unavailable");
    // The fence's closing newline is not part of the code.
    navigator.clipboard.writeText(code.textContent.replace(/\n$/, "")).then(
      () => done("Copied"),
      () => done("Copy unavailable"),
    );
  });
  return button;
}

/** Render Markdown text into a sanitized DocumentFragment, code blocks with a copy button. */
export function renderMarkdown(source) {
  const html = md.render(String(source ?? ""));
  const fragment = purifier.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
    RETURN_DOM_FRAGMENT: true,
  });
  for (const pre of [...fragment.querySelectorAll("pre")]) {
    const code = pre.querySelector("code") || pre;
    const lang = /language-([\w+#.-]+)/.exec(code.className || "");
    const head = document.createElement("div");
    head.className = "code-head";
    const label = document.createElement("span");
    label.className = "code-lang";
    label.textContent = lang ? lang[1] : "code";
    head.append(label, copyButton(code));
    const block = document.createElement("div");
    block.className = "code-block";
    pre.replaceWith(block);
    block.append(head, pre);
  }
  return fragment;
}
