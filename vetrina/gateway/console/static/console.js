/* Vetrina consultant console. Every piece of text from customers (and from anyone) is
 * put on the page with textContent, never as HTML. State-changing requests send the
 * session's CSRF token in X-CSRF-Token. Live updates come over /console/ws.
 *
 * One language per consultant: Italian or English, chosen in the header's settings and
 * saved on their account (PUT /console/api/me/language); localStorage and a cookie keep
 * it for the login page and until /me answers (the first time, the browser decides). */
(function () {
  'use strict';

  var T = {
    it: {
      console: 'Console', presence: 'Stato', online: 'Disponibile', away: 'Assente', offline: 'Non in linea',
      day_sheets: 'Fogli del giorno', settings: 'Impostazioni', language: 'Lingua',
      insights: 'Risultati', administration: 'Amministrazione',
      notify_sound: 'Suono', notify_desktop: 'Notifiche sul desktop', notify_title: 'Conteggio nel titolo',
      logout: 'Esci', lists: 'Conversazioni', waiting: 'In attesa', mine: 'Le mie chat', team: 'Colleghi',
      merge_title: 'Unisci clienti', merge_survivor: 'Cliente che resta (id)', merge_merged: 'Cliente da unire (id)',
      merge_reason: 'Motivo', merge: 'Unisci', merge_id: 'Unione n.', undo_merge: "Annulla l'unione",
      pick: 'Scegli una conversazione dalla coda.', back: '← Elenco', back_conversation: '← Conversazione',
      claim: 'Prendi in carico', hand_back: "Restituisci all'assistente", close: 'Chiudi',
      transfer_to: 'Trasferisci a', transfer: 'Trasferisci', profile: 'Profilo', messages: 'Messaggi',
      newest: 'Nuovi messaggi ↓', reply: 'Rispondi al cliente',
      reply_hint: 'Rispondi al cliente (Invio invia, Maiusc+Invio va a capo)', send: 'Invia',
      customer: 'Cliente', conversation: 'Conversazione', bookings: 'Prenotazioni', orders: 'Acquisti', o_refund: 'Reso', o_pos: 'in negozio', o_web: 'online', checks: 'Ricerche di disponibilità', stock: 'Disponibilità',
      stock_q: 'Prodotto, taglia, colore', store_code: 'Negozio (codice)', look_up: 'Cerca',
      book: 'Prenota una prova', date: 'Giorno', skus: 'Articoli (SKU, separati da virgola)', slots: 'Orari liberi',
      live_online: 'Collegato', live_offline: 'Non collegato, riprovo…', live_connecting: 'Collegamento…',
      nobody_waiting: 'Nessuno in attesa', no_chats: 'Nessuna chat', general_queue: 'Coda generale',
      store: 'Negozio {s}', sheet_link: 'Prove {s}', choose_transfer: '— scegli —',
      st_waiting: 'In attesa', st_with_consultant: 'Con {name}', st_with_you: 'Con te', st_bot: "Con l'assistente",
      st_closed: 'Chiusa',
      r_customer_asked: 'Chiede una persona', r_not_understood: "L'assistente non ha capito",
      r_bot_cannot_answer: "L'assistente non sa rispondere", r_transfer: 'Trasferita',
      waited_now: 'In attesa da meno di un minuto', waited_min: 'In attesa da {n} min', waited_h: 'In attesa da {h} h {m} min',
      web: 'Web', whatsapp: 'WhatsApp', instagram: 'Instagram', shop: 'Sito',
      web_customer: 'Visitatore web n. {n}', someone: 'Cliente n. {n}',
      a_customer: 'Cliente', a_bot: 'Assistente', a_consultant: 'Consulente', a_system: 'Sistema',
      name: 'Nome', lang: 'Lingua', sizes: 'Taglie', favourite: 'Negozio preferito', channel: 'Canale',
      phone: 'Telefono', ig: 'Instagram',
      b_confirmed: 'Confermata', b_cancelled: 'Annullata', b_completed: 'Completata', b_no_show: 'Non presentato',
      in_stock: 'Disponibile ({n})', last_pieces: 'Ultimi pezzi ({n})', out_of_stock: 'Esaurito',
      s_in_stock: 'Disponibile', s_last_pieces: 'Ultimi pezzi', s_out_of_stock: 'Esaurito',
      o_answer: 'Trovato', o_ask_product: 'Quale prodotto?', o_unknown_product: 'Prodotto non trovato',
      o_ambiguous_product: 'Più prodotti: scegline uno', o_unknown_colour: 'Colore non disponibile',
      o_unknown_size: 'Taglia non disponibile', o_ask_store: 'Indica un negozio', o_need_location: 'Indica un negozio',
      also_in: 'Anche in', no_slot: 'Nessun orario libero', booked: 'Prenotato: {code}', places: '{n} posti',
      tz_note: 'Orari del negozio ({tz})',
      n_waiting: 'Nuova richiesta in attesa', n_message: 'Nuovo messaggio da {name}', merged: 'Unione n. {id} fatta',
      undone: 'Unione annullata', held: 'Non consegnato', failed: 'Invio fallito',
      canned_title: 'Risposte rapide', canned_list: 'Risposte rapide: scegli con le frecce, Invio per inserire',
      canned_store: 'Negozio (codice, vuoto per tutti)', canned_language: 'Lingua', canned_shortcut: 'Scorciatoia (dopo /)',
      canned_name: 'Titolo', canned_text: 'Testo', canned_save: 'Salva risposta', canned_new: 'Nuova risposta',
      canned_edit: 'Modifica', canned_delete: 'Elimina', canned_saved: 'Risposta salvata', canned_deleted: 'Risposta eliminata',
      all_stores: 'Tutti i negozi', no_canned: 'Nessuna risposta rapida',
      search_title: 'Cerca conversazioni', search_q: 'Nome, telefono, Instagram, prenotazione o testo',
      filters: 'Filtri', f_store: 'Negozio', all_channels: 'Tutti i canali', f_status: 'Stato', f_any: 'Qualsiasi',
      f_mine: 'Con me', f_everyone: 'Con un consulente', f_from: 'Dal giorno', f_to: 'Al giorno', search: 'Cerca',
      search_clear: 'Chiudi la ricerca', search_results: 'Risultati della ricerca', search_more: 'Altri risultati',
      no_results: 'Nessuna conversazione trovata', reopen: 'Riapri',
      shortcuts: 'Scorciatoie', keys_where: 'Fuori dai campi di testo:',
      key_claim: 'Prendi in carico la conversazione aperta', key_hand_back: "Restituiscila all'assistente",
      key_next: 'Apri la prossima conversazione in attesa', key_search: 'Vai alla ricerca', key_reply: 'Vai alla risposta',
      key_help: 'Mostra queste scorciatoie', close_help: 'Chiudi',
      keys_reply: 'Nella risposta: / e la scorciatoia inserisce una risposta rapida; Invio invia, Maiusc+Invio va a capo.',
      note: 'Nota privata', note_hint: 'Nota privata per i colleghi (il cliente non la vede)', add_note: 'Aggiungi nota'
    },
    en: {
      console: 'Console', presence: 'Status', online: 'Available', away: 'Away', offline: 'Offline',
      day_sheets: 'Day sheets', settings: 'Settings', language: 'Language',
      insights: 'Insights', administration: 'Administration',
      notify_sound: 'Sound', notify_desktop: 'Desktop notifications', notify_title: 'Count in the tab title',
      logout: 'Log out', lists: 'Conversations', waiting: 'Waiting', mine: 'My chats', team: 'Colleagues',
      merge_title: 'Merge customers', merge_survivor: 'Customer who stays (id)', merge_merged: 'Customer to merge (id)',
      merge_reason: 'Reason', merge: 'Merge', merge_id: 'Merge no.', undo_merge: 'Undo the merge',
      pick: 'Pick a conversation from the queue.', back: '← Lists', back_conversation: '← Conversation',
      claim: 'Claim', hand_back: 'Hand back to the assistant', close: 'Close',
      transfer_to: 'Transfer to', transfer: 'Transfer', profile: 'Profile', messages: 'Messages',
      newest: 'New messages ↓', reply: 'Reply to the customer',
      reply_hint: 'Reply to the customer (Enter sends, Shift+Enter adds a line)', send: 'Send',
      customer: 'Customer', conversation: 'Conversation', bookings: 'Bookings', orders: 'Purchases', o_refund: 'Refund', o_pos: 'in store', o_web: 'online', checks: 'Stock checks', stock: 'Stock',
      stock_q: 'Product, size, colour', store_code: 'Store (code)', look_up: 'Look up',
      book: 'Book a try-on', date: 'Day', skus: 'Items (SKUs, comma separated)', slots: 'Free times',
      live_online: 'Connected', live_offline: 'Disconnected, retrying…', live_connecting: 'Connecting…',
      nobody_waiting: 'Nobody waiting', no_chats: 'No chats', general_queue: 'General queue',
      store: 'Store {s}', sheet_link: 'Try-ons {s}', choose_transfer: '— choose —',
      st_waiting: 'Waiting', st_with_consultant: 'With {name}', st_with_you: 'With you', st_bot: 'With the assistant',
      st_closed: 'Closed',
      r_customer_asked: 'Asked for a person', r_not_understood: 'The assistant did not understand',
      r_bot_cannot_answer: 'The assistant cannot answer', r_transfer: 'Transferred',
      waited_now: 'Waiting for under a minute', waited_min: 'Waiting for {n} min', waited_h: 'Waiting for {h} h {m} min',
      web: 'Web', whatsapp: 'WhatsApp', instagram: 'Instagram', shop: 'Website',
      web_customer: 'Web visitor no. {n}', someone: 'Customer no. {n}',
      a_customer: 'Customer', a_bot: 'Assistant', a_consultant: 'Consultant', a_system: 'System',
      name: 'Name', lang: 'Language', sizes: 'Sizes', favourite: 'Favourite store', channel: 'Channel',
      phone: 'Phone', ig: 'Instagram',
      b_confirmed: 'Confirmed', b_cancelled: 'Cancelled', b_completed: 'Completed', b_no_show: 'No-show',
      in_stock: 'In stock ({n})', last_pieces: 'Last pieces ({n})', out_of_stock: 'Sold out',
      s_in_stock: 'In stock', s_last_pieces: 'Last pieces', s_out_of_stock: 'Sold out',
      o_answer: 'Found', o_ask_product: 'Which product?', o_unknown_product: 'Product not found',
      o_ambiguous_product: 'Several products: pick one', o_unknown_colour: 'Colour not available',
      o_unknown_size: 'Size not available', o_ask_store: 'Give a store', o_need_location: 'Give a store',
      also_in: 'Also in', no_slot: 'No free time', booked: 'Booked: {code}', places: '{n} places',
      tz_note: "Store's times ({tz})",
      n_waiting: 'New conversation waiting', n_message: 'New message from {name}', merged: 'Merge no. {id} done',
      undone: 'Merge undone', held: 'Not delivered', failed: 'Sending failed',
      canned_title: 'Canned replies', canned_list: 'Canned replies: pick with the arrows, Enter to insert',
      canned_store: 'Store (code, empty for all)', canned_language: 'Language', canned_shortcut: 'Shortcut (after /)',
      canned_name: 'Title', canned_text: 'Text', canned_save: 'Save reply', canned_new: 'New reply',
      canned_edit: 'Edit', canned_delete: 'Delete', canned_saved: 'Reply saved', canned_deleted: 'Reply deleted',
      all_stores: 'All stores', no_canned: 'No canned replies',
      search_title: 'Search conversations', search_q: 'Name, phone, Instagram, booking or text',
      filters: 'Filters', f_store: 'Store', all_channels: 'All channels', f_status: 'Status', f_any: 'Any',
      f_mine: 'With me', f_everyone: 'With a consultant', f_from: 'From day', f_to: 'To day', search: 'Search',
      search_clear: 'Close the search', search_results: 'Search results', search_more: 'More results',
      no_results: 'No conversation found', reopen: 'Reopen',
      shortcuts: 'Shortcuts', keys_where: 'Outside text fields:',
      key_claim: 'Claim the open conversation', key_hand_back: 'Hand it back to the assistant',
      key_next: 'Open the next waiting conversation', key_search: 'Go to the search', key_reply: 'Go to the reply',
      key_help: 'Show these shortcuts', close_help: 'Close',
      keys_reply: 'In the reply: / and a shortcut inserts a canned reply; Enter sends, Shift+Enter adds a line.',
      note: 'Private note', note_hint: 'Private note for colleagues (the customer never sees it)', add_note: 'Add note'
    }
  };
  var LANGUAGE_NAMES = { it: 'Italiano', en: 'English', es: 'Español', fr: 'Français', de: 'Deutsch' };
  var PREFS = 'vetrina.console.';
  var BASE_TITLE = 'Vetrina — Console';

  var CSRF = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  var lang = 'it';
  var me = null;
  var openId = null;
  var openState = null;
  var lastData = null;
  var queueData = { waiting: [], mine: [] };
  var knownWaiting = null;  // ids of the waiting conversations already seen (null: first load)
  var unread = {};  // conversation id -> customer messages not yet read
  var shown = {};
  var ws = null;
  var reloadTimer = null;
  var audio = null;

  function $(id) { return document.getElementById(id); }

  function pref(name, fallback) {
    try { var v = window.localStorage.getItem(PREFS + name); return v === null ? fallback : v; }
    catch (e) { return fallback; }
  }
  function setPref(name, value) { try { window.localStorage.setItem(PREFS + name, value); } catch (e) { /* private mode */ } }

  function t(key, values) {
    var text = (T[lang] && T[lang][key]) || T.en[key] || key;
    Object.keys(values || {}).forEach(function (k) { text = text.split('{' + k + '}').join(String(values[k])); });
    return text;
  }

  function el(tag, className, text, attrs) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function api(method, path, body) {
    var options = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      options.headers['X-CSRF-Token'] = CSRF;
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body || {});
    }
    return fetch(path, options).then(function (response) {
      if (response.status === 401) { window.location = '/console/login'; throw new Error('logged out'); }
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error((data.error && data.error.message) || ('HTTP ' + response.status));
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  // --- language -----------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = lang;
    $('lang').value = lang;
    document.querySelectorAll('[data-i18n]').forEach(function (node) { node.textContent = t(node.getAttribute('data-i18n')); });
    document.querySelectorAll('[data-i18n-placeholder]').forEach(function (node) { node.placeholder = t(node.getAttribute('data-i18n-placeholder')); });
    document.querySelectorAll('[data-i18n-store]').forEach(function (node) { node.textContent = t('sheet_link', { s: node.getAttribute('data-i18n-store') }); });
    document.querySelectorAll('[data-i18n-aria-label]').forEach(function (node) { node.setAttribute('aria-label', t(node.getAttribute('data-i18n-aria-label'))); });
    document.cookie = 'vetrina_console_lang=' + lang + '; path=/console; SameSite=Strict; max-age=31536000';
    setLive($('live').getAttribute('data-state'));
  }

  // --- words for states, reasons, people ----------------------------------------------------------

  function channelLabel(channel) {
    // the icon is drawn by the stylesheet (.channel[data-channel]::before), the name is text
    return el('span', 'channel', t(channel || 'web'), { 'data-channel': channel || '' });
  }

  function customerLabel(state) {
    if (state.customer_name) return state.customer_name;
    if (state.customer_instagram) return state.customer_instagram;
    if (state.customer_phone) return state.customer_phone;
    return t(state.channel === 'web' ? 'web_customer' : 'someone', { n: state.conversation_id });
  }

  function statusLabel(state) {
    if (state.status === 'with_consultant') {
      if (me && state.owner_id === me.id) return t('st_with_you');
      return t('st_with_consultant', { name: state.owner_name || '?' });
    }
    return t('st_' + state.status);
  }

  function reasonLabel(reason) { return reason ? t('r_' + reason) : ''; }

  function waited(seconds) {
    if (seconds === null || seconds === undefined) return '';
    if (seconds < 60) return t('waited_now');
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return t('waited_min', { n: minutes });
    return t('waited_h', { h: Math.floor(minutes / 60), m: minutes % 60 });
  }

  function storeLabel(code) { return code ? t('store', { s: code }) : t('general_queue'); }

  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
  }

  // --- notifications -----------------------------------------------------------------------------

  function updateTitle() {
    var count = 0;
    if (pref('title', '1') === '1') {
      count = queueData.waiting.length;
      Object.keys(unread).forEach(function (id) { count += unread[id]; });
    }
    document.title = count ? '(' + count + ') ' + BASE_TITLE : BASE_TITLE;
    $('queue-count').textContent = queueData.waiting.length ? String(queueData.waiting.length) : '';
  }

  function beep() {
    if (pref('sound', '1') !== '1') return;
    var body = document.body;
    body.setAttribute('data-sounds', String(Number(body.getAttribute('data-sounds') || 0) + 1));
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.4);
    } catch (e) { /* no audio */ }
  }

  function notify(title, body, conversationId) {
    document.body.setAttribute('data-last-notice', title);
    beep();
    if (pref('desktop', '0') !== '1' || !('Notification' in window) || Notification.permission !== 'granted') return;
    if (document.visibilityState === 'visible' && conversationId === openId) return;
    try {
      var n = new Notification(title, { body: body, tag: 'vetrina-' + conversationId });
      n.onclick = function () { window.focus(); openConversation(conversationId); n.close(); };
    } catch (e) { /* not allowed here */ }
  }

  function wirePrefs() {
    $('notify-sound').checked = pref('sound', '1') === '1';
    $('notify-title').checked = pref('title', '1') === '1';
    $('notify-desktop').checked = pref('desktop', '0') === '1' && 'Notification' in window && Notification.permission === 'granted';
    if (!('Notification' in window)) $('notify-desktop').disabled = true;
    $('notify-sound').addEventListener('change', function () { setPref('sound', this.checked ? '1' : '0'); if (this.checked) beep(); });
    $('notify-title').addEventListener('change', function () { setPref('title', this.checked ? '1' : '0'); updateTitle(); });
    $('notify-desktop').addEventListener('change', function () {
      var box = this;
      if (!box.checked) { setPref('desktop', '0'); return; }
      Notification.requestPermission().then(function (answer) {
        box.checked = answer === 'granted';
        setPref('desktop', box.checked ? '1' : '0');
      });
    });
    $('lang').addEventListener('change', function () {
      switchLanguage(this.value);
      api('PUT', '/console/api/me/language', { language: lang }).catch(function () { /* kept locally */ });
    });
  }

  function switchLanguage(chosen) {
    lang = chosen === 'en' ? 'en' : 'it';
    setPref('lang', lang);
    applyLanguage();
    if (!me) return;
    loadTeam();
    renderQueue();
    if (lastData) { showState(lastData.state); showProfile(lastData.profile); rerenderTimeline(); }
  }

  // --- panes (one at a time on a phone) ------------------------------------------------------------

  function showPane(name) { document.body.setAttribute('data-pane', name); }

  function setLive(state) {
    $('live').setAttribute('data-state', state);
    $('live-text').textContent = t('live_' + state);
    $('live').title = t('live_' + state);
  }

  // --- queue -----------------------------------------------------------------------------

  function queueItem(state, className) {
    var li = el('li', className, null, { 'data-conversation-id': String(state.conversation_id) });
    if (state.conversation_id === openId) li.classList.add('active');
    var button = el('button', null, null, { type: 'button' });
    button.appendChild(el('span', 'name', customerLabel(state)));
    var line = el('span', 'line');
    line.appendChild(channelLabel(state.channel));
    line.appendChild(document.createTextNode(' · ' + storeLabel(state.store_code)));
    button.appendChild(line);
    if (state.status === 'waiting') button.appendChild(el('span', 'line wait', waited(state.waiting_seconds)));
    if (state.reason) button.appendChild(el('span', 'line reason', reasonLabel(state.reason)));
    var count = unread[state.conversation_id];
    if (count) button.appendChild(el('span', 'count', String(count), { 'aria-label': String(count) }));
    button.addEventListener('click', function () { openConversation(state.conversation_id); });
    li.appendChild(button);
    return li;
  }

  function renderQueue() {
    var queue = $('queue');
    var mine = $('mine');
    queue.replaceChildren();
    mine.replaceChildren();
    queueData.waiting.forEach(function (s) { queue.appendChild(queueItem(s, 'queue-item')); });
    queueData.mine.forEach(function (s) { mine.appendChild(queueItem(s, 'mine-item')); });
    if (!queueData.waiting.length) queue.appendChild(el('li', 'empty', t('nobody_waiting')));
    if (!queueData.mine.length) mine.appendChild(el('li', 'empty', t('no_chats')));
    updateTitle();
  }

  function loadQueue() {
    return api('GET', '/console/api/queue').then(function (data) {
      queueData = data;
      var ids = {};
      data.waiting.forEach(function (s) {
        ids[s.conversation_id] = true;
        if (knownWaiting && !knownWaiting[s.conversation_id]) {
          notify(t('n_waiting'), customerLabel(s) + ' · ' + reasonLabel(s.reason), s.conversation_id);
        }
      });
      knownWaiting = ids;
      var mineIds = {};
      data.mine.forEach(function (s) { mineIds[s.conversation_id] = true; });
      Object.keys(unread).forEach(function (id) { if (!mineIds[id]) delete unread[id]; });
      renderQueue();
    });
  }

  function scheduleQueue() {
    if (reloadTimer) return;
    reloadTimer = setTimeout(function () { reloadTimer = null; loadQueue(); }, 100);
  }

  function loadTeam() {
    return api('GET', '/console/api/consultants').then(function (data) {
      var team = $('team');
      var select = $('transfer-to');
      var chosen = select.value;
      team.replaceChildren();
      select.replaceChildren(el('option', null, t('choose_transfer'), { value: '' }));
      data.consultants.forEach(function (c) {
        var li = el('li', 'presence-' + c.presence, null, { 'data-consultant-id': String(c.id) });
        li.appendChild(el('span', 'dot', null, { 'aria-hidden': 'true' }));
        li.appendChild(el('span', null, c.name + ' (' + (c.stores.join(', ') || '—') + ') · ' + t(c.presence)));
        team.appendChild(li);
        if (me && c.id !== me.id) select.appendChild(el('option', null, c.name, { value: 'c:' + c.id }));
        if (me && c.id === me.id && c.presence !== 'offline') $('presence').value = c.presence;
      });
      var stores = {};
      data.consultants.forEach(function (c) { c.stores.forEach(function (s) { stores[s] = true; }); });
      select.appendChild(el('option', null, t('general_queue'), { value: 's:' }));
      Object.keys(stores).sort().forEach(function (s) {
        select.appendChild(el('option', null, storeLabel(s), { value: 's:' + s }));
      });
      select.value = chosen;
      fillSearchStores(me && me.role !== 'admin' ? me.stores : Object.keys(stores).sort());
    });
  }

  // --- conversation -------------------------------------------------------------------------

  function nearBottom(timeline) {
    return timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 48;
  }

  function noteNode(n) {
    var li = el('li', 'msg msg-note', null, { 'data-note-id': String(n.id) });
    var meta = el('span', 'meta');
    meta.appendChild(el('strong', 'who', t('note')));
    meta.appendChild(document.createTextNode(' · ' + (n.author_name || '') + ' · ' + clock(n.created_at)));
    li.appendChild(meta);
    li.appendChild(el('span', 'text', n.text));
    return li;
  }

  function messageNode(m) {
    if (m.kind === 'note') return noteNode(m);
    var author = m.author === 'user' ? 'customer' : m.author;
    var li = el('li', 'msg msg-' + author, null, { 'data-message-id': String(m.id), 'data-author': author });
    var meta = el('span', 'meta');
    var who = author === 'consultant' && m.consultant_name ? m.consultant_name : t('a_' + author);
    meta.appendChild(el('span', 'who', who));
    meta.appendChild(document.createTextNode(' · ' + clock(m.created_at) + ' · '));
    meta.appendChild(channelLabel(m.channel));
    li.appendChild(meta);
    li.appendChild(el('span', 'text', m.text));
    if (m.buttons && m.buttons.length) li.appendChild(el('span', 'meta', '[' + m.buttons.join(' | ') + ']'));
    if (m.problem) li.appendChild(el('span', 'meta problem', '⚠ ' + t(m.status) + ': ' + m.problem));
    return li;
  }

  var messages = [];

  function addMessage(m, force) {
    var key = (m.kind === 'note' ? 'n' : 'm') + m.id;  // notes and messages number apart
    if (shown[key]) return;
    shown[key] = true;
    messages.push(m);
    var timeline = $('timeline');
    var stick = force || nearBottom(timeline);
    timeline.appendChild(messageNode(m));
    if (stick) timeline.scrollTop = timeline.scrollHeight;
    else $('jump-newest').hidden = false;
  }

  function rerenderTimeline() {
    var timeline = $('timeline');
    var stick = nearBottom(timeline);
    timeline.replaceChildren.apply(timeline, messages.map(messageNode));
    if (stick) timeline.scrollTop = timeline.scrollHeight;
  }

  function showState(state) {
    openState = state;
    var title = $('conv-title');
    title.replaceChildren(el('span', 'who', customerLabel(state)));
    var sub = el('span', 'sub');
    sub.appendChild(channelLabel(state.channel));
    sub.appendChild(document.createTextNode(' · ' + storeLabel(state.store_code) +
      (state.reason ? ' · ' + reasonLabel(state.reason) : '') +
      (state.status === 'waiting' && state.waiting_seconds !== null ? ' · ' + waited(state.waiting_seconds) : '')));
    title.appendChild(sub);
    $('conv-status').textContent = statusLabel(state);
    $('conv-status').setAttribute('data-status', state.status);
    var mine = state.status === 'with_consultant' && me && state.owner_id === me.id;
    $('claim').hidden = state.status !== 'waiting';
    $('reopen').hidden = state.status !== 'closed';
    $('hand-back').hidden = !(mine || state.status === 'waiting');
    $('close').hidden = !(mine || state.status === 'waiting');
    $('transfer-box').hidden = !mine;
    $('reply-text').disabled = !mine;
    $('reply-send').disabled = !mine;
  }

  function showProfile(profile) {
    var dl = $('profile');
    dl.replaceChildren();
    function row(label, value) { dl.appendChild(el('dt', null, label)); dl.appendChild(el('dd', null, value || '—')); }
    row(t('name'), profile.name);
    if (openState && openState.customer_phone) row(t('phone'), openState.customer_phone);
    if (openState && openState.customer_instagram) row(t('ig'), openState.customer_instagram);
    row(t('lang'), LANGUAGE_NAMES[profile.language] || profile.language);
    row(t('sizes'), Object.keys(profile.sizes || {}).map(function (k) { return k + ': ' + profile.sizes[k]; }).join(', '));
    row(t('favourite'), profile.favourite_store);
    row(t('channel'), profile.last_channel ? t(profile.last_channel) : '');
    var bookings = $('profile-bookings');
    bookings.replaceChildren();
    (profile.bookings || []).forEach(function (b) {
      // starts_at is the store's local time with its offset: shown as written, without seconds
      var when = b.starts_at.replace('T', ' ').slice(0, 16);
      bookings.appendChild(el('li', null, b.code + ' · ' + (b.store_name || b.store) + ' · ' + when + ' · ' + t('b_' + b.status)));
    });
    if (!bookings.children.length) bookings.appendChild(el('li', 'empty', '—'));
    var orders = $('profile-orders');  // matched till and web sales, newest first
    orders.replaceChildren();
    (profile.orders || []).forEach(function (o) {
      var total = (o.total_cents / 100).toLocaleString(lang === 'en' ? 'en-GB' : 'it-IT',
        { style: 'currency', currency: o.currency || 'EUR' });
      var items = (o.items || []).map(function (i) { return i.quantity + '× ' + i.sku; }).join(', ');
      var parts = [o.occurred_at.slice(0, 10), t('o_' + o.source), o.store, items, total,
        o.kind === 'refund' ? t('o_refund') : null];
      orders.appendChild(el('li', null, parts.filter(Boolean).join(' · ')));
    });
    if (!orders.children.length) orders.appendChild(el('li', 'empty', '—'));
    var checks = $('profile-checks');
    checks.replaceChildren();
    (profile.stock_checks || []).forEach(function (c) {
      var parts = [c.product_code, c.colour, c.size, c.store_code, c.status ? t('s_' + c.status) : null].filter(Boolean);
      checks.appendChild(el('li', null, parts.join(' · ') || c.text));
    });
    if (!checks.children.length) checks.appendChild(el('li', 'empty', '—'));
    var sheet = $('sheet-link');  // the day sheet of the conversation's store
    var store = openState && openState.store_code;
    sheet.hidden = !store;
    if (store) {
      sheet.href = '/console/stores/' + encodeURIComponent(store) + '/bookings';
      sheet.setAttribute('data-i18n-store', store);
      sheet.textContent = t('sheet_link', { s: store });
    }
    if (!$('book-store').value && openState && openState.store_code) $('book-store').value = openState.store_code;
    if (!$('stock-store').value && openState && openState.store_code) $('stock-store').value = openState.store_code;
  }

  function openConversation(id) {
    if (openId !== id) {
      shown = {};
      messages = [];
      $('timeline').replaceChildren();
      $('conv-message').textContent = '';
      $('slots').replaceChildren();
      $('book-result').textContent = '';
    }
    openId = id;
    delete unread[id];
    $('no-conversation').hidden = true;
    $('conv-pane').hidden = false;
    $('details').hidden = false;
    $('jump-newest').hidden = true;
    document.body.setAttribute('data-selected', String(id));
    showPane('conversation');
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ watch: id }));
    return reloadConversation(true).then(loadQueue);
  }

  function reloadConversation(first) {
    if (openId === null) return Promise.resolve();
    var id = openId;
    return api('GET', '/console/api/conversations/' + id).then(function (data) {
      if (id !== openId) return;
      lastData = data;
      var language = openState && openState.language;
      showState(data.state);
      if (first || language !== data.state.language) loadCanned();
      var items = data.timeline.concat((data.notes || []).map(function (n) {
        return { kind: 'note', id: n.id, author_name: n.author_name, text: n.text, created_at: n.created_at };
      }));
      items.sort(function (a, b) { return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0; });
      items.forEach(function (m) { addMessage(m, first); });
      showProfile(data.profile);
    }).catch(function (error) {
      $('conv-message').textContent = error.message;
    });
  }

  function move(action, body) {
    if (openId === null) return;
    $('conv-message').textContent = '';
    api('POST', '/console/api/conversations/' + openId + '/' + action, body).then(function (data) {
      if (data.state) showState(data.state);
      loadQueue();
      reloadConversation();
    }).catch(function (error) { $('conv-message').textContent = error.message; });
  }

  function sendReply() {
    var text = $('reply-text').value.trim();
    if (!text || openId === null || $('reply-text').disabled) return;
    $('reply-send').disabled = true;
    $('reply-text').value = '';  // at once, like any chat; put back if it was not sent
    api('POST', '/console/api/conversations/' + openId + '/messages', { text: text }).then(function () {
      var timeline = $('timeline');
      timeline.scrollTop = timeline.scrollHeight;
    }).catch(function (error) {
      $('conv-message').textContent = error.message;
      if (!$('reply-text').value) $('reply-text').value = text;
    })
      .then(function () { if (openState) showState(openState); $('reply-text').focus(); });
  }

  function addNote() {
    var text = $('note-text').value.trim();
    if (!text || openId === null) return;
    var id = openId;
    api('POST', '/console/api/conversations/' + id + '/notes', { text: text }).then(function (data) {
      $('note-text').value = '';
      if (id === openId) addMessage({ kind: 'note', id: data.note.id, author_name: data.note.author_name, text: data.note.text, created_at: data.note.created_at }, true);
    }).catch(function (error) { $('conv-message').textContent = error.message; });
  }

  // --- search ----------------------------------------------------------------------------------

  var searchOffset = 0;

  function searchQuery() {
    var parts = [['q', $('search-q').value.trim()], ['store', $('search-store').value], ['channel', $('search-channel').value],
      ['status', $('search-status').value], ['from', $('search-from').value], ['to', $('search-to').value]];
    return parts.filter(function (p) { return p[1]; }).map(function (p) { return p[0] + '=' + encodeURIComponent(p[1]); }).join('&');
  }

  function runSearch(more) {
    searchOffset = more ? searchOffset : 0;
    var list = $('search-results');
    var out = $('search-message');
    $('search-box').hidden = false;
    $('search-clear').hidden = false;
    out.textContent = '';
    api('GET', '/console/api/search?' + searchQuery() + '&limit=20&offset=' + searchOffset).then(function (data) {
      if (!more) list.replaceChildren();
      data.results.forEach(function (s) {
        var li = queueItem(s, 'search-item');
        li.querySelector('button').appendChild(el('span', 'line', statusLabel(s)));
        list.appendChild(li);
      });
      searchOffset += data.results.length;
      $('search-more').hidden = !data.has_more;
      if (!list.children.length) list.appendChild(el('li', 'empty', t('no_results')));
    }).catch(function (error) { out.className = 'message'; out.textContent = error.message; });
  }

  function closeSearch() {
    $('search-box').hidden = true;
    $('search-clear').hidden = true;
    $('search-results').replaceChildren();
    $('search-q').value = '';
  }

  function fillSearchStores(codes) {
    var select = $('search-store');
    var chosen = select.value;
    while (select.options.length > 1) select.remove(1);
    codes.forEach(function (code) { select.appendChild(el('option', null, storeLabel(code), { value: code })); });
    select.value = chosen;
  }

  // --- keyboard shortcuts (listed in the help dialog, opened with "?") ------------------------------

  function nextWaiting() {
    var next = null;
    queueData.waiting.forEach(function (s) { if (!next && s.conversation_id !== openId) next = s; });
    if (next) openConversation(next.conversation_id);
  }

  function openHelp() {
    var dialog = $('help');
    if (!dialog.open) dialog.showModal();
  }

  function onShortcut(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    var target = event.target;
    var typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (typing || $('help').open) return;
    var act = {
      '?': openHelp,
      c: function () { if (!$('claim').hidden && openId !== null) move('claim'); },
      h: function () { if (!$('hand-back').hidden && openId !== null) move('hand-back'); },
      n: nextWaiting,
      s: function () { showPane('list'); $('search-q').focus(); },
      r: function () { if (!$('reply-text').disabled) $('reply-text').focus(); }
    }[event.key];
    if (!act) return;
    event.preventDefault();
    act();
  }

  // --- canned replies: "/" + shortcut in the reply box ------------------------------------------

  var canned = [];       // the replies offered in the open conversation's language
  var suggestions = [];  // those matching what follows the "/"
  var picked = 0;

  function cannedLanguage() {
    var l = openState && openState.language;
    return l === 'it' || l === 'en' ? l : lang;
  }

  function loadCanned() {
    return api('GET', '/console/api/canned-replies?language=' + cannedLanguage()).then(function (data) {
      canned = data.replies;
      suggest();
    }).catch(function () { canned = []; });
  }

  function hideSuggestions() {
    suggestions = [];
    $('canned-suggest').hidden = true;
    $('canned-suggest').replaceChildren();
    $('reply-text').removeAttribute('aria-activedescendant');
  }

  function suggest() {
    var match = /^\/(\S*)$/.exec($('reply-text').value);
    if (!match || $('reply-text').disabled) { hideSuggestions(); return; }
    var typed = match[1].toLowerCase();
    suggestions = canned.filter(function (r) { return r.shortcut.indexOf(typed) === 0; }).slice(0, 8);
    if (!suggestions.length) { hideSuggestions(); return; }
    if (picked >= suggestions.length) picked = 0;
    var list = $('canned-suggest');
    list.replaceChildren();
    suggestions.forEach(function (r, i) {
      var li = el('li', 'suggestion', null, { role: 'option', id: 'canned-opt-' + i, 'aria-selected': String(i === picked) });
      li.appendChild(el('strong', null, '/' + r.shortcut));
      li.appendChild(document.createTextNode(' ' + r.title));
      li.addEventListener('mousedown', function (event) { event.preventDefault(); insertCanned(i); });
      list.appendChild(li);
    });
    list.hidden = false;
    $('reply-text').setAttribute('aria-activedescendant', 'canned-opt-' + picked);
  }

  function insertCanned(i) {
    var reply = suggestions[i];
    if (!reply) return;
    $('reply-text').value = reply.text;
    hideSuggestions();
    $('reply-text').focus();
  }

  function onSuggestKey(event) {  // true when the suggestion list took the key
    if (!suggestions.length) return false;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      picked = (picked + (event.key === 'ArrowDown' ? 1 : suggestions.length - 1)) % suggestions.length;
      suggest();
    } else if (event.key === 'Enter' || event.key === 'Tab') {
      insertCanned(picked);
    } else if (event.key === 'Escape') {
      hideSuggestions();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  // --- canned replies: the admin's panel ---------------------------------------------------------

  function cannedForm(reply) {
    $('canned-id').value = reply ? String(reply.id) : '';
    $('canned-store').value = reply && reply.store_code ? reply.store_code : '';
    $('canned-language').value = reply ? reply.language : lang;
    $('canned-shortcut').value = reply ? reply.shortcut : '';
    $('canned-name').value = reply ? reply.title : '';
    $('canned-text').value = reply ? reply.text : '';
  }

  function loadCannedAdmin() {
    return api('GET', '/console/api/canned-replies').then(function (data) {
      var list = $('canned-admin-list');
      list.replaceChildren();
      data.replies.forEach(function (r) {
        var li = el('li', 'canned-row');
        li.appendChild(el('span', null, '/' + r.shortcut + ' · ' + r.title + ' · ' + (r.store_code || t('all_stores')) + ' · ' + (LANGUAGE_NAMES[r.language] || r.language)));
        var edit = el('button', null, t('canned_edit'), { type: 'button' });
        edit.addEventListener('click', function () { cannedForm(r); $('canned-shortcut').focus(); });
        var drop = el('button', null, t('canned_delete'), { type: 'button' });
        drop.addEventListener('click', function () {
          api('DELETE', '/console/api/admin/canned-replies/' + r.id).then(function () {
            $('canned-result').className = 'message ok';
            $('canned-result').textContent = t('canned_deleted');
            cannedForm(null);
            loadCannedAdmin();
            loadCanned();
          }).catch(function (error) { $('canned-result').className = 'message'; $('canned-result').textContent = error.message; });
        });
        li.appendChild(edit);
        li.appendChild(drop);
        list.appendChild(li);
      });
      if (!data.replies.length) list.appendChild(el('li', 'empty', t('no_canned')));
    });
  }

  function saveCanned() {
    var id = $('canned-id').value;
    var body = {
      store_code: $('canned-store').value.trim() || null, language: $('canned-language').value,
      shortcut: $('canned-shortcut').value.trim(), title: $('canned-name').value.trim(), text: $('canned-text').value
    };
    var out = $('canned-result');
    api(id ? 'PUT' : 'POST', '/console/api/admin/canned-replies' + (id ? '/' + id : ''), body).then(function () {
      out.className = 'message ok';
      out.textContent = t('canned_saved');
      cannedForm(null);
      loadCannedAdmin();
      loadCanned();
    }).catch(function (error) { out.className = 'message'; out.textContent = error.message; });
  }

  // --- live ----------------------------------------------------------------------------------

  function onMessageEvent(data) {
    var m = data.message;
    var isOpen = data.conversation_id === openId;
    if (isOpen) addMessage(m);
    if ((m.author !== 'customer' && m.author !== 'user') || !me || data.owner_id !== me.id) return;
    if (isOpen && document.visibilityState === 'visible') return;
    unread[data.conversation_id] = (unread[data.conversation_id] || 0) + 1;
    var state = null;
    queueData.mine.forEach(function (s) { if (s.conversation_id === data.conversation_id) state = s; });
    notify(t('n_message', { name: state ? customerLabel(state) : t('a_customer') }), m.text.slice(0, 120), data.conversation_id);
    renderQueue();
  }

  function connect() {
    var scheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
    ws = new WebSocket(scheme + window.location.host + '/console/ws');
    ws.onopen = function () {
      setLive('online');
      if (openId !== null) ws.send(JSON.stringify({ watch: openId }));
      loadQueue();
      reloadConversation();
    };
    ws.onmessage = function (event) {
      var data = JSON.parse(event.data);
      if (data.topic === 'queue') scheduleQueue();
      if (data.topic === 'presence') loadTeam();
      if (data.topic === 'watching' && data.lost !== undefined && data.lost === openId) {
        reloadConversation();  // no longer ours (moved to another store): says so
        scheduleQueue();
      }
      if (data.topic === 'conversation') {
        if (data.type === 'message' && data.message) onMessageEvent(data);
        else if (data.conversation_id === openId) reloadConversation();
        if (data.type !== 'message') scheduleQueue();
      }
    };
    ws.onclose = function (event) {
      setLive('offline');
      // 1008: the session ended (logged out elsewhere, or the account was deactivated).
      if (event.code === 1008) { window.location = '/console/login'; return; }
      // Still signed in? A 401 sends the browser to the login page; otherwise retry.
      api('GET', '/console/api/me').then(function () { setTimeout(connect, 1000); })
        .catch(function () { setTimeout(connect, 3000); });
    };
  }

  // --- forms -----------------------------------------------------------------------------------

  function stockLine(v) {
    var label = v.status === 'out_of_stock' ? t('out_of_stock') : t(v.status, { n: v.available });
    return [v.colour, v.size].filter(Boolean).join(' ') + ' · ' + label + ' · SKU ' + v.sku;
  }

  function wire() {
    $('claim').addEventListener('click', function () { move('claim'); });
    $('reopen').addEventListener('click', function () { move('reopen'); });
    document.addEventListener('keydown', onShortcut);
    $('help-open').addEventListener('click', openHelp);
    $('help-close').addEventListener('click', function () { $('help').close(); });
    $('search-form').addEventListener('submit', function (event) { event.preventDefault(); runSearch(false); });
    $('search-more').addEventListener('click', function () { runSearch(true); });
    $('search-clear').addEventListener('click', closeSearch);
    $('hand-back').addEventListener('click', function () { move('hand-back'); });
    $('close').addEventListener('click', function () { move('close'); });
    $('transfer').addEventListener('click', function () {
      var value = $('transfer-to').value;
      if (!value) return;
      move('transfer', value.indexOf('c:') === 0 ? { consultant_id: Number(value.slice(2)) } : { store_code: value.slice(2) });
    });
    $('reply-form').addEventListener('submit', function (event) { event.preventDefault(); sendReply(); });
    $('note-form').addEventListener('submit', function (event) { event.preventDefault(); addNote(); });
    $('reply-text').addEventListener('input', function () { picked = 0; suggest(); });
    $('reply-text').addEventListener('blur', function () { setTimeout(hideSuggestions, 150); });
    $('canned-form').addEventListener('submit', function (event) { event.preventDefault(); saveCanned(); });
    $('canned-new').addEventListener('click', function () { cannedForm(null); $('canned-result').textContent = ''; });
    $('reply-text').addEventListener('keydown', function (event) {
      if (!event.isComposing && onSuggestKey(event)) return;
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        sendReply();
      }
    });
    // Typing in the reply box shows "<Name> is typing" to the shopper: at most every 2.5 s.
    var typedAt = 0;
    $('reply-text').addEventListener('input', function () {
      var now = Date.now();
      if (!this.value.trim() || openId === null || now - typedAt < 2500 || !ws || ws.readyState !== 1) return;
      typedAt = now;
      ws.send(JSON.stringify({ typing: openId }));
    });
    $('timeline').addEventListener('scroll', function () { if (nearBottom(this)) $('jump-newest').hidden = true; });
    $('jump-newest').addEventListener('click', function () {
      var timeline = $('timeline');
      timeline.scrollTop = timeline.scrollHeight;
      this.hidden = true;
    });
    $('back-to-list').addEventListener('click', function () { showPane('list'); });
    $('show-details').addEventListener('click', function () { showPane('details'); });
    $('back-to-conversation').addEventListener('click', function () { showPane('conversation'); });
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible' && openId !== null && unread[openId]) { delete unread[openId]; renderQueue(); }
    });
    $('presence').addEventListener('change', function () {
      api('POST', '/console/api/presence', { presence: $('presence').value }).then(loadTeam);
    });
    $('logout').addEventListener('click', function () {
      api('POST', '/console/logout').then(function () { window.location = '/console/login'; });
    });
    $('stock-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var q = encodeURIComponent($('stock-q').value);
      var store = encodeURIComponent($('stock-store').value.trim());
      var out = $('stock-result');
      out.className = '';
      api('GET', '/console/api/stock?q=' + q + '&store=' + store).then(function (data) {
        out.replaceChildren();
        out.appendChild(el('p', null, t('o_' + data.outcome) + (data.product ? ' · ' + data.product.name + ' (' + data.product.code + ')' : '')));
        if (data.store) out.appendChild(el('p', null, data.store.name + ': ' + t('s_' + data.store.status)));
        var list = el('ul');
        (data.variants || []).forEach(function (v) { list.appendChild(el('li', null, stockLine(v))); });
        (data.candidates || []).forEach(function (c) { list.appendChild(el('li', null, c.name + ' (' + c.code + ')')); });
        (data.options || []).forEach(function (o) { list.appendChild(el('li', null, o)); });
        (data.alternatives || []).forEach(function (a) {
          list.appendChild(el('li', null, t('also_in') + ' ' + a.name + ': ' + a.sizes.join(', ') + ' · ' + t('s_' + a.status)));
        });
        out.appendChild(list);
      }).catch(function (error) { out.textContent = error.message; out.className = 'message'; });
    });
    $('slots-form').addEventListener('submit', function (event) {
      event.preventDefault();
      if (openId === null) return;
      var store = $('book-store').value.trim();
      var list = $('slots');
      var result = $('book-result');
      result.className = 'message';
      result.textContent = '';
      api('GET', '/console/api/conversations/' + openId + '/slots?store=' + encodeURIComponent(store) + '&date=' + encodeURIComponent($('book-date').value)).then(function (data) {
        list.replaceChildren();
        if (data.timezone) list.appendChild(el('li', 'empty', t('tz_note', { tz: data.timezone })));
        data.slots.forEach(function (slot) {
          var button = el('button', null, slot.local_time + ' · ' + t('places', { n: slot.free }), { type: 'button' });
          button.addEventListener('click', function () {
            api('POST', '/console/api/conversations/' + openId + '/bookings', {
              store_code: store, starts_at: slot.starts_at, skus: $('book-skus').value
            }).then(function (answer) {
              result.className = 'message ok';
              result.textContent = t('booked', { code: answer.booking.code });
              reloadConversation();
            }).catch(function (error) { result.className = 'message'; result.textContent = error.message; });
          });
          var li = el('li');
          li.appendChild(button);
          list.appendChild(li);
        });
        if (!data.slots.length) list.appendChild(el('li', 'empty', t('no_slot')));
      }).catch(function (error) { result.textContent = error.message; });
    });
    $('merge-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var out = $('merge-result');
      api('POST', '/console/api/admin/merge', {
        survivor_id: $('merge-survivor').value.trim(), merged_id: $('merge-merged').value.trim(), reason: $('merge-reason').value.trim()
      }).then(function (data) { out.className = 'message ok'; out.textContent = t('merged', { id: data.merge.id || '' }); })
        .catch(function (error) { out.className = 'message'; out.textContent = error.message; });
    });
    $('undo-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var out = $('merge-result');
      api('POST', '/console/api/admin/merges/' + encodeURIComponent($('undo-id').value.trim()) + '/undo')
        .then(function () { out.className = 'message ok'; out.textContent = t('undone'); })
        .catch(function (error) { out.className = 'message'; out.textContent = error.message; });
    });
  }

  function start() {
    var browser = (navigator.language || 'it').toLowerCase().indexOf('it') === 0 ? 'it' : 'en';
    lang = pref('lang', browser) === 'en' ? 'en' : 'it';
    applyLanguage();
    wirePrefs();
    wire();
    api('GET', '/console/api/me').then(function (data) {
      if ((data.language === 'it' || data.language === 'en') && data.language !== lang) {
        switchLanguage(data.language);  // the account's choice wins over this browser's
      }
      me = data;
      $('admin-link').hidden = data.role !== 'admin';
      $('me').textContent = data.name + ' · ' + (data.stores.join(', ') || '—');
      $('admin').hidden = data.role !== 'admin';
      if (data.role === 'admin') { cannedForm(null); loadCannedAdmin(); }
      var links = $('store-links');
      data.stores.forEach(function (s) {
        var link = el('a', null, null, { href: '/console/stores/' + encodeURIComponent(s) + '/bookings' });
        link.setAttribute('data-i18n-store', s);
        link.textContent = t('sheet_link', { s: s });
        links.appendChild(link);
      });
      loadTeam();
      loadQueue();
      connect();
      setInterval(loadQueue, 15000); // waiting times move on
    });
  }

  document.body.setAttribute('data-console', 'loading');
  start();
  document.body.setAttribute('data-console', 'ready');
}());
