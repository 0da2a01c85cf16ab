/* Vetrina administration page (admins only; the server checks the role on every call).
 * Consultants: create, edit name/role/stores, deactivate/reactivate, one-time password
 * link. Stores: try-on switch, temporary closure, consultant hours. The audit log.
 * Text from the server goes on the page with textContent only; changes send the
 * session's CSRF token. The language is the account's (as in the console). */
(function () {
  'use strict';

  var T = {
    it: {
      back: '← Console', title: 'Amministrazione', consultants: 'Consulenti', name: 'Nome',
      email: 'Email', role: 'Ruolo', stores: 'Negozi', state: 'Stato', actions: 'Azioni',
      role_consultant: 'Consulente', role_admin: 'Amministratore', active: 'Attivo',
      inactive: 'Disattivato', edit: 'Modifica', deactivate: 'Disattiva', reactivate: 'Riattiva',
      reset: 'Nuova password', new_consultant: 'Nuovo consulente', edit_consultant: 'Modifica {name}',
      stores_served: 'Negozi serviti', create: 'Crea', save: 'Salva', cancel: 'Annulla',
      all_stores: 'tutti (amministratore)', no_store: 'nessuno (coda generale)',
      reset_title: 'Link per la nuova password', reset_link: 'Link (si usa una volta sola)',
      reset_for: 'Per {name} ({email}). Dalle questo link: lo vedi solo ora.',
      reset_code: 'Codice: {code}', reset_expires: 'Scade: {when}', reset_hide: 'Ho copiato il link: nascondi',
      stores_title: 'Negozi', default_hours: 'Orari generali dei consulenti:', always: 'sempre',
      store: 'Negozio', try_on: 'Prove in negozio', closed: 'Chiuso temporaneamente',
      hours: 'Orari dei consulenti', hours_own: 'Orari dei consulenti di {store}',
      try_on_of: 'Prove in negozio a {store}', closed_of: '{store} chiuso temporaneamente',
      save_hours: 'Salva orari',
      use_default: 'Usa gli orari generali',
      uses_default: 'Usa gli orari generali', own_hours: 'Orari propri', no_try_on_service: 'servizio non offerto',
      audit: 'Registro delle modifiche', when: 'Quando', who: 'Chi', what: 'Cosa', target: 'Su', details: 'Dettagli',
      created: '{name} creato.', saved: 'Modifiche salvate.', deactivated: '{name} disattivato: è uscito dalla console.',
      reactivated: '{name} riattivato.', store_saved: '{store}: salvato.',
      confirm_deactivate: 'Disattivare {name}? Esce subito dalla console.',
      a_consultant_create: 'consulente creato', a_consultant_update: 'consulente modificato',
      a_consultant_deactivate: 'consulente disattivato', a_consultant_activate: 'consulente riattivato',
      a_consultant_password_reset: 'link per nuova password', a_consultant_password_set: 'password scelta',
      a_store_try_on: 'prove in negozio', a_store_close: 'negozio chiuso', a_store_reopen: 'negozio riaperto',
      a_store_consultant_hours: 'orari dei consulenti'
    },
    en: {
      back: '← Console', title: 'Administration', consultants: 'Consultants', name: 'Name',
      email: 'Email', role: 'Role', stores: 'Stores', state: 'Status', actions: 'Actions',
      role_consultant: 'Consultant', role_admin: 'Administrator', active: 'Active',
      inactive: 'Deactivated', edit: 'Edit', deactivate: 'Deactivate', reactivate: 'Reactivate',
      reset: 'New password', new_consultant: 'New consultant', edit_consultant: 'Edit {name}',
      stores_served: 'Stores served', create: 'Create', save: 'Save', cancel: 'Cancel',
      all_stores: 'all (administrator)', no_store: 'none (general queue)',
      reset_title: 'New password link', reset_link: 'Link (works once)',
      reset_for: 'For {name} ({email}). Give them this link: you only see it now.',
      reset_code: 'Code: {code}', reset_expires: 'Expires: {when}', reset_hide: 'I copied the link: hide it',
      stores_title: 'Stores', default_hours: 'Consultants\u2019 general hours:', always: 'always',
      store: 'Store', try_on: 'Try-on in store', closed: 'Temporarily closed',
      hours: 'Consultant hours', hours_own: 'Consultant hours of {store}',
      try_on_of: 'Try-on at {store}', closed_of: '{store} temporarily closed',
      save_hours: 'Save hours',
      use_default: 'Use the general hours',
      uses_default: 'Uses the general hours', own_hours: 'Own hours', no_try_on_service: 'service not offered',
      audit: 'Change log', when: 'When', who: 'Who', what: 'What', target: 'On', details: 'Details',
      created: '{name} created.', saved: 'Changes saved.', deactivated: '{name} deactivated: signed out of the console.',
      reactivated: '{name} reactivated.', store_saved: '{store}: saved.',
      confirm_deactivate: 'Deactivate {name}? They are signed out at once.',
      a_consultant_create: 'consultant created', a_consultant_update: 'consultant changed',
      a_consultant_deactivate: 'consultant deactivated', a_consultant_activate: 'consultant reactivated',
      a_consultant_password_reset: 'new password link', a_consultant_password_set: 'password chosen',
      a_store_try_on: 'try-on in store', a_store_close: 'store closed', a_store_reopen: 'store reopened',
      a_store_consultant_hours: 'consultant hours'
    }
  };

  var CSRF = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  var lang = 'it';
  var me = null;
  var stores = [];
  var consultants = [];

  function $(id) { return document.getElementById(id); }

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
      if (response.status === 403) { window.location = '/console'; throw new Error('admins only'); }
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error((data.error && data.error.message) || ('HTTP ' + response.status));
        return data;
      });
    });
  }

  function say(text, ok) {
    var box = $('admin-message');
    box.className = ok ? 'message ok' : 'message';
    box.textContent = text;
  }

  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d)) return '';
    return d.toLocaleString(lang === 'en' ? 'en-GB' : 'it-IT', {
      timeZone: 'Europe/Rome', day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit'
    });
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = 'Vetrina — ' + t('title');
    document.querySelectorAll('[data-i18n]').forEach(function (node) { node.textContent = t(node.getAttribute('data-i18n')); });
  }

  // --- consultants ------------------------------------------------------------------------

  function storesText(c) {
    if (c.role === 'admin' && !c.stores.length) return t('all_stores');
    return c.stores.join(', ') || t('no_store');
  }

  function renderConsultants() {
    var body = $('consultants').querySelector('tbody');
    body.textContent = '';
    consultants.forEach(function (c) {
      var row = el('tr', c.active ? '' : 'inactive', null, { 'data-consultant-id': String(c.id) });
      row.appendChild(el('td', null, c.name));
      row.appendChild(el('td', null, c.email));
      var role = el('td');
      role.appendChild(el('span', 'pill' + (c.role === 'admin' ? ' admin' : ''), t('role_' + c.role)));
      row.appendChild(role);
      row.appendChild(el('td', null, storesText(c)));
      var state = el('td');
      state.appendChild(el('span', 'pill' + (c.active ? '' : ' off'), t(c.active ? 'active' : 'inactive')));
      row.appendChild(state);
      var cell = el('td');
      var actions = el('div', 'actions');
      var label = ' — ' + c.name;
      var edit = el('button', 'edit', t('edit'), { type: 'button', 'aria-label': t('edit') + label });
      edit.addEventListener('click', function () { fillForm(c); });
      actions.appendChild(edit);
      if (me && c.id !== me.id) {
        var toggle = el('button', c.active ? 'deactivate' : 'reactivate', t(c.active ? 'deactivate' : 'reactivate'),
          { type: 'button', 'aria-label': t(c.active ? 'deactivate' : 'reactivate') + label });
        toggle.addEventListener('click', function () { setActive(c, !c.active); });
        actions.appendChild(toggle);
      }
      if (c.active) {
        var reset = el('button', 'reset', t('reset'), { type: 'button', 'aria-label': t('reset') + label });
        reset.addEventListener('click', function () { resetPassword(c); });
        actions.appendChild(reset);
      }
      cell.appendChild(actions);
      row.appendChild(cell);
      body.appendChild(row);
    });
  }

  function renderStoreChoices(selected) {
    var box = $('c-stores');
    box.querySelectorAll('label').forEach(function (node) { node.remove(); });
    stores.forEach(function (s) {
      var label = el('label', 'check');
      var input = el('input', null, null, { type: 'checkbox', value: s.code, name: 'stores' });
      input.checked = selected.indexOf(s.code) >= 0;
      label.appendChild(input);
      label.appendChild(el('span', null, s.code + ' · ' + s.city));
      box.appendChild(label);
    });
  }

  function fillForm(c) {
    $('consultant-id').value = c ? String(c.id) : '';
    $('c-name').value = c ? c.name : '';
    $('c-email').value = c ? c.email : '';
    $('c-email').disabled = !!c;
    $('c-role').value = c ? c.role : 'consultant';
    renderStoreChoices(c ? c.stores : []);
    $('consultant-form-title').textContent = c ? t('edit_consultant', { name: c.name }) : t('new_consultant');
    $('consultant-save').textContent = c ? t('save') : t('create');
    $('consultant-cancel').hidden = !c;
    if (c) $('c-name').focus();
  }

  function chosenStores() {
    var codes = [];
    $('c-stores').querySelectorAll('input:checked').forEach(function (box) { codes.push(box.value); });
    return codes;
  }

  function showReset(c, reset) {
    $('reset-box').hidden = false;
    $('reset-for').textContent = t('reset_for', { name: c.name, email: c.email });
    $('reset-link').value = window.location.origin + reset.link;
    $('reset-code').textContent = t('reset_code', { code: reset.code });
    $('reset-expires').textContent = t('reset_expires', { when: when(reset.expires_at) });
    $('reset-link').focus();
    $('reset-link').select();
  }

  function saveConsultant(event) {
    event.preventDefault();
    var id = $('consultant-id').value;
    var body = { name: $('c-name').value.trim(), role: $('c-role').value, stores: chosenStores() };
    var request;
    if (id) {
      request = api('PUT', '/console/api/admin/consultants/' + encodeURIComponent(id), body).then(function () {
        say(t('saved'), true);
      });
    } else {
      body.email = $('c-email').value.trim();
      request = api('POST', '/console/api/admin/consultants', body).then(function (data) {
        say(t('created', { name: data.consultant.name }), true);
        if (data.reset) showReset(data.consultant, data.reset);
      });
    }
    request.then(function () { fillForm(null); return loadAll(); }).catch(function (error) { say(error.message); });
  }

  function setActive(c, active) {
    if (!active && !window.confirm(t('confirm_deactivate', { name: c.name }))) return;
    api('POST', '/console/api/admin/consultants/' + c.id + (active ? '/reactivate' : '/deactivate'))
      .then(function () { say(t(active ? 'reactivated' : 'deactivated', { name: c.name }), true); return loadAll(); })
      .catch(function (error) { say(error.message); });
  }

  function resetPassword(c) {
    api('POST', '/console/api/admin/consultants/' + c.id + '/password-reset')
      .then(function (data) { showReset(c, data.reset); return loadAudit(); })
      .catch(function (error) { say(error.message); });
  }

  // --- stores ------------------------------------------------------------------------------

  function putStore(s, body) {
    document.body.setAttribute('data-admin', 'saving');  // tests wait for 'ready' again
    var message = null;
    return api('PUT', '/console/api/admin/stores/' + encodeURIComponent(s.code), body)
      .then(function () { message = [t('store_saved', { store: s.name }), true]; })
      .catch(function (error) { message = [s.name + ': ' + error.message, false]; })
      .then(function () { return loadAll(); })
      .then(function () {
        say(message[0], message[1]);
        document.body.setAttribute('data-admin', 'ready');
      });
  }

  function switchCell(s, field, label, disabledNote) {
    var cell = el('td');
    var box = el('input', null, null, { type: 'checkbox', 'aria-label': label, 'data-field': field });
    box.checked = !!s[field];
    box.addEventListener('change', function () {
      var body = {};
      body[field] = box.checked;
      putStore(s, body);
    });
    cell.appendChild(box);
    if (disabledNote) cell.appendChild(el('span', 'muted', ' ' + disabledNote));
    return cell;
  }

  function renderStores(defaultHours) {
    $('default-hours').textContent = defaultHours || t('always');
    var body = $('stores').querySelector('tbody');
    body.textContent = '';
    stores.forEach(function (s) {
      var row = el('tr', null, null, { 'data-store': s.code });
      var name = el('td');
      name.appendChild(el('strong', null, s.name));
      name.appendChild(el('div', 'muted', s.code + ' · ' + s.city));
      row.appendChild(name);
      row.appendChild(switchCell(s, 'try_on_enabled', t('try_on_of', { store: s.name }),
        s.try_on_service ? '' : t('no_try_on_service')));
      row.appendChild(switchCell(s, 'temporarily_closed', t('closed_of', { store: s.name })));
      var cell = el('td');
      var wrap = el('div', 'hours-cell');
      var input = el('input', 'hours-input', null, {
        'aria-label': t('hours_own', { store: s.name }), maxlength: '200',
        placeholder: defaultHours || t('always'), autocomplete: 'off'
      });
      input.value = s.consultant_hours || '';
      var save = el('button', 'save-hours', t('save_hours'), { type: 'button', 'aria-label': t('save_hours') + ' — ' + s.name });
      save.addEventListener('click', function () {
        putStore(s, { consultant_hours: input.value.trim() || null });
      });
      wrap.appendChild(input);
      wrap.appendChild(save);
      if (s.consultant_hours) {
        var clear = el('button', 'clear-hours', t('use_default'), { type: 'button', 'aria-label': t('use_default') + ' — ' + s.name });
        clear.addEventListener('click', function () { putStore(s, { consultant_hours: null }); });
        wrap.appendChild(clear);
      }
      wrap.appendChild(el('span', 'muted', s.consultant_hours ? t('own_hours') : t('uses_default')));
      cell.appendChild(wrap);
      row.appendChild(cell);
      body.appendChild(row);
    });
  }

  // --- audit ---------------------------------------------------------------------------------

  function loadAudit() {
    return api('GET', '/console/api/admin/audit?limit=50').then(function (data) {
      var body = $('audit').querySelector('tbody');
      body.textContent = '';
      data.entries.forEach(function (e) {
        var row = el('tr');
        row.appendChild(el('td', null, when(e.at)));
        row.appendChild(el('td', null, e.actor.replace(/^consultant:\d+:/, '')));
        row.appendChild(el('td', null, t('a_' + e.action.replace('.', '_'))));
        row.appendChild(el('td', null, e.target));
        var details = el('td');
        details.appendChild(el('code', null, Object.keys(e.details).length ? JSON.stringify(e.details) : ''));
        row.appendChild(details);
        body.appendChild(row);
      });
    });
  }

  function loadAll() {
    return Promise.all([
      api('GET', '/console/api/admin/stores'),
      api('GET', '/console/api/admin/consultants')
    ]).then(function (answers) {
      stores = answers[0].stores;
      consultants = answers[1].consultants;
      renderStores(answers[0].default_consultant_hours);
      renderConsultants();
      if (!$('consultant-id').value) renderStoreChoices(chosenStores());
      return loadAudit();
    });
  }

  function start() {
    var saved = null;
    try { saved = window.localStorage.getItem('vetrina.console.lang'); } catch (e) { /* private mode */ }
    var browser = (navigator.language || 'it').toLowerCase().indexOf('it') === 0 ? 'it' : 'en';
    lang = (saved || browser) === 'en' ? 'en' : 'it';
    applyLanguage();
    $('consultant-form').addEventListener('submit', saveConsultant);
    $('consultant-cancel').addEventListener('click', function () { fillForm(null); });
    $('reset-hide').addEventListener('click', function () {
      $('reset-box').hidden = true;
      $('reset-link').value = '';
    });
    api('GET', '/console/api/me').then(function (data) {
      me = data;
      if (data.language === 'it' || data.language === 'en') lang = data.language;
      applyLanguage();
      $('me').textContent = data.name;
      return loadAll();
    }).then(function () {
      fillForm(null);
      document.body.setAttribute('data-admin', 'ready');
    }).catch(function (error) { say(error.message); });
  }

  start();
}());
