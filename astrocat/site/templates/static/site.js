/* astrocat site: theme (dark / red night vision) and copy buttons. No dependencies. */
(function () {
  'use strict';
  var KEY = 'astrocat-theme';
  var root = document.documentElement;
  function stored() { try { return localStorage.getItem(KEY); } catch (e) { return null; } }
  function store(v) { try { localStorage.setItem(KEY, v); } catch (e) { /* file:// may forbid storage */ } }
  // applied before the body is parsed, so a red-mode page never flashes white or blue
  if (stored() === 'red') { root.setAttribute('data-theme', 'red'); }

  function fallbackCopy(text) {
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function flash(button, text) {
    var old = button.getAttribute('data-label') || button.textContent;
    button.setAttribute('data-label', old);
    button.textContent = text;
    button.classList.add('done');
    setTimeout(function () { button.textContent = old; button.classList.remove('done'); }, 1400);
  }

  function copy(button) {
    var text = button.getAttribute('data-copy') || '';
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { flash(button, 'Copied'); },
        function () { flash(button, fallbackCopy(text) ? 'Copied' : 'Select and copy'); });
    } else {
      flash(button, fallbackCopy(text) ? 'Copied' : 'Select and copy');
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    var toggle = document.getElementById('theme-toggle');
    if (toggle) {
      toggle.setAttribute('aria-pressed', root.getAttribute('data-theme') === 'red' ? 'true' : 'false');
      toggle.addEventListener('click', function () {
        var red = root.getAttribute('data-theme') !== 'red';
        root.setAttribute('data-theme', red ? 'red' : 'dark');
        toggle.setAttribute('aria-pressed', red ? 'true' : 'false');
        store(red ? 'red' : 'dark');
      });
    }
    document.addEventListener('click', function (ev) {
      var b = ev.target.closest ? ev.target.closest('button.copy') : null;
      if (b) { copy(b); }
    });
  });
})();
