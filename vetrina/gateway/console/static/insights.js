// The console's Insights page: reads /console/api/insights/kpis (the same figures as the
// reporting API, only the stores this person may see) and draws cards, tables and two
// uPlot charts. Text goes in with textContent only; no inline code (the CSP forbids it).
(function () {
  'use strict';

  var API = '/console/api/insights/';
  var $ = function (id) { return document.getElementById(id); };
  var NUMBER = new Intl.NumberFormat('it-IT');
  var EURO = new Intl.NumberFormat('it-IT', { style: 'currency', currency: 'EUR' });
  var charts = {};

  var SEED = [
    ['share_after_booking', 'Acquisti in negozio dopo una prenotazione online / Store purchases after an online reservation', 'pct'],
    ['share_after_chat', 'Acquisti in negozio dopo una chat / Store purchases after a chat', 'pct'],
    ['e_reservations', 'Prenotazioni online / E-reservations', 'n'],
    ['store_locator_uses', 'Ricerche del negozio più vicino / Store-locator uses', 'n'],
    ['store_purchases', 'Acquisti in negozio / Store purchases', 'n'],
  ];
  var CONVERSATIONS = [
    ['conversations', 'Conversazioni / Conversations', 'n'],
    ['automation_rate', 'Senza consulente / Automated', 'pct'],
    ['handoff_rate', 'Passate a un consulente / Handed off', 'pct'],
    ['first_response_median_s', 'Prima risposta, mediana / First response, median', 's'],
    ['first_response_p90_s', 'Prima risposta, 90° percentile / First response, p90', 's'],
    ['queue_wait_median_s', 'Attesa in coda, mediana / Queue wait, median', 's'],
  ];
  var BOOKINGS = [
    ['bookings', 'Prenotazioni / Bookings', 'n'],
    ['bookings_attended', 'Presentati / Attended', 'n'],
    ['show_rate', 'Tasso di presenza / Show rate', 'pct'],
    ['bookings_no_show', 'Non presentati / No-shows', 'n'],
    ['bookings_cancelled', 'Cancellate / Cancelled', 'n'],
    ['booking_conversion', 'Prenotazione → acquisto / Booking → purchase', 'pct'],
  ];
  var REVENUE = [
    ['revenue_cents', 'Ricavi netti / Net revenue', 'eur'],
    ['last_touch_revenue_cents', 'Ricavi attribuiti, ultimo contatto / Last-touch revenue', 'eur'],
    ['influenced_revenue_cents', 'Ricavi influenzati / Influenced revenue', 'eur'],
    ['revenue_per_conversation_cents', 'Ricavi per conversazione / Revenue per conversation', 'eur'],
    ['orders', 'Ordini / Orders', 'n'],
    ['refunds', 'Resi / Refunds', 'n'],
    ['match_rate', 'Ordini abbinati a un cliente / Orders matched to a customer', 'pct'],
  ];
  var GROUP_COLUMNS = [
    ['store_purchases', 'Acquisti in negozio / Store purchases', 'n'],
    ['share_after_booking', 'Dopo prenotazione / After booking', 'pct'],
    ['share_after_chat', 'Dopo chat / After chat', 'pct'],
    ['e_reservations', 'Prenotazioni online / E-reservations', 'n'],
    ['conversations', 'Conversazioni / Conversations', 'n'],
    ['handoff_rate', 'Passate a consulente / Handoff rate', 'pct'],
    ['bookings', 'Prenotazioni / Bookings', 'n'],
    ['last_touch_revenue_cents', 'Ultimo contatto / Last touch', 'eur'],
    ['influenced_revenue_cents', 'Influenzati / Influenced', 'eur'],
    ['revenue_cents', 'Ricavi netti / Net revenue', 'eur'],
  ];

  // Grouped by consultant, the rollups hold only what a consultant touched: other columns.
  var CONSULTANT_COLUMNS = [
    ['conversations', 'Conversazioni / Conversations', 'n'],
    ['first_response_median_s', 'Prima risposta, mediana / First response, median', 's'],
    ['queue_wait_median_s', 'Attesa in coda, mediana / Queue wait, median', 's'],
    ['last_touch_orders', 'Ordini, ultimo contatto / Last-touch orders', 'n'],
    ['last_touch_revenue_cents', 'Ultimo contatto / Last touch', 'eur'],
    ['influenced_revenue_cents', 'Influenzati / Influenced', 'eur'],
  ];

  function format(value, kind) {
    if (value === null || value === undefined || value === '') return '—';
    if (kind === 'pct') return (value * 100).toLocaleString('it-IT', { maximumFractionDigits: 1 }) + ' %';
    if (kind === 'eur') return EURO.format(value / 100);
    if (kind === 's') return NUMBER.format(value) + ' s';
    return NUMBER.format(value);
  }

  function isoDay(date) { return date.toISOString().slice(0, 10); }

  function setPeriod(days) {
    var end = new Date();
    var start = new Date(end.getTime() - (days - 1) * 86400000);
    $('from').value = isoDay(start);
    $('to').value = isoDay(end);
  }

  function params(groupBy) {
    var query = new URLSearchParams();
    query.set('from', $('from').value);
    query.set('to', $('to').value);
    if ($('store').value) query.set('store', $('store').value);
    var group = groupBy === undefined ? $('group-by').value : groupBy;
    if (group) query.set('group_by', group);
    return query;
  }

  function getJson(path) {
    return fetch(API + path, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign('/console/login'); throw new Error('login'); }
        return response.json().then(function (body) {
          if (!response.ok) {
            var problem = (body && body.error) || {};
            throw new Error(problem.message || ('HTTP ' + response.status));
          }
          return body;
        });
      });
  }

  function cards(id, spec, figures) {
    var list = $(id);
    list.replaceChildren();
    spec.forEach(function (item) {
      var box = document.createElement('div');
      box.className = 'card';
      box.dataset.kpi = item[0];
      var term = document.createElement('dt');
      term.textContent = item[1];
      var value = document.createElement('dd');
      value.textContent = figures ? format(figures[item[0]], item[2]) : '—';
      value.dataset.value = figures && figures[item[0]] !== null && figures[item[0]] !== undefined
        ? String(figures[item[0]]) : '';
      box.append(term, value);
      list.append(box);
    });
  }

  function cell(tag, text, scope) {
    var element = document.createElement(tag);
    element.textContent = text;
    if (scope) element.scope = scope;
    return element;
  }

  function fillKeys(figures) {
    var body = $('keys').tBodies[0];
    body.replaceChildren();
    var mix = (figures && figures.key_mix) || {};
    var names = Object.keys(mix).sort();
    if (!names.length) {
      var empty = document.createElement('tr');
      var none = cell('td', 'Nessun ordine abbinato / No matched orders');
      none.className = 'empty';
      none.colSpan = 2;
      empty.append(none);
      body.append(empty);
    }
    names.forEach(function (name) {
      var row = document.createElement('tr');
      row.append(cell('th', name, 'row'), cell('td', NUMBER.format(mix[name])));
      body.append(row);
    });
  }

  function fillDemand(rows) {
    var body = $('demand').tBodies[0];
    body.replaceChildren();
    if (!rows.length) {
      var empty = document.createElement('tr');
      var none = cell('td', 'Nessuna richiesta di prodotti esauriti / No out-of-stock asks');
      none.className = 'empty';
      none.colSpan = 5;
      empty.append(none);
      body.append(empty);
    }
    rows.forEach(function (item) {
      var row = document.createElement('tr');
      row.append(
        cell('th', item.product_code, 'row'),
        cell('td', item.store || 'tutti / all'),
        cell('td', NUMBER.format(item.asks)),
        cell('td', NUMBER.format(item.out_of_stock)),
        cell('td', NUMBER.format(item.last_pieces))
      );
      body.append(row);
    });
  }

  function fillGroups(document_) {
    var section = $('groups-section');
    var groups = document_.groups || [];
    section.hidden = !document_.group_by;
    var head = $('groups').tHead.rows[0];
    var body = $('groups').tBodies[0];
    var columns = document_.group_by === 'consultant' ? CONSULTANT_COLUMNS : GROUP_COLUMNS;
    head.replaceChildren(cell('th', 'Gruppo / Group', 'col'));
    columns.forEach(function (column) { head.append(cell('th', column[1], 'col')); });
    body.replaceChildren();
    groups.forEach(function (group) {
      var row = document.createElement('tr');
      var label = group.name || (group.key === null ? '(nessuno / none)' : String(group.key));
      row.append(cell('th', label, 'row'));
      columns.forEach(function (column) {
        row.append(cell('td', format(group[column[0]], column[2])));
      });
      body.append(row);
    });
  }

  function series(daily, names) {
    var days = [];
    var start = new Date($('from').value + 'T00:00:00Z');
    var end = new Date($('to').value + 'T00:00:00Z');
    for (var t = start.getTime(); t <= end.getTime(); t += 86400000) days.push(t);
    var byDay = {};
    (daily.groups || []).forEach(function (group) { byDay[group.key] = group; });
    var data = [days.map(function (t) { return t / 1000; })];
    names.forEach(function (name) {
      data.push(days.map(function (t) {
        var group = byDay[new Date(t).toISOString().slice(0, 10)];
        return group ? (group[name] || 0) : 0;
      }));
    });
    return data;
  }

  function draw(id, labels, colours, data) {
    var element = $(id);
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    if (typeof window.uPlot !== 'function') { element.textContent = 'Grafico non disponibile / Chart unavailable'; return; }
    var width = Math.max(320, element.clientWidth || 800);
    var options = {
      width: width,
      height: 220,
      scales: { x: { time: true } },
      series: [{}].concat(labels.map(function (label, index) {
        return { label: label, stroke: colours[index], width: 2 };
      })),
      axes: [{}, { size: 50 }],
    };
    charts[id] = new window.uPlot(options, data, element);
    element.dataset.points = String(data[0].length);
  }

  function load() {
    $('error').textContent = '';
    $('state').dataset.state = 'loading';
    $('state').textContent = 'Carico… / Loading…';
    $('csv').href = API + 'kpis.csv?' + params().toString();
    var main = getJson('kpis?' + params().toString());
    var group = $('group-by').value;
    var daily = group === 'day' ? main : getJson('kpis?' + params('day').toString());
    // Grouped by consultant the document has no totals: the cards read an ungrouped query.
    var whole = group === 'consultant' ? getJson('kpis?' + params('').toString()) : main;
    return Promise.all([main, daily, whole]).then(function (both) {
      var document_ = both[0];
      var totals = both[2].totals;
      cards('seed', SEED, totals);
      cards('conversations', CONVERSATIONS, totals);
      cards('bookings', BOOKINGS, totals);
      cards('revenue', REVENUE, totals);
      fillKeys(totals);
      fillDemand(document_.top_out_of_stock || []);
      fillGroups(document_);
      draw('chart-purchases',
        ['Acquisti in negozio / Store purchases', 'Dopo prenotazione / After booking', 'Dopo chat / After chat'],
        ['#1d2b36', '#2e7d32', '#c77700'],
        series(both[1], ['store_purchases', 'store_purchases_after_booking', 'store_purchases_after_chat']));
      draw('chart-conversations',
        ['Conversazioni / Conversations', 'Passate a consulente / Handed off'],
        ['#1565c0', '#ad1457'],
        series(both[1], ['conversations', 'handed_off']));
      $('state').dataset.state = 'ready';
      $('state').textContent = 'Dal ' + document_.from + ' al ' + document_.to +
        (document_.store ? ' · ' + document_.store : ' · tutti i negozi / all stores');
      $('state').dataset.period = document_.from + '/' + document_.to;
    }).catch(function (problem) {
      if (problem.message === 'login') return;
      $('state').dataset.state = 'error';
      $('state').textContent = '';
      $('error').textContent = problem.message;
    });
  }

  function loadStores() {
    return getJson('stores').then(function (body) {
      var select = $('store');
      select.replaceChildren();
      if (body.all_stores) {
        select.append(new Option('Tutti i negozi / All stores', ''));
      }
      body.stores.forEach(function (store) {
        select.append(new Option(store.code + ' — ' + store.name, store.code));
      });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    setPeriod(30);
    document.querySelectorAll('.presets button').forEach(function (button) {
      button.addEventListener('click', function () {
        setPeriod(Number(button.dataset.days));
        load();
      });
    });
    $('filters').addEventListener('submit', function (event) {
      event.preventDefault();
      load();
    });
    ['store', 'group-by'].forEach(function (id) { $(id).addEventListener('change', load); });
    loadStores().then(load, function (problem) {
      $('error').textContent = problem.message;
    });
  });
})();
