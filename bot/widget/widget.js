/*!
 * Alliance Bot chat widget: plain JavaScript, no dependencies, no build step.
 *   <script src="https://HOST/widget.js" data-api="https://HOST" data-lang="fr" defer></script>
 * Appends <alliance-bot-widget> (launcher + chat panel in a Shadow DOM) to <body>.
 *
 * <script> attributes, all optional:
 *   data-api     API base URL; "" = the page's origin; absent = the origin of widget.js
 *   data-lang    "fr" (default) or "en"
 *   UI strings:  data-title data-subtitle data-welcome data-placeholder data-input-label
 *     data-send-label data-launcher-label data-close-label data-new-label data-typing-label
 *     data-no-answer data-closest-label data-sources-label data-open-source-label
 *     data-page-label data-unreachable data-error data-rate-limited-soon data-footer
 *     data-you-label data-bot-label (screen-reader speaker names)
 *     data-view-in-doc-label (link to the quote in the document, GET {api}/sources/…)
 *     data-feedback-label data-up-label data-down-label data-comment-label
 *     data-comment-send-label data-thanks data-comment-thanks data-feedback-error (votes on answers)
 *     data-suggestions   suggested questions separated by "|" ("" = none)
 *     data-cite-label    aria-label of a [n] marker, "{n}" = number
 *     data-rate-limited  HTTP 429 message, "{n}" = Retry-After seconds, "{s}" = plural s
 *   Colours:     data-color-primary data-color-text data-color-background data-color-on-primary
 *                (CSS custom properties --ab-primary, --ab-text, --ab-background, --ab-on-primary;
 *                they apply to both themes)
 *   data-theme   "light" or "dark" forces a theme; absent = the visitor's prefers-color-scheme
 *   data-collection  the collection answered from (a public one: a page holds no key); absent = the default
 *
 * Uses POST {api}/ask/stream (server-sent events passages, delta*, replace?, citations, done | error),
 * POST {api}/feedback for votes, and links citations to {api}/sources/{source}?start=&end=;
 * falling back to POST {api}/ask if streaming fails before anything arrives. Server and user
 * text is only inserted as text nodes; quotes keep their lists, tables and line breaks
 * (`shaped`, the rules of bot/shape.py). Icons are inline SVG: no icon needs a font. The
 * conversation lives in sessionStorage (key per API).
 * Events on the element: alliance-bot:open, alliance-bot:close, alliance-bot:answer (detail =
 * the answer contract).
 */
