/* Vetrina consultant console. Every piece of text from customers (and from anyone) is
 * put on the page with textContent, never as HTML. State-changing requests send the
 * session's CSRF token in X-CSRF-Token. Live updates come over /console/ws. */
(function () {
  'use strict';

  var CSRF = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  var ICONS = { web: '💬', whatsapp: '🟢', instagram: '📷' };
  var CHANNEL_NAMES = { web: 'Web chat', whatsapp: 'WhatsApp', instagram: 'Instagram' };
  var me = null;
  var openId = null;
  var openState = null;
  var shown = {};
  var ws = null;
  var reloadTimer = null;

  function $(id) { return document.getElementById(id); }

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

  function channelIcon(channel) {
    return el('span', 'channel', ICONS[channel] || '•', {
      title: CHANNEL_NAMES[channel] || channel || '', 'data-channel': channel || ''
    });
  }

  function waited(seconds) {
    if (seconds === null || seconds === undefined) return '';
    if (seconds < 60) return seconds + ' s';
    return Math.floor(seconds / 60) + ' min';
  }

  // --- queue -----------------------------------------------------------------------------

  function queueItem(state, className) {
    var li = el('li', className, null, { 'data-conversation-id': String(state.conversation_id) });
    if (state.conversation_id === openId) li.classList.add('active');
    li.appendChild(channelIcon(state.channel));
    li.appendChild(el('strong', 'name', ' ' + (state.customer_name || state.customer_id.slice(0, 8))));
    li.appendChild(el('div', 'store', state.store_code ? 'Negozio/Store ' + state.store_code : 'Coda generale / General queue'));
    if (state.status === 'waiting') li.appendChild(el('div', 'wait', '⏱ ' + waited(state.waiting_seconds)));
    li.appendChild(el('div', 'reason', state.reason || ''));
    li.addEventListener('click', function () { openConversation(state.conversation_id); });
    return li;
  }

  function loadQueue() {
    return api('GET', '/console/api/queue').then(function (data) {
      var queue = $('queue');
      var mine = $('mine');
      queue.replaceChildren();
      mine.replaceChildren();
      data.waiting.forEach(function (s) { queue.appendChild(queueItem(s, 'queue-item')); });
      data.mine.forEach(function (s) { mine.appendChild(queueItem(s, 'mine-item')); });
      if (!data.waiting.length) queue.appendChild(el('li', 'empty', 'Nessuna richiesta / Nobody waiting'));
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
      team.replaceChildren();
      select.replaceChildren(el('option', null, '— trasferisci a / transfer to —', { value: '' }));
      data.consultants.forEach(function (c) {
        var li = el('li', 'presence-' + c.presence, null, { 'data-consultant-id': String(c.id) });
        li.appendChild(el('span', 'dot', c.presence === 'online' ? '🟢 ' : c.presence === 'away' ? '🟡 ' : '⚪ '));
        li.appendChild(el('span', null, c.name + ' (' + (c.stores.join(', ') || '—') + ') · ' + c.presence));
        team.appendChild(li);
        if (me && c.id !== me.id) select.appendChild(el('option', null, c.name, { value: 'c:' + c.id }));
        if (me && c.id === me.id && c.presence !== 'offline') $('presence').value = c.presence;
      });
      var stores = {};
      data.consultants.forEach(function (c) { c.stores.forEach(function (s) { stores[s] = true; }); });
      select.appendChild(el('option', null, 'Coda generale / General queue', { value: 's:' }));
      Object.keys(stores).sort().forEach(function (s) {
        select.appendChild(el('option', null, 'Negozio / Store ' + s, { value: 's:' + s }));
      });
    });
  }

  // --- conversation -------------------------------------------------------------------------

  function addMessage(m) {
    if (shown[m.id]) return;
    shown[m.id] = true;
    var author = m.author === 'user' ? 'customer' : m.author;
    var li = el('li', 'msg msg-' + author, null, { 'data-message-id': String(m.id), 'data-author': author });
    var meta = el('span', 'meta');
    meta.appendChild(channelIcon(m.channel));
    meta.appendChild(document.createTextNode(' ' + author + ' · ' + new Date(m.created_at).toLocaleTimeString()));
    li.appendChild(meta);
    li.appendChild(el('span', 'text', m.text));
    if (m.buttons && m.buttons.length) li.appendChild(el('span', 'meta', '[' + m.buttons.join(' | ') + ']'));
    if (m.problem) li.appendChild(el('span', 'meta problem', '⚠ ' + m.status + ': ' + m.problem));
    var timeline = $('timeline');
    timeline.appendChild(li);
    timeline.scrollTop = timeline.scrollHeight;
  }

  function showState(state) {
    openState = state;
    $('conv-title').replaceChildren(channelIcon(state.channel),
      document.createTextNode(' ' + (state.customer_name || state.customer_id) + ' · ' +
        (state.store_code || 'general') + ' · ' + (state.reason || '')));
    var owner = state.owner_name ? ' (' + state.owner_name + ')' : '';
    $('conv-status').textContent = state.status + owner;
    $('conv-status').setAttribute('data-status', state.status);
    var mine = state.status === 'with_consultant' && me && state.owner_id === me.id;
    $('claim').hidden = state.status !== 'waiting';
    $('hand-back').hidden = !(mine || state.status === 'waiting');
    $('close').hidden = !(mine || state.status === 'waiting');
    $('transfer').hidden = !mine;
    $('transfer-to').hidden = !mine;
    $('reply-text').disabled = !mine;
    $('reply-send').disabled = !mine;
  }

  function showProfile(profile) {
    var dl = $('profile');
    dl.replaceChildren();
    function row(label, value) { dl.appendChild(el('dt', null, label)); dl.appendChild(el('dd', null, value || '—')); }
    row('Nome / Name', profile.name);
    row('Lingua / Language', profile.language);
    row('Taglie / Sizes', Object.keys(profile.sizes || {}).map(function (k) { return k + ': ' + profile.sizes[k]; }).join(', '));
    row('Negozio preferito / Favourite store', profile.favourite_store);
    row('Canale / Channel', CHANNEL_NAMES[profile.last_channel] || profile.last_channel);
    var bookings = $('profile-bookings');
    bookings.replaceChildren();
    (profile.bookings || []).forEach(function (b) {
      bookings.appendChild(el('li', null, b.code + ' · ' + b.store + ' · ' + b.starts_at.replace('T', ' ').slice(0, 16) + ' · ' + b.status));
    });
    var checks = $('profile-checks');
    checks.replaceChildren();
    (profile.stock_checks || []).forEach(function (c) {
      checks.appendChild(el('li', null, [c.product_code, c.colour, c.size, c.store_code, c.status].filter(Boolean).join(' · ') || c.text));
    });
  }

  function openConversation(id) {
    openId = id;
    shown = {};
    $('timeline').replaceChildren();
    $('conv-message').textContent = '';
    $('conversation').hidden = false;
    $('details').hidden = false;
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ watch: id }));
    return reloadConversation().then(loadQueue);
  }

  function reloadConversation() {
    if (openId === null) return Promise.resolve();
    var id = openId;
    return api('GET', '/console/api/conversations/' + id).then(function (data) {
      if (id !== openId) return;
      showState(data.state);
      data.timeline.forEach(addMessage);
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

  // --- live ----------------------------------------------------------------------------------

  function connect() {
    var scheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
    ws = new WebSocket(scheme + window.location.host + '/console/ws');
    ws.onopen = function () {
      $('live').setAttribute('data-state', 'online');
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
        if (data.conversation_id === openId) {
          if (data.type === 'message' && data.message) addMessage(data.message);
          else reloadConversation();
        }
        if (data.type !== 'message') scheduleQueue();
      }
    };
    ws.onclose = function () {
      $('live').setAttribute('data-state', 'offline');
      setTimeout(connect, 1000);
    };
  }

  // --- forms -----------------------------------------------------------------------------------

  function wire() {
    $('claim').addEventListener('click', function () { move('claim'); });
    $('hand-back').addEventListener('click', function () { move('hand-back'); });
    $('close').addEventListener('click', function () { move('close'); });
    $('transfer').addEventListener('click', function () {
      var value = $('transfer-to').value;
      if (!value) return;
      move('transfer', value.indexOf('c:') === 0 ? { consultant_id: Number(value.slice(2)) } : { store_code: value.slice(2) });
    });
    $('reply-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var text = $('reply-text').value.trim();
      if (!text || openId === null) return;
      api('POST', '/console/api/conversations/' + openId + '/messages', { text: text }).then(function () {
        $('reply-text').value = '';
      }).catch(function (error) { $('conv-message').textContent = error.message; });
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
      var store = encodeURIComponent($('stock-store').value);
      var out = $('stock-result');
      api('GET', '/console/api/stock?q=' + q + '&store=' + store).then(function (data) {
        out.replaceChildren();
        out.appendChild(el('p', null, data.outcome + (data.product ? ' · ' + data.product.name + ' (' + data.product.code + ')' : '')));
        if (data.store) out.appendChild(el('p', null, data.store.name + ': ' + data.store.status));
        var list = el('ul');
        (data.variants || []).forEach(function (v) {
          list.appendChild(el('li', null, v.sku + ' · ' + v.colour + ' ' + v.size + ' · ' + v.status + ' (' + v.available + ')'));
        });
        (data.candidates || []).forEach(function (c) { list.appendChild(el('li', null, c.code + ' · ' + c.name)); });
        (data.alternatives || []).forEach(function (a) { list.appendChild(el('li', null, a.name + ': ' + a.sizes.join(', '))); });
        out.appendChild(list);
      }).catch(function (error) { out.textContent = error.message; });
    });
    $('slots-form').addEventListener('submit', function (event) {
      event.preventDefault();
      if (openId === null) return;
      var store = $('book-store').value.trim();
      var list = $('slots');
      api('GET', '/console/api/conversations/' + openId + '/slots?store=' + encodeURIComponent(store) + '&date=' + encodeURIComponent($('book-date').value)).then(function (data) {
        list.replaceChildren();
        data.slots.forEach(function (slot) {
          var button = el('button', null, new Date(slot.starts_at).toLocaleTimeString() + ' (' + slot.free + ')', { type: 'button' });
          button.addEventListener('click', function () {
            api('POST', '/console/api/conversations/' + openId + '/bookings', {
              store_code: store, starts_at: slot.starts_at, skus: $('book-skus').value
            }).then(function (result) {
              $('book-result').textContent = 'Prenotato / Booked: ' + result.booking.code;
              reloadConversation();
            }).catch(function (error) { $('book-result').textContent = error.message; });
          });
          var li = el('li');
          li.appendChild(button);
          list.appendChild(li);
        });
        if (!data.slots.length) list.appendChild(el('li', null, 'Nessun orario libero / No free slot'));
      }).catch(function (error) { $('book-result').textContent = error.message; });
    });
    $('merge-form').addEventListener('submit', function (event) {
      event.preventDefault();
      api('POST', '/console/api/admin/merge', {
        survivor_id: $('merge-survivor').value.trim(), merged_id: $('merge-merged').value.trim(), reason: $('merge-reason').value.trim()
      }).then(function (data) { $('merge-result').textContent = 'OK: merge ' + (data.merge.id || ''); })
        .catch(function (error) { $('merge-result').textContent = error.message; });
    });
    $('undo-form').addEventListener('submit', function (event) {
      event.preventDefault();
      api('POST', '/console/api/admin/merges/' + encodeURIComponent($('undo-id').value.trim()) + '/undo')
        .then(function () { $('merge-result').textContent = 'OK: undone'; })
        .catch(function (error) { $('merge-result').textContent = error.message; });
    });
  }

  function start() {
    wire();
    api('GET', '/console/api/me').then(function (data) {
      me = data;
      $('me').textContent = data.name + ' · ' + data.role + ' · ' + (data.stores.join(', ') || '—');
      $('admin').hidden = data.role !== 'admin';
      var links = $('store-links');
      data.stores.forEach(function (s) {
        links.appendChild(el('a', null, 'Prove ' + s, { href: '/console/stores/' + encodeURIComponent(s) + '/bookings' }));
        links.appendChild(document.createTextNode(' '));
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
