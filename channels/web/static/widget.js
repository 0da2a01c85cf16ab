/*!
 * Vetrina web chat widget.
 *
 * Embed with one tag (no build step, no framework, ES2018):
 *
 *   <script src="http://HOST:8080/widget.js" data-title="Vetrina" defer></script>
 *
 * Script attributes (all optional):
 *   data-title        header title (default "Vetrina")
 *   data-lang         "it" | "en"; default: Italian if navigator.language starts with "it"
 *   data-color        brand colour, any CSS colour (default deep green #12392f)
 *   data-server       gateway base URL (default: the directory this script was loaded from)
 *   data-socket-path  socket.io path (default: "<base path>socket.io", i.e. "/socket.io")
 *   data-identity-token  the logged-in shopper's signed identity token, made by the shop's
 *                     server (docs/identity-token.md); the chat then joins their account
 *
 * The socket.io client is loaded from <server>/static/vendor/socket.io.min.js unless the
 * page already has a compatible one (window.io with protocol 5, i.e. socket.io v3/v4).
 *
 * Protocol: Rasa's socket.io channel (session_request / session_confirm / user_uttered /
 * bot_uttered) with Vetrina's extension, asked for with "vetrina": 1 in session_request:
 * replies carry id / author / consultant_name and are confirmed with vetrina_seen {ids}
 * (the server sends a reply again until it is confirmed; each id is shown once), plus
 * history_request / history, message_ack, notice and vetrina_error. The session id is
 * issued by the server (a stored id it did not issue gets a new session). See
 * channels/web/socket.py in the repo.
 *
 * Public API:
 *   window.VetrinaChat.open()            open the panel (focuses the input)
 *   window.VetrinaChat.close()           close the panel
 *   window.VetrinaChat.send(text)        send a message; returns its message_id, or null
 *                                        if it was empty / too long
 *   window.VetrinaChat.setContext(obj)   shallow-merge obj into the page context sent with
 *                                        every message (customData.page); a key set to
 *                                        null or undefined is removed; setContext(null)
 *                                        clears it
 *   window.VetrinaChat.identify(token)   the shopper logged in (or the page got a fresh
 *                                        token): join the chat to their shop account
 *   window.VetrinaChat.forget()          forget this chat on this device (as the menu item)
 * Location: a quick reply whose payload is exactly "/share_location" asks the browser for
 * the shopper's position and sends "/share_location{"latitude":..,"longitude":..}" (shown
 * as a pin with the coordinates); if the shopper refuses, nothing is sent and a local
 * system line asks for a city instead.
 * Calls made before the (deferred) script ran can be queued by the page:
 *   (window.VetrinaChat = window.VetrinaChat || {q: []}).q.push(['setContext', {...}]);
 *
 * Stable DOM hooks (for browser tests; do not rename without updating tests/e2e):
 *   #vetrina-root          container appended to <body>
 *   #vetrina-launcher      floating "Scrivici" / "Chat with us" button
 *   #vetrina-panel         the chat panel, role="dialog";
 *                            data-state="connecting" | "online" | "offline"
 *                            hidden attribute when closed
 *   #vetrina-close         close button in the panel header
 *   #vetrina-menu-button   the header's menu button; #vetrina-menu the menu (hidden when closed)
 *   #vetrina-forget        menu item "Cancella questa chat" / "Forget this chat": forgets the
 *                            session on this device and starts a new, empty chat
 *   #vetrina-messages      messages container (role="log")
 *   .vetrina-msg           every message, plus exactly one of
 *                            .vetrina-msg-bot | .vetrina-msg-user |
 *                            .vetrina-msg-system | .vetrina-msg-consultant
 *                          user messages also carry data-message-id (client uuid),
 *                            data-id (server id, once acked) and
 *                            data-status="pending" | "sent" | "failed"
 *                          messages with a server id carry data-id
 *   .vetrina-welcome       the local greeting: a .vetrina-msg-bot that is always the first
 *                            line; it is not a server message, never sent, never in history
 *   .vetrina-msg-text      the text of a message
 *   .vetrina-quick-reply   each quick-reply button (only under the last bot message)
 *   .vetrina-typing        the typing indicator (present only while shown); with
 *                            .vetrina-typing-person and a .vetrina-typing-name text
 *                            ("Giulia sta scrivendo...") while a consultant types
 *   #vetrina-input         the text box (textarea; Enter sends, Shift+Enter new line)
 *   #vetrina-send          send button
 *   #vetrina-counter       character counter (visible near the 2000-character limit)
 *
 * The file is pure ASCII (non-ASCII text is written as \u escapes), so it renders correctly
 * even on host pages that are not UTF-8 or when served without a charset.
 *
 * Security: everything that comes from the server or the user is rendered with
 * textContent / DOM properties, never innerHTML. Links in bot text are made clickable
 * only for http(s) URLs.
 */
