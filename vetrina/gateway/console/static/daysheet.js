/* The store day sheet's buttons: Arrived, Completed, No-show, Undo.
 * Each posts to /console/api/bookings/<code>/outcome with the session's CSRF token; on
 * success the sheet reloads (the row then shows its new state and buttons), on a refusal
 * (another consultant clicked first: 409) the message is shown and the sheet reloads. */
(function () {
  'use strict';
  var CSRF = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  var status = document.getElementById('sheet-status');

  function say(text) { if (status) { status.textContent = text; } }

  document.addEventListener('click', function (event) {
    var button = event.target.closest('button.outcome');
    if (!button) { return; }
    var cell = button.closest('[data-booking]');
    var code = cell.getAttribute('data-booking');
    var body = {action: button.getAttribute('data-action')};
    var undoes = button.getAttribute('data-undoes');
    if (undoes) { body.undoes = undoes; }
    cell.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
    fetch('/console/api/bookings/' + encodeURIComponent(code) + '/outcome', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': CSRF},
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) { window.location.reload(); return null; }
      return response.json().then(function (answer) {
        say(code + ': ' + ((answer.error && answer.error.message) || response.status));
        window.setTimeout(function () { window.location.reload(); }, 2500);
      });
    }).catch(function () {
      say(code + ': ' + (document.documentElement.lang === 'en'
        ? 'not saved, check the connection and try again'
        : 'non salvato, controlla la connessione e riprova'));
      cell.querySelectorAll('button').forEach(function (b) { b.disabled = false; });
    });
  });
}());