(() => {
'use strict';
const script = document.currentScript;
const TAG = 'alliance-bot-widget';

const STRINGS = {
  fr: {
    title: 'Assistant Alliance Dynamique', subtitle: 'Réponses sourcées à partir des documents',
    welcome: "Bonjour\u00a0! Posez-moi une question sur l'Alliance Dynamique\u00a0: je réponds à partir des documents, en citant mes sources.",
    suggestions: "Qui a lancé l'Alliance Dynamique ?|Quels sont les deux types de partenariats ?|Qu'est-ce que l'ODD 17 ?",
    placeholder: 'Posez votre question…', inputLabel: 'Votre question', sendLabel: 'Envoyer',
    launcherLabel: "Ouvrir l'assistant", closeLabel: "Fermer l'assistant", newLabel: 'Nouvelle conversation',
    typingLabel: "L'assistant rédige sa réponse…", noAnswer: 'Je ne trouve pas la réponse dans les documents.',
    closestLabel: 'Passages les plus proches', sourcesLabel: 'Sources', citeLabel: 'Voir la source {n}',
    openSourceLabel: 'Ouvrir la source', pageLabel: 'p.',
    unreachable: 'Le service est injoignable. Réessayez dans un instant.',
    rateLimited: "Trop de questions d'affilée. Réessayez dans {n} seconde{s}.",
    rateLimitedSoon: "Trop de questions d'affilée. Réessayez dans un instant.",
    error: 'Une erreur est survenue. Réessayez dans un instant.',
    footer: 'Chaque réponse cite ses sources dans les documents.',
    youLabel: 'Vous', botLabel: 'Assistant',
    viewInDocLabel: 'Voir le passage dans le document',
    feedbackLabel: 'Cette réponse vous a-t-elle aidé\u00a0?', upLabel: 'Oui, réponse utile', downLabel: 'Non, réponse pas utile',
    commentLabel: 'Un commentaire\u00a0? (facultatif)', commentSendLabel: 'Envoyer le commentaire',
    thanks: 'Merci pour votre avis\u00a0!', commentThanks: 'Merci, votre commentaire est enregistré.',
    feedbackError: "Votre avis n'a pas pu être enregistré. Réessayez dans un instant.",
  },
  en: {
    title: 'Alliance Dynamique Assistant', subtitle: 'Sourced answers from the documents',
    welcome: 'Hello! Ask me a question about the Alliance Dynamique: I answer from the documents and cite my sources.',
    // The default corpus is French and the reader refuses questions in another language
    // (README, "Answers and refusals"), so English visitors are offered French questions.
    suggestions: "Qui a lancé l'Alliance Dynamique ?|Quels sont les deux types de partenariats ?|Qu'est-ce que l'ODD 17 ?",
    placeholder: 'Ask your question…', inputLabel: 'Your question', sendLabel: 'Send',
    launcherLabel: 'Open the assistant', closeLabel: 'Close the assistant', newLabel: 'New conversation',
    typingLabel: 'The assistant is writing…', noAnswer: "I can't find the answer in the documents.",
    closestLabel: 'Closest passages', sourcesLabel: 'Sources', citeLabel: 'Show source {n}',
    openSourceLabel: 'Open the source', pageLabel: 'p.',
    unreachable: "The service can't be reached. Try again in a moment.",
    rateLimited: 'Too many questions in a row. Try again in {n} second{s}.',
    rateLimitedSoon: 'Too many questions in a row. Try again in a moment.',
    error: 'Something went wrong. Try again in a moment.',
    footer: 'Every answer cites its sources in the documents.',
    youLabel: 'You', botLabel: 'Assistant',
    viewInDocLabel: 'Show the passage in the document',
    feedbackLabel: 'Was this answer helpful?', upLabel: 'Yes, helpful answer', downLabel: 'No, unhelpful answer',
    commentLabel: 'A comment? (optional)', commentSendLabel: 'Send the comment',
    thanks: 'Thank you for your feedback!', commentThanks: 'Thank you, your comment is saved.',
    feedbackError: 'Your feedback could not be saved. Try again in a moment.',
  },
};

const ICONS = {
  chat: 'M21 11.5a8.4 8.4 0 0 1-12.3 7.5L3 21l2-5.3A8.5 8.5 0 1 1 21 11.5zM8 10h8M8 14h5',
  close: 'M6 6l12 12M18 6L6 18',
  send: 'M4 12h14M12 5l7 7-7 7',
  reset: 'M3.5 12a8.5 8.5 0 1 0 2.6-6.1L3.5 8.5M3.5 3.5v5h5',
  spark: 'M12 3l1.9 5.1L19 10l-5.1 1.9L12 17l-1.9-5.1L5 10l5.1-1.9zM19 15l.8 2.2L22 18l-2.2.8L19 21l-.8-2.2L16 18l2.2-.8z',
  ext: 'M14 4h6v6M20 4l-9 9M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5',
  up: 'M7 10v11H4a1 1 0 0 1-1-1v-9a1 1 0 0 1 1-1h3zm0 0l4-8a3 3 0 0 1 3 3v4h5.5a2 2 0 0 1 2 2.3l-1.3 7.5a2 2 0 0 1-2 1.7H7',
  down: 'M17 14V3h3a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1h-3zm0 0l-4 8a3 3 0 0 1-3-3v-4H4.5a2 2 0 0 1-2-2.3l1.3-7.5a2 2 0 0 1 2-1.7H17',
};

const CSS = `
:host{all:initial!important}
*,*::before,*::after{box-sizing:border-box}
.root{--p:var(--ab-primary,#0b3d91);--t:var(--ab-text,#1b2330);--bg:var(--ab-background,#fff);--on:var(--ab-on-primary,#fff);--p2:color-mix(in srgb,var(--p) 70%,#000);--er:#fff5f3;--erl:#f1c4bb;--ert:#8a1d0d;--na:#fffaf0;--nal:#f0dcb0;color-scheme:light;--mu:color-mix(in srgb,var(--t) 72%,var(--bg));--so:color-mix(in srgb,var(--p) 9%,var(--bg));--li:color-mix(in srgb,var(--t) 13%,var(--bg));position:fixed;right:24px;bottom:24px;z-index:2147483000;direction:ltr;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--t)}
/* Dark: the visitor's system asks for it (the class is set from prefers-color-scheme) or data-theme="dark". */
.root.dark{--p:var(--ab-primary,#8ab4f8);--t:var(--ab-text,#e6e9ef);--bg:var(--ab-background,#161b22);--on:var(--ab-on-primary,#0b1a33);--er:#3a1d1a;--erl:#7a3229;--ert:#ffc2b8;--na:#2b2516;--nal:#6b5a2c;color-scheme:dark}
button{font:inherit;color:inherit;margin:0}
svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round;flex:none}
:focus{outline:none}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.launcher{all:unset;position:absolute;right:0;bottom:0;width:60px;height:60px;border-radius:50%;display:grid;place-items:center;cursor:pointer;background:var(--p);color:var(--on);box-shadow:0 10px 28px rgba(12,24,60,.3),0 2px 6px rgba(12,24,60,.2);transition:transform .2s ease}
.launcher:hover{transform:scale(1.06)}
.launcher svg{width:28px;height:28px;grid-area:1/1;transition:transform .25s ease,opacity .2s}
.launcher .x,.open .launcher .c{opacity:0;transform:rotate(-90deg) scale(.6)}
.open .launcher .x{opacity:1;transform:none}
.panel{position:absolute;right:0;bottom:76px;width:420px;height:min(680px,calc(100vh - 124px));display:flex;flex-direction:column;overflow:hidden;background:var(--bg);border-radius:20px;box-shadow:0 22px 60px rgba(12,24,60,.26),0 3px 10px rgba(12,24,60,.12);transform-origin:bottom right;animation:ab-in .22s cubic-bezier(.2,.8,.3,1)}
.panel[hidden]{display:none}
@keyframes ab-in{from{opacity:0;transform:translateY(14px) scale(.97)}}
.head{display:flex;align-items:center;gap:10px;padding:14px 10px 14px 16px;color:var(--on);background:var(--p) linear-gradient(135deg,var(--p),var(--p2))}
.avatar{width:38px;height:38px;border-radius:50%;display:grid;place-items:center;background:rgba(255,255,255,.17);flex:none}
.avatar svg{width:22px;height:22px}
.ht{flex:1;min-width:0}
.head h2{margin:0;font-size:15px;font-weight:650;line-height:1.3}
.head p{margin:2px 0 0;font-size:12px;line-height:1.35;opacity:.92}
.hbtn{all:unset;width:32px;height:32px;border-radius:10px;display:grid;place-items:center;cursor:pointer;flex:none}
.hbtn+.hbtn{margin-left:-6px}
.hbtn:hover{background:rgba(255,255,255,.16)}
.log{position:relative;flex:1;overflow-y:auto;overscroll-behavior:contain;padding:18px 16px 10px;display:flex;flex-direction:column;gap:14px;background:color-mix(in srgb,var(--p) 3%,var(--bg))}
.msg{display:flex;flex-direction:column;gap:8px;max-width:90%;align-self:flex-start;animation:ab-msg .2s ease-out}
@keyframes ab-msg{from{opacity:0;transform:translateY(6px)}}
.msg.user{align-self:flex-end;max-width:82%}
.bubble{padding:10px 14px;border-radius:18px;white-space:pre-wrap;overflow-wrap:anywhere}
.user .bubble{background:var(--p);color:var(--on);border-bottom-right-radius:6px}
.bot .bubble{background:var(--bg);border:1px solid var(--li);border-bottom-left-radius:6px;box-shadow:0 1px 2px rgba(12,24,60,.05)}
.error .bubble{background:var(--er);border-color:var(--erl);color:var(--ert)}
.noans .bubble{background:var(--na);border-color:var(--nal)}
.streaming .bubble::after{content:"";display:inline-block;width:7px;height:1em;margin-left:2px;vertical-align:-.15em;border-radius:2px;background:var(--p);opacity:.5;animation:ab-blink 1s steps(2) infinite}
@keyframes ab-blink{50%{opacity:0}}
.typing{display:inline-flex;gap:5px;padding:15px 16px;align-self:flex-start}
.typing i{width:7px;height:7px;border-radius:50%;background:var(--mu);animation:ab-dot 1.2s infinite ease-in-out}
.typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}
@keyframes ab-dot{0%,80%,100%{opacity:.3;transform:none}40%{opacity:1;transform:translateY(-4px)}}
.cite{all:unset;display:inline-grid;place-items:center;min-width:1.45em;height:1.45em;padding:0 .35em;margin:0 .1em;border-radius:6px;cursor:pointer;background:var(--so);color:var(--p);font-size:.74em;font-weight:700;line-height:1;vertical-align:.18em;transition:background .15s,color .15s}
.cite:hover,.cite[aria-expanded=true]{background:var(--p);color:var(--on)}
.cite:focus-visible{outline-width:2px}
.chips{display:flex;flex-wrap:wrap;gap:8px}
.chip{all:unset;padding:7px 13px;border-radius:999px;cursor:pointer;font-size:13.5px;line-height:1.35;color:var(--p);background:var(--bg);border:1px solid color-mix(in srgb,var(--p) 35%,var(--bg));transition:background .15s}
.chip:hover{background:var(--so)}
.sources{display:flex;flex-direction:column;gap:6px}
.sources h3{margin:2px 4px 0;font-size:11.5px;font-weight:650;letter-spacing:.06em;text-transform:uppercase;color:var(--mu)}
.card{background:var(--bg);border:1px solid var(--li);border-radius:12px;overflow:hidden;transition:border-color .2s,box-shadow .3s}
.card[open]{border-color:color-mix(in srgb,var(--p) 40%,var(--bg))}
.card.flash{box-shadow:0 0 0 3px color-mix(in srgb,var(--p) 28%,transparent)}
summary{display:flex;gap:9px;align-items:flex-start;padding:9px 12px;cursor:pointer;list-style:none;font-size:13.5px}
summary::-webkit-details-marker{display:none}
summary:focus-visible{outline-offset:-3px;border-radius:12px}
summary::after{content:"";width:7px;height:7px;margin:6px 2px 0 auto;border:solid var(--mu);border-width:0 2px 2px 0;transform:rotate(45deg);flex:none;transition:transform .2s}
.card[open] summary::after{transform:rotate(225deg);margin-top:9px}
.n{display:inline-grid;place-items:center;min-width:22px;height:22px;padding:0 5px;border-radius:6px;background:var(--so);color:var(--p);font-size:12px;font-weight:700;flex:none}
.st{flex:1;min-width:0}
.t{display:block;font-weight:600;line-height:1.4;overflow-wrap:anywhere}
.ex{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;color:var(--mu);font-size:13px;margin-top:2px}
.card[open] .ex{display:none}
.cb{padding:0 12px 12px 43px;font-size:13.5px}
blockquote{margin:0 0 8px;padding:8px 11px;border-left:3px solid var(--p);border-radius:0 8px 8px 0;background:var(--so);white-space:pre-wrap;overflow-wrap:anywhere}
.q ul,.q ol{margin:.25em 0;padding-left:1.3em;white-space:normal}
.q li{list-style:disc;white-space:pre-wrap}
.q li.o{list-style:none}
.q li.d1{margin-left:1.2em}.q li.d2{margin-left:2.4em}.q li.d3{margin-left:3.6em}
.q table{border-collapse:collapse;margin:.25em 0;white-space:normal;font-size:.95em}
.q td{border:1px solid var(--li);padding:2px 6px;vertical-align:top;white-space:pre-wrap}
.loc{display:flex;flex-wrap:wrap;align-items:center;gap:4px 12px;font-size:12px;color:var(--mu);overflow-wrap:anywhere}
.loc a{display:inline-flex;align-items:center;gap:4px;color:var(--p);font-weight:600;text-decoration:none;border-radius:4px}
.loc a:hover{text-decoration:underline}
.loc svg{width:14px;height:14px}
.composer{display:flex;align-items:flex-end;gap:8px;padding:12px 12px 8px;border-top:1px solid var(--li);background:var(--bg)}
textarea{flex:1;min-width:0;height:46px;max-height:140px;margin:0;padding:12px 14px;resize:none;appearance:none;font:inherit;line-height:1.4;color:var(--t);background:var(--bg);border:1px solid color-mix(in srgb,var(--t) 22%,var(--bg));border-radius:14px;transition:border-color .15s}
textarea::placeholder{color:var(--mu);opacity:1}
textarea:focus{border-color:var(--p)}
textarea:focus-visible{outline:2px solid var(--p);outline-offset:0}
.send{all:unset;width:46px;height:46px;border-radius:14px;display:grid;place-items:center;cursor:pointer;flex:none;background:var(--p);color:var(--on);transition:opacity .15s,transform .15s}
.send:hover:not(:disabled){transform:translateY(-1px)}
.send:disabled{opacity:.35;cursor:default}
.short{margin:0;padding:0 2px;line-height:1.4}
.fb{display:flex;flex-direction:column;gap:6px;font-size:13px;color:var(--mu)}
.fbr{display:flex;align-items:center;flex-wrap:wrap;gap:6px}
.vote{all:unset;display:grid;place-items:center;width:32px;height:32px;border-radius:9px;cursor:pointer;border:1px solid var(--li);background:var(--bg)}
.vote svg{width:18px;height:18px}
.vote:hover{background:var(--so)}
.vote[aria-pressed=true]{background:var(--so);border-color:var(--p);box-shadow:inset 0 0 0 1px var(--p)}
.fbc{display:flex;flex-direction:column;gap:6px}
.fbc[hidden]{display:none}
.fbc label{color:var(--t)}
.fbc input{width:100%;margin:0;padding:8px 10px;font:inherit;font-size:13.5px;color:var(--t);background:var(--bg);border:1px solid color-mix(in srgb,var(--t) 22%,var(--bg));border-radius:10px}
.fbc input:focus-visible{outline:2px solid var(--p);outline-offset:0}
.fbsend{all:unset;align-self:flex-start;padding:6px 12px;border-radius:9px;cursor:pointer;background:var(--p);color:var(--on);font-weight:600}
.fbs{margin:0;color:var(--t)}
.fbs:empty{display:none}
.foot{margin:0;padding:0 16px 10px;font-size:11.5px;line-height:1.4;text-align:center;color:var(--mu);background:var(--bg)}
:focus-visible{outline:3px solid var(--p);outline-offset:2px}
.head :focus-visible{outline-color:var(--on)}
/* Dark: a dark header with light text (a light bar would glare), the primary as its accent. */
.dark .head{background:color-mix(in srgb,var(--p) 18%,var(--bg));color:var(--t);border-bottom:1px solid color-mix(in srgb,var(--p) 40%,var(--bg))}
.dark .head :focus-visible{outline-color:var(--p)}
@media (max-width:480px){
.root{right:16px;bottom:16px}
.panel{position:fixed;inset:0;width:auto;height:auto;border-radius:0;animation-name:ab-up}
.open .launcher{display:none}
.msg{max-width:94%}
}
@keyframes ab-up{from{opacity:0;transform:translateY(24px)}}
@media (prefers-reduced-motion:reduce){*,*::before,*::after{animation:none!important;transition:none!important;scroll-behavior:auto!important}}
`;
const icon = (name, cls) => {
  const ns = 'http://www.w3.org/2000/svg', s = document.createElementNS(ns, 'svg'), p = document.createElementNS(ns, 'path');
  for (const [k, v] of [['viewBox', '0 0 24 24'], ['aria-hidden', 'true'], ['focusable', 'false'], ['class', cls || '']]) s.setAttribute(k, v);
  p.setAttribute('d', ICONS[name]);
  s.append(p);
  return s;
};

// Element builder: props become attributes ("onx" = listener); children are nodes or
// strings, and strings are always appended as text nodes.
const h = (tag, props, ...kids) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false && kid !== '') el.append(kid);
  return el;
};
const btn = (cls, label, onclick, ...kids) => h('button', { type: 'button', class: cls, 'aria-label': label, title: label, onclick }, ...kids);