(function () {
  'use strict';

  if (window.VetrinaChat && window.VetrinaChat.__vetrina) return; // loaded twice

  var MAX_LEN = 2000;
  var COUNTER_FROM = 1800;
  var TYPING_TIMEOUT_MS = 30000;
  var PERSON_TYPING_MS = 6000; // the console repeats vetrina_typing every few seconds while typing
  var SESSION_KEY = 'vetrina.session_id';
  var OPEN_KEY = 'vetrina.open';
  var DEFAULT_COLOR = '#12392f';

  // ---------------------------------------------------------------- configuration

  var script = document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-title], script[src$="/widget.js"]');
  var attr = function (name) {
    return script && script.getAttribute(name) ? script.getAttribute(name).trim() : '';
  };

  var scriptUrl = new URL(script && script.src ? script.src : '/widget.js', location.href);
  var baseUrl = new URL(attr('data-server') || './', scriptUrl); // ends with "/"
  if (!/\/$/.test(baseUrl.pathname)) baseUrl.pathname += '/';
  var socketPath = attr('data-socket-path') || baseUrl.pathname + 'socket.io';
  // Signed identity token of a logged-in shopper (docs/identity-token.md), or null.
  var identityToken = attr('data-identity-token') || null;
  var identityNotice = null;
  var vendorUrl = new URL('static/vendor/socket.io.min.js', baseUrl).href;

  var langAttr = attr('data-lang').toLowerCase();
  var lang = langAttr ? (langAttr.indexOf('it') === 0 ? 'it' : 'en')
    : (String(navigator.language || '').toLowerCase().indexOf('it') === 0 ? 'it' : 'en');

  var STRINGS = {
    it: {
      launcher: 'Scrivici',
      launcherAria: 'Apri la chat con Vetrina',
      close: 'Chiudi la chat',
      placeholder: 'Scrivi un messaggio\u2026',
      send: 'Invia',
      online: 'Online \u00b7 di solito rispondiamo subito',
      connecting: 'Connessione in corso\u2026',
      offline: 'Offline \u00b7 invieremo i messaggi appena possibile',
      pending: 'Invio in corso\u2026',
      failed: 'Non inviato',
      retry: 'Riprova',
      typing: 'Sta scrivendo',
      personTyping: '{name} sta scrivendo\u2026',
      consultant: 'Consulente',
      you: 'Tu',
      tooLong: 'Il messaggio \u00e8 troppo lungo',
      welcome: 'Ciao! Come possiamo aiutarti? Chiedici di prodotti, taglie, disponibilit\u00e0 in negozio o prenota una prova.',
      unread: 'nuovi messaggi',
      noLocation: 'Non riesco a leggere la tua posizione: scrivimi la citt\u00e0 o il CAP.',
      menu: 'Altre opzioni',
      forget: 'Cancella questa chat',
    },
    en: {
      launcher: 'Chat with us',
      launcherAria: 'Open the Vetrina chat',
      close: 'Close the chat',
      placeholder: 'Write a message\u2026',
      send: 'Send',
      online: 'Online \u00b7 we usually reply right away',
      connecting: 'Connecting\u2026',
      offline: 'Offline \u00b7 we will send your messages as soon as possible',
      pending: 'Sending\u2026',
      failed: 'Not sent',
      retry: 'Retry',
      typing: 'Typing',
      personTyping: '{name} is typing\u2026',
      consultant: 'Consultant',
      you: 'You',
      tooLong: 'The message is too long',
      welcome: 'Hi! How can we help? Ask us about products, sizes, in-store availability, or book a try-on.',
      unread: 'new messages',
      noLocation: 'I can\u2019t get your location: please write your city or postcode.',
      menu: 'More options',
      forget: 'Forget this chat',
    },
  };
  var T = STRINGS[lang];
  var title = attr('data-title') || 'Vetrina';
  var color = attr('data-color');
  if (!color || !(window.CSS && CSS.supports && CSS.supports('color', color))) color = DEFAULT_COLOR;

  // ---------------------------------------------------------------- small helpers

  var memoryStore = {};
  function storage(kind) {
    try {
      var s = window[kind];
      var probe = '__vetrina_probe__';
      s.setItem(probe, '1');
      s.removeItem(probe);
      return s;
    } catch (e) {
      // Storage blocked (privacy settings, sandboxed iframe): keep values for this page only.
      return {
        getItem: function (k) { return Object.prototype.hasOwnProperty.call(memoryStore, kind + k) ? memoryStore[kind + k] : null; },
        setItem: function (k, v) { memoryStore[kind + k] = String(v); },
        removeItem: function (k) { delete memoryStore[kind + k]; },
      };
    }
  }
  var local = storage('localStorage');
  var sess = storage('sessionStorage');

  function uuid() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === 'function') {
      try { return c.randomUUID(); } catch (e) { /* insecure context: fall through */ }
    }
    var b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function el(tag, className, props) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (k === 'text') node.textContent = props[k];
        else if (k.indexOf('aria-') === 0 || k.indexOf('data-') === 0 || k === 'role') node.setAttribute(k, props[k]);
        else node[k] = props[k];
      });
    }
    return node;
  }

  function svg(pathD, size) {
    var ns = 'http://www.w3.org/2000/svg';
    var s = document.createElementNS(ns, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('width', size || 20);
    s.setAttribute('height', size || 20);
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    var p = document.createElementNS(ns, 'path');
    p.setAttribute('d', pathD);
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke', 'currentColor');
    p.setAttribute('stroke-width', '2');
    p.setAttribute('stroke-linecap', 'round');
    p.setAttribute('stroke-linejoin', 'round');
    s.appendChild(p);
    return s;
  }
  var ICON_CHAT = 'M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z';
  var ICON_CLOSE = 'M6 6l12 12M18 6L6 18';
  var ICON_MENU = 'M12 5h.01M12 12h.01M12 19h.01';
  var ICON_SEND = 'M4 12l16-8-6 16-2.5-6.5L4 12z';
  var ICON_DOWN = 'M6 9l6 6 6-6';

  function safeHttpUrl(raw) {
    try {
      var u = new URL(String(raw), baseUrl);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  // Text with clickable http(s) links, built only from text nodes and <a> elements.
  var URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
  function appendRichText(parent, text, linkify) {
    text = text == null ? '' : String(text);
    if (!linkify) { parent.textContent = text; return; }
    var last = 0;
    text.replace(URL_RE, function (match, offset) {
      var url = match.replace(/[).,;:!?]+$/, '');
      if (offset > last) parent.appendChild(document.createTextNode(text.slice(last, offset)));
      var href = safeHttpUrl(url);
      if (href) {
        parent.appendChild(el('a', 'vetrina-link', { href: href, target: '_blank', rel: 'noopener noreferrer', text: url }));
      } else {
        parent.appendChild(document.createTextNode(url));
      }
      last = offset + url.length;
      return match;
    });
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function formatTime(value) {
    if (!value) return '';
    var d = new Date(value);
    if (isNaN(d.getTime())) return '';
    try {
      return d.toLocaleString(lang === 'it' ? 'it-IT' : undefined, { dateStyle: 'medium', timeStyle: 'short' });
    } catch (e) {
      return d.toLocaleString();
    }
  }

  // ---------------------------------------------------------------- styles

  // Every rule starts with #vetrina-root so it wins over the host page's element and class
  // selectors (e.g. a theme's `button {...}`) without !important.
  var R = '#vetrina-root ';
  var CSS_TEXT = [
    '#vetrina-root{--vetrina-brand:' + color + ';--vetrina-bg:#fff;--vetrina-soft:#f4f5f3;--vetrina-line:#e2e5e1;',
    '--vetrina-text:#1b1f1d;--vetrina-muted:#687069;--vetrina-danger:#b42318;',
    'position:fixed;z-index:2147483000;right:20px;bottom:20px;margin:0;padding:0;',
    'font:400 15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;',
    'color:var(--vetrina-text);-webkit-font-smoothing:antialiased;text-align:left;letter-spacing:normal;text-transform:none}',
    R + '*,' + R + '*::before,' + R + '*::after{box-sizing:border-box;font-family:inherit;letter-spacing:inherit;text-transform:none}',
    R + 'button{margin:0;padding:0;font:inherit;color:inherit;background:none;border:0;border-radius:0;cursor:pointer;',
    'box-shadow:none;min-height:0;min-width:0;width:auto;height:auto;line-height:inherit;text-decoration:none}',
    R + 'button:focus-visible{outline:2px solid var(--vetrina-brand);outline-offset:2px}',
    R + '[hidden]{display:none!important}',
    R + 'h2{margin:0;padding:0;border:0}',
    R + 'svg{display:block;flex:none}',

    R + '.vetrina-launcher{display:inline-flex;align-items:center;gap:8px;padding:12px 18px 12px 15px;border-radius:999px;',
    'background:var(--vetrina-brand);color:#fff;font-weight:600;font-size:15px;line-height:1.2;position:relative;',
    'box-shadow:0 6px 20px rgba(0,0,0,.18),0 1px 3px rgba(0,0,0,.12);transition:transform .15s ease,box-shadow .15s ease}',
    R + '.vetrina-launcher:hover{transform:translateY(-1px);box-shadow:0 10px 24px rgba(0,0,0,.22)}',
    R + '.vetrina-launcher:focus-visible{outline-offset:3px}',
    R + '.vetrina-launcher[aria-expanded="true"]{padding:13px}',
    R + '.vetrina-launcher[aria-expanded="true"] .vetrina-launcher-label{display:none}',
    R + '.vetrina-badge{position:absolute;top:-5px;right:-5px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;',
    'background:#d92d20;color:#fff;font-size:12px;font-weight:700;line-height:16px;text-align:center;border:2px solid #fff}',

    R + '.vetrina-panel{position:absolute;right:0;bottom:64px;width:380px;height:min(620px,calc(100vh - 110px));',
    'display:flex;flex-direction:column;background:var(--vetrina-bg);border-radius:16px;overflow:hidden;',
    'border:1px solid var(--vetrina-line);box-shadow:0 18px 50px rgba(0,0,0,.18),0 2px 8px rgba(0,0,0,.08)}',
    R + '.vetrina-panel.vetrina-enter{animation:vetrina-in .18s ease-out}',
    '@keyframes vetrina-in{from{opacity:0;transform:translateY(8px)}to{opacity:1;transform:none}}',

    R + '.vetrina-header{flex:none;display:flex;align-items:center;gap:12px;padding:14px 10px 14px 16px;background:var(--vetrina-brand);color:#fff}',
    R + '.vetrina-avatar{flex:none;width:38px;height:38px;border-radius:50%;background:rgba(255,255,255,.15);display:flex;',
    'align-items:center;justify-content:center;font-weight:700;font-size:16px;color:#fff;letter-spacing:.02em}',
    R + '.vetrina-heading{flex:1;min-width:0}',
    R + '.vetrina-title{font-size:16px;font-weight:650;line-height:1.25;color:#fff;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
    R + '.vetrina-status{display:flex;align-items:center;gap:6px;font-size:12.5px;color:rgba(255,255,255,.82);line-height:1.3;margin-top:2px}',
    R + '.vetrina-dot{flex:none;width:8px;height:8px;border-radius:50%;background:#a3aaa6}',
    R + '.vetrina-panel[data-state="online"] .vetrina-dot{background:#4ade80}',
    R + '.vetrina-panel[data-state="connecting"] .vetrina-dot{background:#fbbf24}',
    R + '.vetrina-close{flex:none;width:36px;height:36px;border-radius:50%;display:flex;align-items:center;justify-content:center;color:#fff}',
    R + '.vetrina-close:hover{background:rgba(255,255,255,.14)}',
    R + '.vetrina-close:focus-visible{outline-color:#fff}',
    R + '.vetrina-menu-button{flex:none;width:36px;height:36px;border-radius:50%;display:flex;align-items:center;justify-content:center;color:#fff}',
    R + '.vetrina-menu-button:hover{background:rgba(255,255,255,.14)}',
    R + '.vetrina-menu{position:absolute;top:58px;right:10px;z-index:2;min-width:200px;padding:6px 0;background:#fff;border:1px solid var(--vetrina-line);',
    'border-radius:10px;box-shadow:0 8px 24px rgba(0,0,0,.16)}',
    R + '.vetrina-menu-item{display:block;width:100%;text-align:left;padding:9px 16px;font-size:14px;color:var(--vetrina-danger)}',
    R + '.vetrina-menu-item:hover{background:var(--vetrina-soft)}',

    R + '.vetrina-messages{flex:1;min-height:0;overflow-y:auto;overscroll-behavior:contain;padding:16px 14px 10px;',
    'background:var(--vetrina-soft);display:flex;flex-direction:column;gap:6px}',
    R + '.vetrina-messages:focus-visible{outline:2px solid var(--vetrina-brand);outline-offset:-2px}',
    R + '.vetrina-msg{max-width:82%;display:flex;flex-direction:column;flex:none}',
    R + '.vetrina-msg-text{padding:9px 13px;border-radius:16px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;font-size:14.5px;line-height:1.45}',
    R + '.vetrina-msg-bot,' + R + '.vetrina-msg-consultant{align-self:flex-start}',
    R + '.vetrina-msg-bot .vetrina-msg-text,' + R + '.vetrina-msg-consultant .vetrina-msg-text{background:#fff;color:var(--vetrina-text);',
    'border:1px solid var(--vetrina-line);border-bottom-left-radius:5px}',
    R + '.vetrina-msg-consultant .vetrina-msg-text{border-left:3px solid var(--vetrina-brand)}',
    R + '.vetrina-msg-user{align-self:flex-end;align-items:flex-end}',
    R + '.vetrina-msg-user .vetrina-msg-text{background:var(--vetrina-brand);color:#fff;border-bottom-right-radius:5px}',
    R + '.vetrina-msg-user[data-status="pending"] .vetrina-msg-text{opacity:.7}',
    R + '.vetrina-msg-user[data-status="failed"] .vetrina-msg-text{background:#fff;color:var(--vetrina-text);border:1px solid var(--vetrina-danger)}',
    R + '.vetrina-msg-system{align-self:center;max-width:92%;text-align:center;margin:6px 0}',
    R + '.vetrina-msg-system .vetrina-msg-text{padding:2px 8px;font-size:12.5px;color:var(--vetrina-muted);background:none}',
    R + '.vetrina-author{font-size:11.5px;color:var(--vetrina-muted);margin:4px 4px 2px;font-weight:600}',
    R + '.vetrina-meta{font-size:11.5px;color:var(--vetrina-muted);margin:2px 4px 0;line-height:1.3}',
    R + '.vetrina-msg-user[data-status="sent"] .vetrina-meta{display:none}',
    R + '.vetrina-msg-user[data-status="failed"] .vetrina-meta{color:var(--vetrina-danger)}',
    R + '.vetrina-retry{text-decoration:underline;color:var(--vetrina-danger);font-size:11.5px;font-weight:600}',
    R + '.vetrina-link{color:inherit;text-decoration:underline;text-underline-offset:2px}',
    R + '.vetrina-image{display:block;max-width:100%;max-height:240px;border-radius:12px;margin-top:4px;border:1px solid var(--vetrina-line)}',

    R + '.vetrina-quick-replies{display:flex;flex-wrap:wrap;gap:6px;margin:2px 0 4px;align-self:flex-start;max-width:100%;flex:none}',
    R + '.vetrina-quick-reply{padding:7px 14px;border-radius:999px;border:1px solid var(--vetrina-brand);color:var(--vetrina-brand);',
    'background:#fff;font-size:13.5px;font-weight:600;line-height:1.3;transition:background .12s,color .12s}',
    R + '.vetrina-quick-reply:hover{background:var(--vetrina-brand);color:#fff}',

    R + '.vetrina-typing{align-self:flex-start;flex:none;display:flex;gap:4px;padding:13px 14px;background:#fff;',
    'border:1px solid var(--vetrina-line);border-radius:16px;border-bottom-left-radius:5px}',
    R + '.vetrina-typing span{width:7px;height:7px;border-radius:50%;background:var(--vetrina-muted);opacity:.4;animation:vetrina-blink 1.2s infinite}',
    R + '.vetrina-typing span:nth-child(2){animation-delay:.2s}' + R + '.vetrina-typing span:nth-child(3){animation-delay:.4s}',
    R + '.vetrina-typing-name{font-size:12px;font-style:normal;color:var(--vetrina-muted);margin-left:6px;align-self:center}',
    '@keyframes vetrina-blink{0%,80%,100%{opacity:.25}40%{opacity:.9}}',

    R + '.vetrina-composer{flex:none;border-top:1px solid var(--vetrina-line);background:#fff;padding:10px 10px 10px 16px}',
    R + '.vetrina-composer:focus-within{border-top-color:var(--vetrina-brand)}',
    R + '.vetrina-row{display:flex;align-items:flex-end;gap:8px}',
    R + '.vetrina-input{flex:1;min-width:0;width:auto;resize:none;border:0;outline:0;background:transparent;color:var(--vetrina-text);',
    'font:inherit;font-size:16px;line-height:1.4;padding:9px 0;margin:0;height:40px;min-height:40px;max-height:120px;box-shadow:none;border-radius:0;',
    '-webkit-appearance:none;appearance:none}',
    R + '.vetrina-input::placeholder{color:#959b97;opacity:1}',
    R + '.vetrina-send{flex:none;width:40px;height:40px;border-radius:50%;display:flex;align-items:center;justify-content:center;',
    'background:var(--vetrina-brand);color:#fff;transition:opacity .12s}',
    R + '.vetrina-send:disabled{opacity:.3;cursor:default}',
    R + '.vetrina-counter{font-size:11.5px;color:var(--vetrina-muted);text-align:right;padding:2px 48px 0 0}',
    R + '.vetrina-counter.vetrina-over{color:var(--vetrina-danger);font-weight:600}',
    R + '.vetrina-sr{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}',

    '@media (max-width:480px){',
    '#vetrina-root{right:14px;bottom:14px}',
    R + '.vetrina-panel{position:fixed;top:0;right:0;bottom:0;left:0;width:auto;height:auto;border-radius:0;border:0;',
    'padding-bottom:env(safe-area-inset-bottom)}',
    R + '.vetrina-header{padding-top:calc(14px + env(safe-area-inset-top))}',
    '#vetrina-root.vetrina-is-open .vetrina-launcher{display:none}',
    R + '.vetrina-msg{max-width:88%}}',
    '@media (prefers-reduced-motion:reduce){' + R + '*{animation:none!important;transition:none!important}}',
  ].join('\n');

  function injectStyles() {
    if (document.getElementById('vetrina-style')) return;
    var style = el('style', '', { id: 'vetrina-style' });
    if (script && script.nonce) style.nonce = script.nonce; // pages with a nonce-based CSP
    style.textContent = CSS_TEXT;
    (document.head || document.documentElement).appendChild(style);
  }

  // ---------------------------------------------------------------- DOM

  var ui = {};
  function buildDom() {
    var root = el('div', 'vetrina-root', { id: 'vetrina-root' });

    var panel = el('div', 'vetrina-panel', {
      id: 'vetrina-panel', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'vetrina-title',
      'data-state': 'offline', hidden: true,
    });

    var header = el('div', 'vetrina-header');
    var avatar = el('div', 'vetrina-avatar', { 'aria-hidden': 'true', text: (title.trim()[0] || 'V').toUpperCase() });
    var heading = el('div', 'vetrina-heading');
    var h = el('h2', 'vetrina-title', { id: 'vetrina-title', text: title });
    var status = el('div', 'vetrina-status', { 'aria-live': 'polite' });
    var dot = el('span', 'vetrina-dot', { 'aria-hidden': 'true' });
    var statusText = el('span', 'vetrina-status-text', { text: T.offline });
    status.appendChild(dot);
    status.appendChild(statusText);
    heading.appendChild(h);
    heading.appendChild(status);
    var closeBtn = el('button', 'vetrina-close', { id: 'vetrina-close', type: 'button', 'aria-label': T.close, title: T.close });
    closeBtn.appendChild(svg(ICON_CLOSE, 20));
    var menuBtn = el('button', 'vetrina-menu-button', {
      id: 'vetrina-menu-button', type: 'button', 'aria-label': T.menu, title: T.menu,
      'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': 'vetrina-menu',
    });
    menuBtn.appendChild(svg(ICON_MENU, 20));
    var menu = el('div', 'vetrina-menu', { id: 'vetrina-menu', role: 'menu', hidden: true });
    var forgetItem = el('button', 'vetrina-menu-item', { id: 'vetrina-forget', type: 'button', role: 'menuitem', text: T.forget });
    menu.appendChild(forgetItem);
    header.appendChild(avatar);
    header.appendChild(heading);
    header.appendChild(menuBtn);
    header.appendChild(closeBtn);

    var messages = el('div', 'vetrina-messages', {
      id: 'vetrina-messages', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabIndex: 0,
    });

    var composer = el('div', 'vetrina-composer');
    var row = el('div', 'vetrina-row');
    var input = el('textarea', 'vetrina-input', {
      id: 'vetrina-input', rows: 1, maxLength: MAX_LEN, placeholder: T.placeholder, 'aria-label': T.placeholder,
      autocomplete: 'off',
    });
    input.setAttribute('enterkeyhint', 'send');
    var sendBtn = el('button', 'vetrina-send', { id: 'vetrina-send', type: 'button', 'aria-label': T.send, title: T.send, disabled: true });
    sendBtn.appendChild(svg(ICON_SEND, 19));
    row.appendChild(input);
    row.appendChild(sendBtn);
    var counter = el('div', 'vetrina-counter', { id: 'vetrina-counter', 'aria-live': 'polite', hidden: true });
    composer.appendChild(row);
    composer.appendChild(counter);

    panel.appendChild(header);
    panel.appendChild(menu);
    panel.appendChild(messages);
    panel.appendChild(composer);

    var launcher = el('button', 'vetrina-launcher', {
      id: 'vetrina-launcher', type: 'button', 'aria-label': T.launcherAria, 'aria-expanded': 'false',
      'aria-controls': 'vetrina-panel', 'aria-haspopup': 'dialog',
    });
    var iconChat = svg(ICON_CHAT, 22);
    var iconDown = svg(ICON_DOWN, 24);
    iconDown.style.display = 'none';
    var label = el('span', 'vetrina-launcher-label', { text: T.launcher });
    var badge = el('span', 'vetrina-badge', { hidden: true, 'aria-hidden': 'true' });
    var badgeSr = el('span', 'vetrina-sr', { text: '' });
    launcher.appendChild(iconChat);
    launcher.appendChild(iconDown);
    launcher.appendChild(label);
    launcher.appendChild(badge);
    launcher.appendChild(badgeSr);

    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(root);

    ui = {
      root: root, panel: panel, statusText: statusText, closeBtn: closeBtn, messages: messages,
      menuBtn: menuBtn, menu: menu,
      input: input, sendBtn: sendBtn, counter: counter, launcher: launcher, iconChat: iconChat,
      iconDown: iconDown, badge: badge, badgeSr: badgeSr,
    };

    launcher.addEventListener('click', function () { if (isOpen) closePanel(); else openPanel(true); });
    closeBtn.addEventListener('click', function () { closePanel(); });
    var toggleMenu = function (show) {
      menu.hidden = !show;
      menuBtn.setAttribute('aria-expanded', show ? 'true' : 'false');
    };
    menuBtn.addEventListener('click', function () { toggleMenu(menu.hidden); });
    forgetItem.addEventListener('click', function () { toggleMenu(false); forgetChat(); ui.input.focus(); });
    panel.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' || e.key === 'Esc') { e.preventDefault(); closePanel(); }
    });
    input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submitInput();
      }
    });
    input.addEventListener('input', onInputChange);
    sendBtn.addEventListener('click', function () { submitInput(); input.focus(); });
  }

  function onInputChange() {
    var input = ui.input;
    var len = input.value.length;
    var trimmed = input.value.trim();
    ui.sendBtn.disabled = !trimmed || trimmed.length > MAX_LEN;
    if (len >= COUNTER_FROM) {
      ui.counter.hidden = false;
      ui.counter.textContent = len + ' / ' + MAX_LEN;
      ui.counter.classList.toggle('vetrina-over', len >= MAX_LEN);
    } else {
      ui.counter.hidden = true;
    }
    // auto-grow up to max-height
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, 120) + 'px';
  }

  function submitInput() {
    var text = ui.input.value;
    if (sendText(text, null) !== null) {
      ui.input.value = '';
      onInputChange();
    }
  }

  // ---------------------------------------------------------------- panel state

  var isOpen = false;
  var unread = 0;

  function openPanel(focus) {
    if (!isOpen) {
      isOpen = true;
      ui.panel.hidden = false;
      if (focus !== false) ui.panel.classList.add('vetrina-enter'); // no animation when restoring on load
      ui.root.classList.add('vetrina-is-open');
      ui.launcher.setAttribute('aria-expanded', 'true');
      ui.launcher.setAttribute('aria-label', T.close);
      ui.iconChat.style.display = 'none';
      ui.iconDown.style.display = '';
      sess.setItem(OPEN_KEY, '1');
      setUnread(0);
      scrollToBottom();
    }
    ensureConnected();
    if (focus !== false) {
      // after the panel is displayed, so the focus (and the mobile keyboard) lands on it
      setTimeout(function () { ui.input.focus(); }, 0);
    }
  }

  function closePanel() {
    if (!isOpen) return;
    isOpen = false;
    var hadFocus = ui.panel.contains(document.activeElement);
    ui.panel.hidden = true;
    ui.panel.classList.remove('vetrina-enter');
    ui.root.classList.remove('vetrina-is-open');
    ui.launcher.setAttribute('aria-expanded', 'false');
    ui.launcher.setAttribute('aria-label', T.launcherAria);
    ui.iconChat.style.display = '';
    ui.iconDown.style.display = 'none';
    sess.setItem(OPEN_KEY, '0');
    if (hadFocus) ui.launcher.focus();
  }

  function setUnread(n) {
    unread = n;
    ui.badge.hidden = n === 0;
    ui.badge.textContent = n > 9 ? '9+' : String(n);
    ui.badgeSr.textContent = n ? ', ' + n + ' ' + T.unread : '';
  }

  // The header's "online" line: the server's (vetrina_status: are consultants on duty?)
  // once it has said it, else the default.
  var onlineText = T.online;

  function setState(state) {
    ui.panel.setAttribute('data-state', state);
    ui.statusText.textContent = state === 'online' ? onlineText : T[state];
  }

  // ---------------------------------------------------------------- message list

  var quickRepliesEl = null;
  var typingEl = null;
  var typingTimer = null;
  // The first name of the consultant holding the chat, or null while the assistant answers:
  // no bot typing dots then, only the consultant's own typing (vetrina_typing).
  var personName = null;

  function noteAuthor(kind, name) {
    if (name) personName = String(name);
    else if (kind === 'bot') personName = null;
  }

  function scrollToBottom() {
    var m = ui.messages;
    m.scrollTop = m.scrollHeight;
  }

  // Keeps the typing indicator last.
  function appendNode(node) {
    if (typingEl && typingEl.parentNode === ui.messages) ui.messages.insertBefore(node, typingEl);
    else ui.messages.appendChild(node);
    scrollToBottom();
  }

  function removeQuickReplies() {
    if (quickRepliesEl && quickRepliesEl.parentNode) quickRepliesEl.parentNode.removeChild(quickRepliesEl);
    quickRepliesEl = null;
  }

  function kindOf(author, direction) {
    if (author === 'customer' || author === 'user') return 'user';
    if (author === 'consultant') return 'consultant';
    if (author === 'system') return 'system';
    if (author === 'bot') return 'bot';
    return direction === 'in' ? 'user' : 'bot';
  }

  function renderMessage(kind, text, opts) {
    opts = opts || {};
    var node = el('div', 'vetrina-msg vetrina-msg-' + kind);
    if (opts.id != null) node.setAttribute('data-id', String(opts.id));
    if (kind === 'consultant') {
      var who = opts.consultantName ? String(opts.consultantName) + ' \u00b7 ' + T.consultant : T.consultant;
      node.appendChild(el('div', 'vetrina-author', { text: who }));
    }
    var hasText = text != null && String(text) !== '';
    if (hasText) {
      var bubble = el('div', 'vetrina-msg-text');
      appendRichText(bubble, text, kind !== 'system');
      node.appendChild(bubble);
    }
    var image = opts.attachment && imageUrlOf(opts.attachment);
    if (image) node.appendChild(el('img', 'vetrina-image', { src: image, alt: '', loading: 'lazy', referrerPolicy: 'no-referrer' }));
    if (!hasText && !image) return null;
    var time = formatTime(opts.createdAt);
    if (time) node.title = time;
    appendNode(node);
    return node;
  }

  function imageUrlOf(att) {
    // Rasa: {type: "image", payload: {src: "..."}}; also accept {type: "image", url: "..."}
    if (!att || typeof att !== 'object') return null;
    if (att.type && att.type !== 'image') return null;
    var src = (att.payload && (att.payload.src || att.payload.url)) || att.src || att.url;
    return src ? safeHttpUrl(src) : null;
  }

  function renderQuickReplies(replies) {
    removeQuickReplies();
    if (!Array.isArray(replies) || !replies.length) return;
    var box = el('div', 'vetrina-quick-replies', { role: 'group' });
    replies.forEach(function (qr) {
      if (!qr || qr.title == null) return;
      var titleText = String(qr.title);
      var payload = qr.payload != null && qr.payload !== '' ? String(qr.payload) : titleText;
      var link = qr.type === 'web_url' && typeof qr.url === 'string' && /^https?:\/\//.test(qr.url);
      if (link) { // e.g. "Aggiungi al calendario": opens the link, sends nothing to the bot
        var a = el('a', 'vetrina-quick-reply', { text: titleText });
        a.href = qr.url;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        box.appendChild(a);
        return;
      }
      var b = el('button', 'vetrina-quick-reply', { type: 'button', text: titleText });
      b.addEventListener('click', function () {
        removeQuickReplies();
        if (payload === SHARE_LOCATION) shareLocation();
        else sendText(payload, titleText);
        ui.input.focus();
      });
      box.appendChild(b);
    });
    if (!box.childNodes.length) return;
    quickRepliesEl = box;
    appendNode(box);
  }

  // A quick reply whose payload is exactly "/share_location" asks the browser for the
  // position and sends it as "/share_location{"latitude":..,"longitude":..}". If the
  // shopper refuses (or the browser cannot), nothing is sent: a local line asks for a city.
  var SHARE_LOCATION = '/share_location';

  function shareLocation() {
    var refused = function () { renderMessage('system', T.noLocation); };
    if (!navigator.geolocation) { // old browser; an insecure page is refused by the browser itself
      refused();
      return;
    }
    navigator.geolocation.getCurrentPosition(function (position) {
      var lat = Math.round(position.coords.latitude * 1e5) / 1e5;
      var lon = Math.round(position.coords.longitude * 1e5) / 1e5;
      sendText(SHARE_LOCATION + JSON.stringify({ latitude: lat, longitude: lon }),
        '\ud83d\udccd ' + lat.toFixed(4) + ', ' + lon.toFixed(4));
    }, refused, { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 });
  }

  // No name: the assistant's dots after a message is sent (none while a person holds the
  // chat). A name: "Giulia sta scrivendo...", shown while the consultant types.
  function showTyping(name) {
    if (!name && personName) return;
    var label = name ? T.personTyping.replace('{name}', String(name)) : T.typing;
    if (typingEl && typingEl.getAttribute('aria-label') !== label) { hideTyping(); typingEl = null; }
    if (!typingEl) {
      typingEl = el('div', 'vetrina-typing' + (name ? ' vetrina-typing-person' : ''), { role: 'status', 'aria-label': label });
      for (var i = 0; i < 3; i++) typingEl.appendChild(el('span'));
      if (name) typingEl.appendChild(el('em', 'vetrina-typing-name', { text: label }));
    }
    ui.messages.appendChild(typingEl);
    scrollToBottom();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, name ? PERSON_TYPING_MS : TYPING_TIMEOUT_MS);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    typingTimer = null;
    if (typingEl && typingEl.parentNode) typingEl.parentNode.removeChild(typingEl);
  }

  // A local greeting, always the first line of the list; never sent, never in the history.
  function showWelcome() {
    if (ui.messages.querySelector('.vetrina-welcome')) return;
    var node = renderMessage('bot', T.welcome);
    if (!node) return;
    node.classList.add('vetrina-welcome');
    ui.messages.insertBefore(node, ui.messages.firstChild);
  }

  function clearMessages() {
    removeQuickReplies();
    var keepTyping = typingEl && typingEl.parentNode === ui.messages;
    while (ui.messages.firstChild) ui.messages.removeChild(ui.messages.firstChild);
    if (keepTyping) ui.messages.appendChild(typingEl);
  }

  // ---------------------------------------------------------------- outbox

  // message_id -> {id, text, display, state: "pending"|"sent"|"failed", serverId, node}
  // Lives only in page memory: after a reload the server's history is the source of truth.
  var outbox = new Map();
  var context = {};

  function setStatus(entry, state) {
    entry.state = state;
    var node = entry.node;
    node.setAttribute('data-status', state);
    var meta = node.querySelector('.vetrina-meta');
    meta.textContent = '';
    if (state === 'pending') meta.textContent = T.pending;
    if (state === 'failed') {
      meta.appendChild(document.createTextNode(T.failed + ' \u00b7 '));
      var retry = el('button', 'vetrina-retry', { type: 'button', text: T.retry });
      retry.addEventListener('click', function () {
        setStatus(entry, 'pending');
        if (trySend(entry)) showTyping();
      });
      meta.appendChild(retry);
    }
  }

  function sendText(raw, displayText) {
    var text = String(raw == null ? '' : raw).trim();
    if (!text) return null;
    if (text.length > MAX_LEN) {
      renderMessage('system', T.tooLong + ' (' + text.length + ' / ' + MAX_LEN + ').');
      return null;
    }
    var display = displayText != null && String(displayText).trim() ? String(displayText) : text;
    var entry = {
      id: uuid(), text: text, display: display, state: 'pending', serverId: null, node: null,
      page: Object.assign({ url: location.href }, context),
    };
    removeQuickReplies();
    var node = renderMessage('user', display);
    node.setAttribute('data-message-id', entry.id);
    node.appendChild(el('div', 'vetrina-meta'));
    entry.node = node;
    setStatus(entry, 'pending');
    outbox.set(entry.id, entry);
    ensureConnected();
    if (trySend(entry)) showTyping(); // queued while offline: the indicator waits for the send
    return entry.id;
  }

  function trySend(entry) {
    if (!socket || !socket.connected || !sessionReady) return false; // queued: sent on (re)connect
    socket.emit('user_uttered', {
      message: entry.text,
      session_id: sessionId,
      customData: {
        message_id: entry.id,
        language: navigator.language || lang,
        display_text: entry.display,
        page: entry.page,
      },
    });
    return true;
  }

  function flushOutbox() {
    var sent = false;
    outbox.forEach(function (entry) {
      if (entry.state === 'pending' && trySend(entry)) sent = true;
    });
    if (sent) showTyping();
  }

  // ---------------------------------------------------------------- socket

  var socket = null;
  var sessionId = local.getItem(SESSION_KEY) || null;
  var shownIds = new Set(); // reply ids on screen (string)
  var seenQueue = [];
  var seenTimer = null;

  // Confirm to the server that replies are on screen, in small batches.
  function confirmSeen(id) {
    if (!isFinite(id)) return;
    seenQueue.push(id);
    if (seenTimer) return;
    seenTimer = setTimeout(function () {
      seenTimer = null;
      var ids = seenQueue.splice(0, seenQueue.length);
      if (ids.length && socket && socket.connected) socket.emit('vetrina_seen', { ids: ids });
    }, 50);
  }

  function lastSystemText() {
    var all = ui.messages.querySelectorAll('.vetrina-msg-system .vetrina-msg-text');
    return all.length ? all[all.length - 1].textContent : null;
  }

  // "Cancella questa chat": this device forgets the session; the server starts a new one.
  function forgetChat() {
    local.removeItem(SESSION_KEY);
    sessionId = null;
    sessionReady = false;
    shownIds.clear();
    outbox.clear();
    clearMessages();
    showWelcome();
    if (socket && socket.connected) requestSession();
    else ensureConnected();
  }

  function requestSession() {
    var request = { session_id: sessionId, language: lang };
    request.vetrina = 1; // Vetrina's extension: reply ids, authors, vetrina_seen
    // With every session request: a shop login opens the account's chat only for the
    // socket that shows a valid token.
    if (identityToken) request.identity_token = identityToken;
    socket.emit('session_request', request);
  }
  var sessionReady = false;
  var loadingClient = null;
  // Bot messages (with a server id) received while a history request is outstanding: if the
  // history was read before they were stored, they are put back after it.
  var liveSinceHistoryRequest = null;

  function loadSocketIo() {
    // socket.io v3/v4 has no io.protocol on the global (or 5); v2 (protocol 4) cannot talk to the server.
    if (typeof window.io === 'function' && (window.io.protocol === undefined || window.io.protocol === 5)) {
      return Promise.resolve(window.io);
    }
    if (loadingClient) return loadingClient;
    loadingClient = new Promise(function (resolve, reject) {
      var previous = window.io; // an incompatible (or missing) client on the host page: keep it as it was
      var amdDefine = typeof window.define === 'function' && window.define.amd ? window.define : null;
      var amd = amdDefine ? amdDefine.amd : null;
      if (amdDefine) amdDefine.amd = undefined; // RequireJS pages (e.g. Magento): make the UMD bundle set a global
      var tag = el('script', '', { src: vendorUrl, async: true });
      if (script && script.nonce) tag.nonce = script.nonce;
      if (script && script.crossOrigin) tag.crossOrigin = script.crossOrigin;
      var done = function () { if (amdDefine) amdDefine.amd = amd; };
      tag.onload = function () {
        done();
        var ours = window.io;
        if (previous !== undefined) window.io = previous;
        if (typeof ours === 'function') resolve(ours);
        else { loadingClient = null; reject(new Error('socket.io client did not load')); }
      };
      tag.onerror = function () {
        done();
        loadingClient = null;
        if (tag.parentNode) tag.parentNode.removeChild(tag);
        reject(new Error('cannot load ' + vendorUrl));
      };
      (document.head || document.documentElement).appendChild(tag);
    });
    return loadingClient;
  }

  var retryLoadTimer = null;
  function ensureConnected() {
    if (socket || retryLoadTimer) return;
    setState('connecting');
    loadSocketIo().then(connect, function () {
      setState('offline');
      retryLoadTimer = setTimeout(function () { retryLoadTimer = null; ensureConnected(); }, 5000);
    });
  }

  function connect(io) {
    if (socket) return;
    socket = io(baseUrl.origin, {
      path: socketPath,
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 10000,
    });

    socket.on('connect', function () {
      sessionReady = false;
      setState('connecting');
      requestSession();
    });

    socket.on('session_confirm', function (data) {
      var id = typeof data === 'string' ? data : data && data.session_id;
      if (!id) return;
      if (sessionId && String(id) !== sessionId) shownIds.clear(); // a new chat
      sessionId = String(id);
      local.setItem(SESSION_KEY, sessionId);
      sessionReady = true;
      setState('online');
      liveSinceHistoryRequest = [];
      socket.emit('history_request', { session_id: sessionId });
      flushOutbox(); // the server dedupes on customData.message_id
    });

    socket.on('history', onHistory);

    socket.on('message_ack', function (data) {
      var entry = data && outbox.get(data.message_id);
      if (!entry) return;
      entry.serverId = data.id != null ? String(data.id) : null;
      if (entry.serverId != null) {
        // history may already show this message (sent before a reconnect): keep one copy
        var dupes = ui.messages.querySelectorAll('.vetrina-msg-user[data-id]');
        Array.prototype.forEach.call(dupes, function (n) {
          if (n !== entry.node && n.getAttribute('data-id') === entry.serverId && n.parentNode) n.parentNode.removeChild(n);
        });
        entry.node.setAttribute('data-id', entry.serverId);
      }
      setStatus(entry, 'sent');
    });

    socket.on('bot_uttered', function (data) {
      if (!data || typeof data !== 'object') return;
      // Delivery is at least once: the server sends a reply again until it is confirmed
      // (vetrina_seen); each id is shown once, and confirmed every time it comes.
      if (data.id != null) {
        var rid = String(Number(data.id));
        confirmSeen(Number(data.id));
        if (shownIds.has(rid) || ui.messages.querySelector('.vetrina-msg[data-id="' + rid + '"]:not(.vetrina-msg-user)')) return;
        shownIds.add(rid);
      }
      hideTyping();
      var kind = kindOf(data.author, 'out');
      if (kind === 'user') kind = 'bot';
      noteAuthor(kind, data.consultant_name);
      var node = renderMessage(kind, data.text, { attachment: data.attachment, id: data.id, consultantName: data.consultant_name });
      if (node && liveSinceHistoryRequest && data.id != null) liveSinceHistoryRequest.push({ node: node, id: String(data.id), kind: kind, quick_replies: data.quick_replies });
      renderQuickReplies(data.quick_replies || data.buttons);
      if (node && !isOpen) setUnread(unread + 1);
    });

    socket.on('vetrina_typing', function (data) {
      if (!data || typeof data.name !== 'string' || !data.name) return;
      personName = data.name;
      showTyping(data.name);
    });

    socket.on('vetrina_status', function (data) {
      if (!data || typeof data.header !== 'string' || !data.header) return;
      onlineText = data.header;
      if (ui.panel.getAttribute('data-state') === 'online') setState('online');
    });

    socket.on('notice', function (data) {
      if (!data) return;
      hideTyping();
      renderMessage('system', data.text);
    });

    socket.on('vetrina_error', function (data) {
      if (!data) return;
      hideTyping();
      if (data.message && lastSystemText() !== data.message) renderMessage('system', data.message);
      // A refused identity token comes before the history, which redraws the list: say it
      // again after the history.
      if (data.message && /^identity_token_/.test(data.code || '')) identityNotice = data.message;
      if (/^identity_token_/.test(data.code || '')) identityToken = null; // the page may identify() again
      // The session could not be opened (the database restarting): ask again shortly.
      if (!sessionReady && data.code === 'temporarily_unavailable' && !data.message_id) {
        setTimeout(function () { if (socket && socket.connected && !sessionReady) requestSession(); }, 2000);
      }
      var entry = data.message_id && outbox.get(data.message_id);
      if (entry) setStatus(entry, 'failed');
    });

    socket.on('disconnect', function () {
      sessionReady = false;
      setState('offline');
    });
    socket.on('connect_error', function () {
      sessionReady = false;
      setState('offline');
    });
    socket.io.on('reconnect_attempt', function () {
      if (!socket.connected) setState('connecting');
    });
  }

  function onHistory(data) {
    var items = data && Array.isArray(data.messages) ? data.messages : [];
    clearMessages();
    showWelcome();
    var allIds = new Set();
    var seenServerIds = new Set();
    var seenMessageIds = new Set();
    var last = null;
    items.forEach(function (m) {
      if (!m) return;
      var kind = kindOf(m.author, m.direction);
      if (m.direction === 'out') noteAuthor(kind, m.consultant_name);
      var node = renderMessage(kind, m.text, { id: m.id, createdAt: m.created_at, attachment: m.attachment, consultantName: m.consultant_name });
      if (m.direction === 'out' && m.id != null) { confirmSeen(Number(m.id)); shownIds.add(String(Number(m.id))); }
      if (!node) return;
      if (m.id != null) allIds.add(String(m.id));
      if (kind === 'user') {
        node.setAttribute('data-status', 'sent');
        if (m.id != null) seenServerIds.add(String(m.id));
        var mid = m.message_id || m.client_message_id;
        if (mid) { seenMessageIds.add(String(mid)); node.setAttribute('data-message-id', String(mid)); }
      }
      last = { kind: kind, m: m };
    });
    (liveSinceHistoryRequest || []).forEach(function (live) {
      if (!allIds.has(live.id)) { appendNode(live.node); last = { kind: live.kind, m: live }; }
    });
    liveSinceHistoryRequest = null;
    if (identityNotice) { renderMessage('system', identityNotice); identityNotice = null; }
    // Messages of this page that the history does not contain yet (queued, or in flight).
    outbox.forEach(function (entry, mid) {
      var inHistory = seenMessageIds.has(mid) || (entry.serverId != null && seenServerIds.has(entry.serverId));
      if (inHistory) {
        if (entry.state === 'sent') outbox.delete(mid);
        else if (entry.serverId == null) {
          // already stored by the server (ack lost): point the history copy at this entry
          var copy = ui.messages.querySelector('.vetrina-msg-user[data-message-id="' + mid + '"]'); // our uuid
          if (copy) { copy.appendChild(el('div', 'vetrina-meta')); entry.node = copy; setStatus(entry, entry.state); }
        }
        return;
      }
      appendNode(entry.node);
      last = { kind: 'user' };
    });
    if (last && (last.kind === 'bot' || last.kind === 'consultant') && last.m) renderQuickReplies(last.m.quick_replies);
    scrollToBottom();
  }

  // ---------------------------------------------------------------- public API

  var api = {
    __vetrina: true,
    open: function () { openPanel(true); },
    close: function () { closePanel(); },
    send: function (text) { return sendText(text, null); },
    forget: function () { forgetChat(); },
    identify: function (token) {
      if (typeof token !== 'string' || !token) return;
      identityToken = token;
      if (socket && socket.connected && sessionReady) {
        socket.emit('identify', { identity_token: token, language: lang });
      } else {
        ensureConnected();
      }
    },
    setContext: function (obj) {
      if (obj == null) { context = {}; return; }
      if (typeof obj !== 'object') return;
      var copy;
      try { copy = JSON.parse(JSON.stringify(obj)); } catch (e) { return; } // plain data only
      Object.keys(obj).forEach(function (k) {
        if (obj[k] == null) delete context[k];
        else if (k in copy) context[k] = copy[k];
      });
    },
  };

  function init() {
    injectStyles();
    buildDom();
    window.VetrinaChat = api;
    showWelcome();
    if (sess.getItem(OPEN_KEY) === '1') openPanel(false);
    else if (sessionId) ensureConnected(); // a returning shopper: receive replies, show the badge
  }

  // Calls made before the widget loaded: window.VetrinaChat = window.VetrinaChat || {q: []}
  var earlyCalls = window.VetrinaChat && Array.isArray(window.VetrinaChat.q) ? window.VetrinaChat.q : [];
  window.VetrinaChat = api;

  function start() {
    init();
    earlyCalls.forEach(function (call) {
      if (call && typeof api[call[0]] === 'function') api[call[0]].apply(api, call.slice(1));
    });
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
