/* astrocat file explorer: filters, sorting and paging over the chunked index in data/.
   Chunks are plain scripts calling AstrocatFiles.chunk(...): fetch() of local files is
   refused under file://, a <script> tag is not. Cells are written with textContent only. */
(function () {
  'use strict';
  var FILTERS = ['target', 'filter', 'type', 'camera', 'telescope'];
  var state = {
    meta: null, col: {}, rows: [], next: 0, loadedChunks: 0, view: [], page: 0, pageSize: 100,
    sortKey: 'night', sortDir: -1, lastRender: 0, timer: null, hay: []
  };
  var el = {};

  function $(id) { return document.getElementById(id); }

  function fmtNum(v, digits) {
    if (v === null || v === undefined) { return ''; }
    return digits === undefined ? String(v) : Number(v).toFixed(digits);
  }
  function fmtBytes(n) {
    if (n === null || n === undefined) { return ''; }
    var units = ['B', 'KB', 'MB', 'GB', 'TB'], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? n + ' B' : n.toFixed(1) + ' ' + units[i];
  }

  function readForm() {
    var f = el.form, out = {};
    FILTERS.forEach(function (k) { out[k] = f.elements[k].value; });
    out.from = f.elements.from.value;
    out.to = f.elements.to.value;
    out.q = f.elements.q.value.trim().toLowerCase();
    out.session = f.elements.session.value;
    return out;
  }

  function writeHash(crit) {
    var parts = [];
    Object.keys(crit).forEach(function (k) {
      if (crit[k]) { parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(crit[k])); }
    });
    var hash = parts.length ? '#' + parts.join('&') : ' ';
    try { history.replaceState(null, '', hash === ' ' ? location.pathname + location.search : hash); } catch (e) { /* ignore */ }
  }

  function readHash() {
    var out = {};
    (location.hash || '').replace(/^#/, '').split('&').forEach(function (pair) {
      if (!pair) { return; }
      var i = pair.indexOf('=');
      if (i < 0) { return; }
      try { out[decodeURIComponent(pair.slice(0, i))] = decodeURIComponent(pair.slice(i + 1)); } catch (e) { /* bad escape */ }
    });
    return out;
  }

  function ensureOption(select, value) {
    for (var i = 0; i < select.options.length; i++) { if (select.options[i].value === value) { return; } }
    var o = document.createElement('option');
    o.value = value; o.textContent = value;
    select.appendChild(o);
  }

  function fillOptions() {
    FILTERS.forEach(function (k) {
      var select = el.form.elements[k];
      (state.meta.options[k] || []).forEach(function (v) { ensureOption(select, v); });
    });
    var n = state.meta.nights || [];
    if (n.length === 2) {
      el.form.elements.from.min = el.form.elements.to.min = n[0];
      el.form.elements.from.max = el.form.elements.to.max = n[1];
    }
    var h = readHash();
    Object.keys(h).forEach(function (k) {
      var input = el.form.elements[k];
      if (!input) { return; }
      if (input.tagName === 'SELECT') { ensureOption(input, h[k]); }
      input.value = h[k];
    });
  }

  function decode(chunk) {
    var cols = chunk.columns, dicts = chunk.dicts, rows = chunk.rows;
    for (var r = 0; r < rows.length; r++) {
      var row = rows[r];
      for (var c = 0; c < cols.length; c++) {
        if (dicts[c] && row[c] !== null) { row[c] = dicts[c][row[c]]; }
      }
      state.rows.push(row);
    }
  }

  function haystack(i) {
    var h = state.hay[i];
    if (h === undefined) {
      var row = state.rows[i], C = state.col;
      h = [row[C.dir], row[C.name], row[C.object], row[C.target], row[C.filter], row[C.camera],
        row[C.telescope], row[C.session], row[C.type], row[C.night]].join('\u0001').toLowerCase();
      state.hay[i] = h;
    }
    return h;
  }

  function apply(resetPage) {
    var crit = readForm(), C = state.col, rows = state.rows, out = [];
    var eq = FILTERS.map(function (k) { return [C[k], crit[k]]; }).filter(function (p) { return p[1]; });
    var sess = crit.session, from = crit.from, to = crit.to, q = crit.q;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i], ok = true;
      for (var e = 0; e < eq.length; e++) {
        if (row[eq[e][0]] !== eq[e][1]) { ok = false; break; }
      }
      if (!ok) { continue; }
      if (sess && row[C.session] !== sess) { continue; }
      if (from && !(row[C.night] && row[C.night] >= from)) { continue; }
      if (to && !(row[C.night] && row[C.night] <= to)) { continue; }
      if (q && haystack(i).indexOf(q) < 0) { continue; }
      out.push(i);
    }
    sortView(out);
    state.view = out;
    if (resetPage) { state.page = 0; }
    writeHash(crit);
    render();
  }

  function sortView(view) {
    var k = state.col[state.sortKey], dir = state.sortDir, rows = state.rows, t = state.col.time, n = state.col.name;
    view.sort(function (a, b) {
      var x = rows[a][k], y = rows[b][k];
      if (x === y) {
        x = (rows[a][state.col.night] || '') + (rows[a][t] || '') + rows[a][n];
        y = (rows[b][state.col.night] || '') + (rows[b][t] || '') + rows[b][n];
        return x < y ? -dir : x > y ? dir : a - b;
      }
      if (x === null || x === undefined) { return 1; }
      if (y === null || y === undefined) { return -1; }
      return x < y ? -dir : dir;
    });
  }

  function cell(tr, text, cls, title) {
    var td = document.createElement('td');
    td.textContent = text === null || text === undefined ? '' : text;
    if (cls) { td.className = cls; }
    if (title) { td.title = title; }
    tr.appendChild(td);
    return td;
  }

  function render() {
    var C = state.col, rows = state.rows, view = state.view, size = state.pageSize;
    var pages = Math.max(1, Math.ceil(view.length / size));
    if (state.page >= pages) { state.page = pages - 1; }
    var start = state.page * size, end = Math.min(view.length, start + size);
    var frag = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      var row = rows[view[i]], tr = document.createElement('tr');
      var path = row[C.dir] ? row[C.dir] + '/' + row[C.name] : row[C.name];
      cell(tr, row[C.name], 'path', path);
      cell(tr, row[C.type]);
      cell(tr, row[C.target], null, row[C.object] ? 'OBJECT: ' + row[C.object] : null);
      cell(tr, row[C.filter]);
      cell(tr, fmtNum(row[C.exposure_s]), 'num');
      var night = cell(tr, '');
      if (row[C.session_page]) {
        var a = document.createElement('a');
        a.href = row[C.session_page];
        a.textContent = row[C.night] || '';
        a.title = 'Session ' + (row[C.session] || '');
        night.appendChild(a);
      } else { night.textContent = row[C.night] || ''; }
      cell(tr, row[C.time]);
      cell(tr, row[C.camera]);
      cell(tr, row[C.telescope]);
      cell(tr, row[C.ccd_temp_c] === null ? '' : fmtNum(row[C.ccd_temp_c], 1), 'num');
      cell(tr, fmtBytes(row[C.size]), 'num');
      frag.appendChild(tr);
    }
    el.body.textContent = '';
    el.body.appendChild(frag);
    var total = state.meta ? state.meta.total : 0;
    var loading = state.loadedChunks < (state.meta ? state.meta.chunks.length : 0);
    var crit = readForm();
    el.status.textContent = view.length.toLocaleString('en') + ' of ' + rows.length.toLocaleString('en') + ' frames match' +
      (crit.session ? ' (session ' + crit.session + ')' : '') +
      (loading ? ' · loading the index, ' + rows.length.toLocaleString('en') + ' of ' + total.toLocaleString('en') + ' frames read…' : '');
    el.table.setAttribute('data-matches', String(view.length));
    el.table.setAttribute('data-loaded', loading ? 'false' : 'true');
    el.pageInfo.textContent = view.length ? 'Rows ' + (start + 1).toLocaleString('en') + '–' + end.toLocaleString('en') +
      ' · page ' + (state.page + 1) + ' of ' + pages : 'No frames match these filters';
    el.prev.disabled = state.page === 0;
    el.next.disabled = state.page >= pages - 1;
    var heads = el.table.querySelectorAll('th[data-sort]');
    for (var h = 0; h < heads.length; h++) {
      var key = heads[h].getAttribute('data-sort');
      heads[h].setAttribute('aria-sort', key === state.sortKey ? (state.sortDir > 0 ? 'ascending' : 'descending') : 'none');
    }
  }

  function scheduleApply() {
    var now = Date.now();
    var done = state.loadedChunks >= state.meta.chunks.length;
    if (done || now - state.lastRender > 400) {
      state.lastRender = now;
      clearTimeout(state.timer);
      apply(false);
    } else if (!state.timer) {
      state.timer = setTimeout(function () { state.timer = null; state.lastRender = Date.now(); apply(false); }, 400);
    }
  }

  function loadNext() {
    var chunks = state.meta.chunks;
    if (state.next >= chunks.length) { return; }
    var c = chunks[state.next++];
    var s = document.createElement('script');
    s.src = c.file;
    s.onerror = function () {
      el.status.textContent = 'Could not load ' + c.file + ': rebuild the site with astrocat build.';
      state.loadedChunks++;
      loadNext();
    };
    document.head.appendChild(s);
  }

  window.AstrocatFiles = {
    meta: function (meta) {
      init();
      state.meta = meta;
      meta.columns.forEach(function (c, i) { state.col[c] = i; });
      fillOptions();
      if (!meta.chunks.length) { apply(true); return; }
      loadNext();
      loadNext();  // two in flight: the next chunk parses while this one decodes
    },
    chunk: function (chunk) {
      decode(chunk);
      state.loadedChunks++;
      scheduleApply();
      loadNext();
    }
  };

  // deferred scripts run after parsing, so the form exists when meta() calls this
  function init() {
    if (el.form) { return; }
    el.form = $('filters'); el.body = $('files-body'); el.status = $('status'); el.table = $('files-table');
    el.prev = $('prev'); el.next = $('next'); el.pageInfo = $('page-info');
    var typing = null;
    el.form.addEventListener('change', function () { apply(true); });
    el.form.elements.q.addEventListener('input', function () {
      clearTimeout(typing);
      typing = setTimeout(function () { apply(true); }, 150);
    });
    el.form.addEventListener('submit', function (ev) { ev.preventDefault(); apply(true); });
    el.form.addEventListener('reset', function () { setTimeout(function () { el.form.elements.session.value = ''; apply(true); }, 0); });
    el.prev.addEventListener('click', function () { state.page--; render(); });
    el.next.addEventListener('click', function () { state.page++; render(); });
    $('page-size').addEventListener('change', function (ev) { state.pageSize = parseInt(ev.target.value, 10) || 100; state.page = 0; render(); });
    var heads = el.table.querySelectorAll('th[data-sort] button');
    for (var i = 0; i < heads.length; i++) {
      heads[i].addEventListener('click', function (ev) {
        var key = ev.currentTarget.parentNode.getAttribute('data-sort');
        if (state.sortKey === key) { state.sortDir = -state.sortDir; } else { state.sortKey = key; state.sortDir = 1; }
        state.page = 0;
        if (state.meta) { sortView(state.view); render(); }
      });
    }
  }

  document.addEventListener('DOMContentLoaded', init);
})();