const str = (v) => (v == null ? '' : String(v));
const fmt = (s, n) => s.replace(/\{n\}/g, n).replace(/\{s\}/g, n > 1 ? 's' : '');
const clip = (s, n) => (s.length > n ? s.slice(0, n).replace(/\s+\S*$/, '') + '…' : s);
const safeUrl = (u) => {
  try {
    const url = new URL(u, location.href);
    return /^https?:$/.test(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
};
const retryAfter = (v) => {
  if (/^\s*\d+\s*$/.test(v || '')) return parseInt(v, 10);
  const t = Date.parse(v || '');
  return t ? Math.max(1, Math.ceil((t - Date.now()) / 1000)) : 0;
};
const MARK = /\[(\d+(?:\s*,\s*\d+)*)\]/;

// A stored text as nodes that keep its shape, by the rules of bot/shape.py: a line that
// starts with a list marker is a list item, two lines or more with " | " are table rows,
// other lines stay as they are (pre-wrap). Every character is kept, in order: bullets, cell
// separators and the breaks between blocks sit in hidden spans, so textContent is the text.
// `leaf` turns the visible text into nodes (text nodes by default, never HTML).
const ITEM = /^( *)([-*+\u2022]|\d{1,9}[.)])[ \t]+/;
const shaped = (text, leaf = (t) => t) => {
  const lines = [], out = [];
  let pos = 0;
  for (const line of text.split('\n')) {
    lines.push([pos, pos + line.length, line]);
    pos += line.length + 1;
  }
  const raw = lines.map(([, , l]) => (!l.trim() ? '' : ITEM.test(l) ? 'li' : l.includes(' | ') ? 'tr' : 'p'));
  const kinds = raw.map((k, i) => (k === 'tr' && raw[i - 1] !== 'tr' && raw[i + 1] !== 'tr' ? 'p' : k));
  const run = (a, b, hidden) => (a >= b ? null : hidden ? h('span', { hidden: true }, text.slice(a, b)) : leaf(text.slice(a, b)));
  let done = 0;
  for (let i = 0, j = 0; i < lines.length; i = j + 1) {
    for (j = i; j + 1 < lines.length && kinds[j + 1] === kinds[i];) j++;
    const k = kinds[i], start = lines[i][0], end = lines[j][1], group = lines.slice(i, j + 1);
    if (!k) continue;
    out.push(run(done, start, true));
    done = end;
    if (k === 'p') out.push(run(start, end));
    else if (k === 'li') {
      const ordered = (l) => /\d/.test(ITEM.exec(l)[2]);
      out.push(h(ordered(group[0][2]) ? 'ol' : 'ul', {}, group.map(([a, b, l]) => {
        const m = ITEM.exec(l), o = ordered(l), body = a + m[0].length;
        return h('li', { class: `d${Math.min(m[1].length >> 1, 3)}${o ? ' o' : ''}` },
          run(a, body, !o), run(body, b), b < end && run(b, b + 1, true));
      })));
    } else {
      out.push(h('table', {}, h('tbody', {}, group.map(([a, b]) => {
        const cells = [];
        for (let c = a, sep; c <= b; c = sep + 3) {
          sep = text.indexOf(' | ', c);
          if (sep < 0 || sep >= b) sep = b;
          cells.push(h('td', {}, run(c, sep), sep < b ? run(sep, sep + 3, true) : b < end && run(b, b + 1, true)));
        }
        return h('tr', {}, cells);
      }))));
    }
  }
  out.push(run(done, text.length, true));
  return out;
};
const MARKS = /\s*\[\d+(?:\s*,\s*\d+)*\]/g;

// Server-sent events of a fetch Response body, as [event, data] pairs.
async function* readSSE(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const parse = (block) => {
    let event = 'message';
    const data = [];
    for (const line of block.split(/\r\n|\r|\n/)) {
      const m = /^([^:]+)(?::\s?(.*))?$/.exec(line);
      if (m && m[1] === 'event') event = m[2] || '';
      else if (m && m[1] === 'data') data.push(m[2] || '');
    }
    return data.length ? [event, data.join('\n')] : null;
  };
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      for (let m; (m = /\r\n\r\n|\n\n|\r\r/.exec(buf));) {
        const ev = parse(buf.slice(0, m.index));
        buf = buf.slice(m.index + m[0].length);
        if (ev) yield ev;
      }
    }
    const ev = parse(buf);
    if (ev) yield ev;
  } finally {
    reader.cancel().catch(() => {});
  }
}

