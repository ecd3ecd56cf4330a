// A small, safe Markdown renderer for model answers.
//
// It never parses HTML: the output is built with createElement/textContent only, so any "<tag>"
// the model writes shows up as text. Links keep only http(s)/mailto targets and open in a new tab
// without a referrer; images are never loaded (shown as a link to their address instead), so an
// answer cannot make the browser fetch a remote resource on its own.
//
// Supported: paragraphs, headings (#..######), fenced code blocks (```), inline code, bold,
// italic, strikethrough, links, bare URLs, bullet and numbered lists (one level), block quotes,
// horizontal rules and hard line breaks inside paragraphs.

const SAFE_URL = /^(https?:\/\/|mailto:)/i;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeHref(url) {
  const trimmed = url.trim();
  return SAFE_URL.test(trimmed) ? trimmed : null;
}

function linkNode(label, url) {
  const href = safeHref(url);
  if (!href) return document.createTextNode(label);
  const a = el("a", null);
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  // No links inside links (and a bare URL's label is itself a URL).
  renderInline(label, a, true);
  return a;
}

// Inline patterns, tried at each position; the earliest match wins.
const INLINE = [
  { re: /`([^`\n]+)`/, make: (m) => el("code", null, m[1]) },
  {
    re: /!\[([^\]\n]*)\]\(([^)\s]+)\)/,
    // Images are not loaded: a link (when the address is safe) labelled as an image.
    make: (m) => linkNode(`image: ${m[1] || m[2]}`, m[2]),
    link: true,
  },
  { re: /\[([^\]\n]+)\]\(([^)\s]+)\)/, make: (m) => linkNode(m[1], m[2]), link: true },
  { re: /\*\*([^\n]+?)\*\*/, make: (m, noLinks) => wrap("strong", m[1], noLinks) },
  { re: /(?<![\w])__([^\n]+?)__(?![\w])/, make: (m, noLinks) => wrap("strong", m[1], noLinks) },
  { re: /~~([^\n]+?)~~/, make: (m, noLinks) => wrap("del", m[1], noLinks) },
  { re: /\*([^*\s][^*\n]*?)\*/, make: (m, noLinks) => wrap("em", m[1], noLinks) },
  { re: /(?<![\w])_([^_\s][^_\n]*?)_(?![\w])/, make: (m, noLinks) => wrap("em", m[1], noLinks) },
  {
    re: /\bhttps?:\/\/[^\s<>()]+[^\s<>().,;:!?'"]/,
    make: (m) => linkNode(m[0], m[0]),
    link: true,
  },
];

function wrap(tag, inner, noLinks) {
  const node = el(tag, null);
  renderInline(inner, node, noLinks);
  return node;
}

function renderInline(text, parent, noLinks = false) {
  let rest = text;
  while (rest) {
    let best = null;
    let bestPattern = null;
    for (const pattern of INLINE) {
      if (noLinks && pattern.link) continue;
      const m = pattern.re.exec(rest);
      if (m && (best === null || m.index < best.index)) {
        best = m;
        bestPattern = pattern;
      }
    }
    if (!best) {
      parent.append(rest);
      return;
    }
    if (best.index > 0) parent.append(rest.slice(0, best.index));
    parent.append(bestPattern.make(best, noLinks));
    rest = rest.slice(best.index + best[0].length);
  }
}

function paragraph(lines) {
  const p = el("p", null);
  lines.forEach((line, i) => {
    if (i > 0) p.append(el("br"));
    renderInline(line, p);
  });
  return p;
}

const FENCE = /^\s*(```|~~~)\s*([\w+#.-]*)\s*$/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;

/** Render Markdown text into a DocumentFragment (no HTML parsing anywhere). */
export function renderMarkdown(source) {
  const out = document.createDocumentFragment();
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !new RegExp(`^\\s*${fence[1]}\\s*$`).test(lines[i])) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // closing fence (or end of a still-streaming answer)
      const pre = el("pre", null);
      const code = el("code", null, body.join("\n"));
      if (fence[2]) code.dataset.lang = fence[2];
      pre.append(code);
      out.append(pre);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      // Answers sit under the page's own headings: start at h3.
      const level = Math.min(6, heading[1].length + 2);
      const h = el(`h${level}`, null);
      renderInline(heading[2], h);
      out.append(h);
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      out.append(el("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) {
        body.push(QUOTE.exec(lines[i])[1]);
        i += 1;
      }
      const quote = el("blockquote", null);
      quote.append(renderMarkdown(body.join("\n")));
      out.append(quote);
      continue;
    }
    if (BULLET.test(line) || NUMBERED.test(line)) {
      const ordered = !BULLET.test(line);
      const list = el(ordered ? "ol" : "ul", null);
      if (ordered) {
        const start = Number(NUMBERED.exec(line)[1]);
        if (start !== 1) list.start = start;
      }
      const itemRe = ordered ? NUMBERED : BULLET;
      while (i < lines.length && itemRe.test(lines[i])) {
        const m = itemRe.exec(lines[i]);
        const item = el("li", null);
        renderInline(ordered ? m[2] : m[1], item);
        i += 1;
        // Indented continuation lines belong to the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !itemRe.test(lines[i])) {
          item.append(" ");
          renderInline(lines[i].trim(), item);
          i += 1;
        }
        list.append(item);
      }
      out.append(list);
      continue;
    }
    const body = [];
    while (
      i < lines.length &&
      lines[i].trim() &&
      !FENCE.test(lines[i]) &&
      !HEADING.test(lines[i]) &&
      !QUOTE.test(lines[i]) &&
      !BULLET.test(lines[i]) &&
      !NUMBERED.test(lines[i]) &&
      !RULE.test(lines[i])
    ) {
      body.push(lines[i]);
      i += 1;
    }
    out.append(paragraph(body));
  }
  return out;
}
