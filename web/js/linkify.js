// Splits message text into plain text and http(s) links. No DOM access: the view turns
// the tokens into text nodes and <a> elements, never into HTML.

const CANDIDATE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?'"*_~]+$/;

function trimCandidate(candidate) {
  let url = candidate.replace(TRAILING, '');
  // A closing bracket at the end belongs to the URL only if the URL opened it.
  for (const [open, close] of [['(', ')'], ['[', ']'], ['{', '}']]) {
    while (url.endsWith(close)) {
      const opens = url.split(open).length - 1;
      const closes = url.split(close).length - 1;
      if (closes <= opens) break;
      url = url.slice(0, -1).replace(TRAILING, '');
    }
  }
  return url;
}

/** The href to use for a candidate, or null when it is not a well-formed http(s) URL. */
export function safeHref(candidate) {
  let url;
  try {
    url = new URL(candidate);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (!url.hostname) return null;
  return url.href;
}

/**
 * tokenize('see https://example.com.') ->
 *   [{type:'text', text:'see '}, {type:'link', text:'https://example.com', href:'https://example.com/'},
 *    {type:'text', text:'.'}]
 * Joining every token's `text` gives back the input exactly.
 */
export function tokenize(text) {
  const source = String(text ?? '');
  const tokens = [];
  let last = 0;
  const pushText = (value) => {
    if (!value) return;
    const previous = tokens[tokens.length - 1];
    if (previous && previous.type === 'text') previous.text += value;
    else tokens.push({ type: 'text', text: value });
  };
  for (const match of source.matchAll(CANDIDATE)) {
    const start = match.index;
    const candidate = trimCandidate(match[0]);
    const href = safeHref(candidate);
    if (!href) continue;
    pushText(source.slice(last, start));
    tokens.push({ type: 'link', text: candidate, href });
    last = start + candidate.length;
  }
  pushText(source.slice(last));
  return tokens;
}