let uid = 0;

class AllianceBotWidget extends HTMLElement {
  connectedCallback() {
    if (this.root) return;
    const { data, api } = this.cfg || { data: {}, api: '' };
    const lang = (this.lang = /^en/i.test(data.lang || '') ? 'en' : 'fr');
    const S = (this.S = { ...STRINGS[lang] });
    for (const k in S) if (data[k] != null) S[k] = data[k];
    this.api = api;
    // Sent as ?collection= on every request; a name is [a-z0-9_-], anything else is not sent.
    this.collection = /^[a-z0-9][a-z0-9_-]{0,39}$/.test(data.collection || '') ? data.collection : '';
    this.key = 'alliance-bot:' + new URL(api || '/', location.href).href + (this.collection ? '#' + this.collection : '');
    this.busy = false;
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(this.key));
    } catch { /* storage unavailable or corrupt */ }
    this.messages = saved && Array.isArray(saved.messages) ? saved.messages : [];

    const root = (this.root = h('div', { class: 'root', lang }));
    for (const c of ['primary', 'text', 'background', 'on-primary']) {
      const v = data['color' + c.replace(/(^|-)(.)/g, (_, d, x) => x.toUpperCase())];
      if (v) root.style.setProperty('--ab-' + c, v);
    }
    // data-theme forces light or dark; otherwise the visitor's system decides, live.
    this.theme = /^(light|dark)$/.test(data.theme || '') ? data.theme : null;
    const dark = matchMedia('(prefers-color-scheme: dark)');
    const paint = () => {
      const theme = this.theme || (dark.matches ? 'dark' : 'light');
      root.classList.toggle('dark', theme === 'dark');
      root.dataset.theme = theme;
    };
    paint();
    if (!this.theme) dark.addEventListener('change', paint);
    this.launcher = btn('launcher', S.launcherLabel, () => this.setOpen(!this.open), icon('chat', 'c'), icon('close', 'x'));
    this.launcher.setAttribute('aria-expanded', 'false');
    this.launcher.setAttribute('aria-controls', 'ab-panel');
    this.log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': S.title });
    this.input = h('textarea', {
      rows: 1, placeholder: S.placeholder, 'aria-label': S.inputLabel, enterkeyhint: 'send',
      oninput: () => this.sync(),
      onkeydown: (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.send(this.input.value);
        }
      },
    });
    this.sendBtn = h('button', { type: 'submit', class: 'send', 'aria-label': S.sendLabel, title: S.sendLabel, disabled: true }, icon('send'));
    this.panel = h('section', {
      class: 'panel', id: 'ab-panel', role: 'dialog', 'aria-labelledby': 'ab-title', hidden: true,
      onkeydown: (e) => {
        if (e.key === 'Escape') {
          e.stopPropagation();
          this.setOpen(false);
        }
      },
    },
    h('div', { class: 'head' },
      h('div', { class: 'avatar' }, icon('spark')),
      h('div', { class: 'ht' }, h('h2', { id: 'ab-title' }, S.title), h('p', {}, S.subtitle)),
      btn('hbtn new', S.newLabel, () => this.reset(), icon('reset')),
      btn('hbtn close', S.closeLabel, () => this.setOpen(false), icon('close'))),
    this.log,
    h('form', {
      class: 'composer',
      onsubmit: (e) => {
        e.preventDefault();
        this.send(this.input.value);
      },
    }, this.input, this.sendBtn),
    h('p', { class: 'foot' }, S.footer));
    root.append(this.panel, this.launcher);
    this.attachShadow({ mode: 'open' }).append(h('style', {}, CSS), root);
    this.render();
    if (saved && saved.open) this.setOpen(true, false);
  }

  save() {
    try {
      sessionStorage.setItem(this.key, JSON.stringify({ open: !!this.open, messages: this.messages.slice(-40) }));
    } catch { /* storage unavailable or full */ }
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent('alliance-bot:' + name, { detail, bubbles: true, composed: true }));
  }

  setOpen(open, focus = true) {
    this.open = open;
    this.panel.hidden = !open;
    this.root.classList.toggle('open', open);
    const l = this.launcher, label = open ? this.S.closeLabel : this.S.launcherLabel;
    l.setAttribute('aria-expanded', open);
    l.setAttribute('aria-label', label);
    l.title = label;
    if (open) this.stick(true);
    if (focus) (open ? this.input : l).focus();
    this.save();
    this.emit(open ? 'open' : 'close');
  }

  reset() {
    this.gen = (this.gen || 0) + 1; // an answer still on its way is dropped
    this.messages = [];
    this.save();
    this.render();
    this.input.focus();
  }

  sync() {
    const ta = this.input;
    ta.style.height = '';
    if (ta.scrollHeight > ta.clientHeight) ta.style.height = Math.min(ta.scrollHeight + 2, 140) + 'px';
    this.sendBtn.disabled = this.busy || !ta.value.trim();
  }

  stick(force) {
    const log = this.log;
    if (force || log.scrollHeight - log.scrollTop - log.clientHeight < 160) log.scrollTop = log.scrollHeight;
  }

  // The last turns (max 6 messages) go with the question so that follow-ups make sense.
  // A question whose answer failed is left out.
  history() {
    const out = [];
    this.messages.forEach((m, i) => {
      const next = this.messages[i + 1];
      if (m.role === 'user' && next && next.kind !== 'error') out.push({ role: 'user', content: str(m.text) });
      if (m.kind === 'answer') out.push({ role: 'assistant', content: str(m.text).replace(MARKS, '') });
      if (m.kind === 'no_answer') out.push({ role: 'assistant', content: this.S.noAnswer });
    });
    return out.slice(-6);
  }

  async send(text) {
    const question = str(text).trim();
    if (!question || this.busy) return;
    const history = this.history(), gen = this.gen;
    this.messages.push({ role: 'user', text: question });
    this.save();
    this.log.querySelector('.chips')?.remove();
    this.log.append(this.msg(this.messages.at(-1)));
    this.input.value = '';
    this.busy = true;
    this.sync();
    const live = this.live();
    let msg;
    try {
      msg = await this.ask(question, history, live);
    } catch {
      msg = this.err(this.S.error);
    }
    this.busy = false;
    this.sync();
    if (gen !== this.gen) return;
    this.messages.push(msg);
    this.save();
    const el = this.msg(msg), log = this.log;
    live.el.replaceWith(el);
    log.removeAttribute('aria-busy');
    log.scrollTop = Math.min(log.scrollHeight - log.clientHeight, el.offsetTop - 12); // show the answer's start
  }

  // Waiting bubble: a typing indicator, then the streamed text as it arrives. The log is
  // aria-busy meanwhile, so screen readers announce the finished answer once.
  live() {
    const typing = h('div', { class: 'bubble typing' }, h('i'), h('i'), h('i'), h('span', { class: 'sr' }, this.S.typingLabel));
    const el = h('div', { class: 'msg bot', 'data-state': 'waiting' }, typing);
    let bubble = null;
    this.log.setAttribute('aria-busy', 'true');
    this.log.append(el);
    this.stick(true);
    const append = (t) => {
      if (!t) return;
      if (!bubble) {
        typing.replaceWith((bubble = h('div', { class: 'bubble' })));
        el.dataset.state = 'streaming';
        el.classList.add('streaming');
      }
      bubble.append(t);
      this.stick();
    };
    // A withdrawn LLM reply: its text goes, the answer that stands replaces it.
    const replace = (t) => {
      if (bubble) bubble.textContent = '';
      el.dataset.replaced = 'true';
      append(t);
    };
    return { el, append, replace };
  }

  err(text) {
    return { role: 'assistant', kind: 'error', text };
  }

  fromContract(c) {
    if (!c || typeof c !== 'object') return this.err(this.S.error);
    this.emit('answer', c);
    const ref = (x) => ({
      title: str(x.title), source: str(x.source), url: x.url ? str(x.url) : null, page: x.page ?? null,
      start: Number.isInteger(x.char_start) ? x.char_start : null, end: Number.isInteger(x.char_end) ? x.char_end : null,
    });
    const id = typeof c.id === 'string' ? c.id : null;
    if (c.status === 'no_answer' || !str(c.answer).trim()) {
      const passages = (Array.isArray(c.passages) ? c.passages : []).slice(0, 3);
      return { role: 'assistant', kind: 'no_answer', id, passages: passages.map((p) => ({ ...ref(p), text: clip(str(p.text), 900) })) };
    }
    const citations = (Array.isArray(c.citations) ? c.citations : []).map((x) => ({ ...ref(x), n: str(x.n), quote: str(x.quote) }));
    const short = c.short_answer && typeof c.short_answer === 'object' ? str(c.short_answer.text).trim() : '';
    return { role: 'assistant', kind: 'answer', id, text: str(c.answer), short, citations };
  }

  // An error response (or an SSE error event): 429 with Retry-After, else the server's message.
  async httpError(status, headers, json) {
    if (status === 429) {
      const n = retryAfter(headers.get('Retry-After'));
      return this.err(n ? fmt(this.S.rateLimited, n) : this.S.rateLimitedSoon);
    }
    const d = await json().catch(() => null);
    const detail = d && (this.lang === 'en' ? d.detail_en || d.detail : d.detail || d.detail_en);
    if (typeof detail === 'string' && detail.trim()) return this.err(detail);
    return this.err([502, 503, 504].includes(status) ? this.S.unreachable : this.S.error);
  }

  post(path, body, accept) {
    if (this.collection) path += '?collection=' + this.collection;
    return fetch(this.api + path, { method: 'POST', body, headers: { 'Content-Type': 'application/json', Accept: accept } });
  }

  async fallback(body) {
    let res;
    try {
      res = await this.post('/ask', body, 'application/json');
    } catch {
      return this.err(this.S.unreachable);
    }
    if (!res.ok) return this.httpError(res.status, res.headers, () => res.json());
    return this.fromContract(await res.json().catch(() => null));
  }

  async ask(question, history, live) {
    const body = JSON.stringify({ question, history });
    let res;
    try {
      res = await this.post('/ask/stream', body, 'text/event-stream');
    } catch {
      return this.fallback(body);
    }
    if ([413, 422, 429].includes(res.status)) return this.httpError(res.status, res.headers, () => res.json());
    const type = res.headers.get('Content-Type') || '';
    if (res.ok && type.includes('json')) return this.fromContract(await res.json().catch(() => null));
    if (!res.ok || !res.body || !type.includes('text/event-stream')) return this.fallback(body);

    let any = false, text = '', passages = [], citations = [];
    try {
      for await (const [event, raw] of readSSE(res.body)) {
        any = true;
        let d = {};
        try {
          d = JSON.parse(raw) || {};
        } catch { /* malformed data: ignored */ }
        if (event === 'passages') passages = d.passages || [];
        if (event === 'citations') citations = d.citations || [];
        if (event === 'done') return this.fromContract(d);
        if (event === 'error') return this.httpError(0, null, async () => d);
        if (event === 'delta') {
          text += str(d.text);
          live.append(str(d.text));
        }
        if (event === 'replace') { // the LLM's reply failed midway: the extractive answer stands instead
          text = str(d.text);
          live.replace(text);
        }
      }
    } catch {
      return text ? this.err(this.S.unreachable) : this.fallback(body);
    }
    if (!any) return this.fallback(body);
    return text ? this.fromContract({ status: 'answered', answer: text, citations, passages }) : this.err(this.S.error);
  }

  render() {
    const S = this.S;
    const chips = S.suggestions.split('|').map((s) => s.trim()).filter(Boolean);
    this.log.textContent = '';
    this.log.append(h('div', { class: 'msg bot welcome' }, h('div', { class: 'bubble' }, S.welcome),
      !this.messages.length && chips.length &&
        h('div', { class: 'chips' }, chips.map((q) => h('button', { type: 'button', class: 'chip', onclick: () => this.send(q) }, q)))));
    for (const m of this.messages) this.log.append(this.msg(m));
  }

  msg(m) {
    const S = this.S;
    if (m.role === 'user') return h('div', { class: 'msg user' }, h('span', { class: 'sr' }, S.youLabel + ' : '), h('div', { class: 'bubble' }, str(m.text)));
    const el = h('div', { class: 'msg bot ' + (m.kind === 'no_answer' ? 'noans' : m.kind), 'data-state': 'done', 'data-kind': m.kind },
      h('span', { class: 'sr' }, S.botLabel + ' : '));
    if (m.kind === 'error') {
      el.append(h('div', { class: 'bubble', role: 'alert' }, str(m.text)));
    } else if (m.kind === 'no_answer') {
      const ps = Array.isArray(m.passages) ? m.passages : [];
      el.append(h('div', { class: 'bubble' }, S.noAnswer),
        ps.length && h('div', { class: 'sources closest' }, h('h3', {}, S.closestLabel), ps.map((p, i) => this.card({ ...p, n: i + 1 }))),
        this.feedback(m));
    } else {
      const cards = new Map();
      for (const c of Array.isArray(m.citations) ? m.citations : []) cards.set(str(c.n), this.card(c));
      const cite = (text) => text.split(MARK).map((part, i) => {
        const nums = part.split(/\s*,\s*/);
        if (i % 2 === 0 || !nums.every((n) => cards.has(n))) return i % 2 ? `[${part}]` : part;
        return nums.map((n) => {
          const card = cards.get(n);
          const b = btn('cite', fmt(S.citeLabel, n), () => this.openCard(card), n);
          b.setAttribute('aria-controls', card.id);
          b.setAttribute('aria-expanded', 'false');
          return b;
        });
      });
      const bubble = h('div', { class: 'bubble q' }, shaped(str(m.text), cite));
      el.append(bubble);
      if (m.short) el.insertBefore(h('p', { class: 'short' }, h('strong', {}, str(m.short))), bubble);
      for (const card of cards.values()) {
        card.addEventListener('toggle', () => {
          for (const b of el.querySelectorAll(`[aria-controls=${card.id}]`)) b.setAttribute('aria-expanded', card.open);
        });
      }
      if (cards.size) el.append(h('div', { class: 'sources' }, h('h3', {}, S.sourcesLabel), [...cards.values()]));
      el.append(this.feedback(m));
    }
    return el;
  }

  // Up/down (toggle buttons with SVG thumbs, changeable) then an optional comment, sent to POST /feedback.
  feedback(m) {
    if (!m.id) return null;
    const S = this.S, label = 'ab-fb' + ++uid;
    const status = h('p', { class: 'fbs', role: 'status' });
    const area = h('input', { type: 'text', maxlength: 1000, id: label + 'c', autocomplete: 'off' });
    const form = h('form', {
      class: 'fbc', hidden: !m.vote,
      onsubmit: (e) => {
        e.preventDefault();
        if (area.value.trim()) this.vote(m, m.vote, area.value.trim(), status, S.commentThanks);
      },
    }, h('label', { for: label + 'c' }, S.commentLabel), area, h('button', { type: 'submit', class: 'fbsend' }, S.commentSendLabel));
    const votes = [['up', S.upLabel], ['down', S.downLabel]].map(([rating, text]) =>
      h('button', {
        type: 'button', class: 'vote ' + rating, 'aria-label': text, title: text, 'aria-pressed': String(m.vote === rating),
        onclick: async () => {
          if (await this.vote(m, rating, m.comment || null, status, S.thanks)) {
            for (const b of votes) b.setAttribute('aria-pressed', String(b.classList.contains(rating)));
            form.hidden = false;
          }
        },
      }, icon(rating)));
    return h('div', { class: 'fb' },
      h('div', { class: 'fbr', role: 'group', 'aria-labelledby': label }, h('span', { id: label }, S.feedbackLabel), votes),
      form, status);
  }

  async vote(m, rating, comment, status, thanks) {
    let res;
    status.textContent = '';
    try {
      res = await this.post('/feedback', JSON.stringify({ answer_id: m.id, rating, comment }), 'application/json');
    } catch {
      status.textContent = this.S.feedbackError;
      return false;
    }
    if (!res.ok) {
      const e = await this.httpError(res.status, res.headers, () => res.json());
      status.textContent = res.status === 429 ? e.text : this.S.feedbackError;
      return false;
    }
    m.vote = rating;
    m.comment = comment;
    this.save();
    status.textContent = thanks;
    return true;
  }

  openCard(card) {
    card.open = true;
    card.querySelector('summary').focus({ preventScroll: true });
    card.scrollIntoView({ block: 'nearest', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
    card.classList.add('flash');
    setTimeout(() => card.classList.remove('flash'), 900);
  }

  // A citation (with its verbatim quote) or a passage (with its text) as an expandable card.
  card(c) {
    const S = this.S;
    const title = str(c.title) || str(c.source) || '—';
    const url = c.url && safeUrl(c.url);
    const page = c.page != null && c.page !== '' ? `${S.pageLabel}\u00a0${c.page}` : '';
    const where = [str(c.source), page].filter(Boolean).join(', ');
    const inDoc = c.source && Number.isInteger(c.start) && Number.isInteger(c.end)
      ? `${this.api}/sources/${str(c.source).split('/').map(encodeURIComponent).join('/')}?start=${c.start}&end=${c.end}${this.collection ? '&collection=' + this.collection : ''}${this.theme ? '&theme=' + this.theme : ''}#quote` : null;
    return h('details', { class: 'card', id: 'ab-c' + ++uid },
      h('summary', {}, h('span', { class: 'n' }, str(c.n)),
        h('span', { class: 'st' }, h('span', { class: 't' }, title), c.quote == null && h('span', { class: 'ex' }, clip(str(c.text), 160)))),
      h('div', { class: 'cb' },
        h('blockquote', { class: 'q' }, c.quote == null ? shaped(str(c.text)) : ['«\u00a0', shaped(str(c.quote)), '\u00a0»']),
        h('div', { class: 'loc' }, where && h('span', { class: 'where' }, where),
          inDoc && h('a', { class: 'indoc', href: inDoc, target: '_blank', rel: 'noopener' }, S.viewInDocLabel, icon('ext')),
          url && h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, S.openSourceLabel, icon('ext')))));
  }
}

if (!customElements.get(TAG)) customElements.define(TAG, AllianceBotWidget);

const data = { ...(script ? script.dataset : {}) };
const attr = script && script.getAttribute('data-api');
const el = document.createElement(TAG);
el.cfg = { data, api: (attr ?? (script && script.src ? new URL(script.src, location.href).origin : '')).replace(/\/+$/, '') };
const mount = () => document.body.append(el);
if (document.body) mount();
else addEventListener('DOMContentLoaded', mount);
})();
