// agenthook dashboard: plain JavaScript, no build step, no library, no
// request to any other origin. The API key lives in the `key` variable of
// this closure only (never in web storage, a cookie or
// the URL); logging out or reloading the page forgets it. Every element is
// built with createElement and text nodes, never from an HTML string, so
// nothing the API returns is ever parsed as HTML.
(() => {
  'use strict';

  // The API is the parent of /ui/: /api/ui/ talks to /api.
  const base = location.pathname.replace(/\/ui(\/.*)?$/, '');
  let key = null;
  let streamCtl = null;
  let retryTimer = null;
  let agents = [];
  let lastStats = null;
  let routeSeq = 0;

  const $ = (sel) => document.querySelector(sel);

  // h builds an element: h('a', {href: '#'}, 'text', child, ...).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }
  const svgNS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    for (const c of children) el.append(c instanceof Node ? c : String(c));
    return el;
  }

  // ---- API ----

  class APIError extends Error {
    constructor(status, body) {
      super((body && body.error) || ('HTTP ' + status));
      this.status = status;
      this.code = body && body.code;
    }
  }

  async function api(method, path, body) {
    if (!key) throw new APIError(401, { error: 'signed out' });
    const init = { method, headers: { Authorization: 'Bearer ' + key }, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(base + path, init);
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (res.status === 401 && key) {
      logout('Your key was refused; sign in again.');
    }
    if (!res.ok) throw new APIError(res.status, data);
    return data;
  }

  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) u.set(k, v);
    const s = u.toString();
    return s ? '?' + s : '';
  }

  // ---- formatting ----

  const fmtTime = (s) => {
    if (!s) return '';
    const d = new Date(s);
    return isNaN(d) ? s : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  };
  const fmtNum = (v, digits) => (v === null || v === undefined) ? '–' : Number(v).toFixed(digits === undefined ? 2 : digits);
  const fmtPct = (v) => (v === null || v === undefined) ? '–' : (v * 100).toFixed(1) + ' %';
  const fmtMS = (v) => (v === null || v === undefined) ? '–' : (v >= 1000 ? (v / 1000).toFixed(2) + ' s' : Math.round(v) + ' ms');

  function badge(text) {
    const t = String(text || '').toLowerCase();
    let cls = 'neutral';
    if (['success', 'delivered', 'active', 'healthy', 'closed', 'available'].includes(t)) cls = 'ok';
    else if (['pending', 'started', 'half_open', 'inactive'].includes(t)) cls = 'warn';
    else if (['failure', 'failed', 'disabled', 'unhealthy', 'open', 'unavailable'].includes(t)) cls = 'bad';
    return h('span', { class: 'badge ' + cls }, text);
  }

  function toast(msg) {
    const t = $('#toast');
    t.textContent = msg;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.textContent = ''; }, 6000);
  }

  function table(headers, rows, empty) {
    if (!rows.length) return h('p', { class: 'muted' }, empty || 'Nothing to show.');
    return h('div', { class: 'table-wrap' },
      h('table', {},
        h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, rows)));
  }

  function kv(pairs) {
    return h('dl', { class: 'kv' }, pairs.filter((p) => p[1] !== undefined && p[1] !== null && p[1] !== '').flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  function pretty(v) {
    if (typeof v === 'string') {
      try { return JSON.stringify(JSON.parse(v), null, 2); } catch (e) { return v; }
    }
    return JSON.stringify(v, null, 2);
  }

  function field(label, input) {
    const id = 'f-' + label.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    input.id = id;
    return h('div', {}, h('label', { for: id }, label), input);
  }

  function select(name, options, value) {
    return h('select', { name }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  }

  // datetime-local values are local times; the API wants RFC 3339.
  const toISO = (v) => v ? new Date(v).toISOString() : '';
  const toLocalInput = (iso) => {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return '';
    const off = d.getTimezoneOffset() * 60000;
    return new Date(d - off).toISOString().slice(0, 16);
  };

  // ---- session ----

  async function login(ev) {
    ev.preventDefault();
    const input = $('#key');
    const err = $('#login-error');
    const candidate = input.value.trim();
    err.textContent = '';
    if (!candidate) return;
    key = candidate;
    try {
      const res = await api('GET', '/agents');
      agents = res.data || [];
    } catch (e) {
      key = null;
      err.textContent = e.status === 401 ? 'This key was refused.' : 'Sign-in failed: ' + e.message;
      input.select();
      return;
    }
    input.value = '';
    $('#login').hidden = true;
    $('#app').hidden = false;
    $('#whoami').textContent = agents.length + (agents.length === 1 ? ' agent' : ' agents') + ' visible';
    if (!location.hash || location.hash === '#') location.hash = '#/overview';
    else route();
  }

  function logout(msg) {
    key = null;
    agents = [];
    lastStats = null;
    stopStream();
    $('#main').replaceChildren();
    $('#app').hidden = true;
    $('#login').hidden = false;
    $('#login-error').textContent = msg || '';
    history.replaceState(null, '', location.pathname);
    $('#key').focus();
  }

  // ---- routing ----

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [path, query] = raw.split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    return { parts, params: new URLSearchParams(query || '') };
  }

  async function route() {
    if (!key) return;
    const seq = ++routeSeq;
    const { parts, params } = parseHash();
    const view = parts[0] || 'overview';
    for (const a of document.querySelectorAll('.top nav a')) {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (view !== 'overview') stopStream();
    const main = $('#main');
    main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    let node;
    try {
      switch (view) {
        case 'agents': node = await viewAgents(); break;
        case 'tasks': node = parts[1] ? await viewTask(parts[1]) : await viewTasks(params); break;
        case 'deliveries': node = parts[1] ? await viewDelivery(parts[1]) : await viewDeliveries(params); break;
        default: node = await viewOverview();
      }
    } catch (e) {
      if (!key) return;
      node = h('div', { class: 'panel' }, h('h2', {}, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, e.message));
    }
    if (seq !== routeSeq || !key) return; // another route started meanwhile
    main.replaceChildren(node);
    document.title = (main.querySelector('h2') ? main.querySelector('h2').textContent + ' · ' : '') + 'agenthook';
    window.scrollTo(0, 0);
    if (route.focus) main.focus({ preventScroll: true });
    route.focus = true;
  }

  function go(hash) {
    if (location.hash === hash) route(); else location.hash = hash;
  }

  // ---- overview ----

  async function viewOverview() {
    lastStats = await api('GET', '/stats');
    const node = h('div', {}, h('h2', {}, 'Overview ', h('span', { class: 'live', id: 'live' }, 'updating…')),
      h('div', { id: 'overview-body' }));
    renderStats(node.querySelector('#overview-body'), lastStats);
    startStream();
    return node;
  }

  function renderStats(container, st) {
    const pts = st.points || [];
    const last = pts[pts.length - 1] || {};
    const hr = st.hour || {};
    const scoped = st.agents && st.agents.length;
    const cards = h('div', { class: 'cards' },
      card('Queue (pending / running)', scoped ? 'n/a' : (last.queue_pending === null || last.queue_pending === undefined ? '–' : last.queue_pending + ' / ' + last.queue_started),
        scoped ? 'the store counts every agent' : ''),
      card('Tasks/s (last minute)', fmtNum(last.tasks_per_s), hr.tasks + ' in the hour'),
      card('Deliveries/s (last minute)', fmtNum(last.deliveries_per_s), hr.deliveries + ' attempts in the hour'),
      card('Failure rate (hour)', fmtPct(hr.failure_rate), hr.deliveries_failed + ' failed attempts'),
      card('202 → callback p50 / p99 (hour)', fmtMS(hr.latency_p50_ms) + ' / ' + fmtMS(hr.latency_p99_ms), ''));
    const charts = h('div', { class: 'charts' },
      scoped ? null : chart('Queue depth', [['pending', pts.map((p) => p.queue_pending)], ['running', pts.map((p) => p.queue_started)]], (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1))),
      chart('Tasks/s', [['tasks/s', pts.map((p) => p.tasks_per_s)]], (v) => fmtNum(v)),
      chart('Deliveries/s', [['attempts/s', pts.map((p) => p.deliveries_per_s)]], (v) => fmtNum(v)),
      chart('Delivery failure rate', [['failed share', pts.map((p) => p.failure_rate)]], fmtPct, 1),
      chart('Latency, 202 → callback', [['p50', pts.map((p) => p.latency_p50_ms)], ['p99', pts.map((p) => p.latency_p99_ms)]], fmtMS));
    const note = h('p', { class: 'hint' }, 'The last hour, per minute, as counted by this Caddy instance since it started' +
      (scoped ? ' for the agents of this key (' + st.agents.join(', ') + ').' : '.') + ' Generated ' + fmtTime(st.generated_at) + '.');
    container.replaceChildren(cards, charts, note);
  }

  function card(label, value, sub) {
    return h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), sub ? h('div', { class: 'hint' }, sub) : null);
  }

  // chart draws series of up to 60 values (null: no data) as lines.
  function chart(title, series, fmt, fixedMax) {
    const W = 600, H = 160, L = 72, R = 10, T = 10, B = 22;
    const all = series.flatMap(([, v]) => v).filter((v) => v !== null && v !== undefined);
    let max = fixedMax || Math.max(0, ...all);
    if (max === 0) max = 1;
    const n = Math.max(...series.map(([, v]) => v.length), 2);
    const x = (i) => L + (W - L - R) * i / (n - 1);
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' });
    for (const f of [0, 0.5, 1]) {
      svg.append(s('line', { class: 'grid', x1: L, x2: W - R, y1: y(max * f), y2: y(max * f) }));
      svg.append(s('text', { class: 'axis', x: L - 4, y: y(max * f) + 4, 'text-anchor': 'end' }, fmt(max * f)));
    }
    svg.append(s('text', { class: 'axis', x: L, y: H - 4 }, '−60 min'));
    svg.append(s('text', { class: 'axis', x: W - R, y: H - 4, 'text-anchor': 'end' }, 'now'));
    const summary = [];
    series.forEach(([name, values], si) => {
      let d = '';
      let pen = false;
      values.forEach((v, i) => {
        if (v === null || v === undefined) { pen = false; return; }
        d += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1) + ' ';
        pen = true;
      });
      if (d) svg.append(s('path', { class: 's' + si, d }));
      // A point without neighbours draws no line: show it as a dot.
      values.forEach((v, i) => {
        const gap = (j) => j < 0 || j >= values.length || values[j] === null || values[j] === undefined;
        if (v !== null && v !== undefined && gap(i - 1) && gap(i + 1)) svg.append(s('circle', { class: 'd' + si, cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 3 }));
      });
      const lastV = [...values].reverse().find((v) => v !== null && v !== undefined);
      summary.push(name + ' now ' + (lastV === undefined ? 'no data' : fmt(lastV)));
    });
    if (!all.length) svg.append(s('text', { class: 'axis empty', x: (L + W - R) / 2, y: (T + H - B) / 2, 'text-anchor': 'middle' }, 'no data yet'));
    svg.setAttribute('aria-label', title + ': ' + summary.join(', '));
    return h('figure', { class: 'chart' },
      h('figcaption', {}, h('span', {}, title), h('span', {}, series.map(([name], si) => h('span', { class: 'legend-' + si }, name + ' ')))),
      svg);
  }

  function stopStream() {
    clearTimeout(retryTimer);
    if (streamCtl) streamCtl.abort();
    streamCtl = null;
  }

  // The stats stream is Server-Sent Events read with fetch: EventSource
  // cannot send the Authorization header, and a key in the URL would end
  // up in access logs.
  async function startStream() {
    stopStream();
    const ctl = new AbortController();
    streamCtl = ctl;
    const live = () => $('#live');
    try {
      const res = await fetch(base + '/stats/stream', { headers: { Authorization: 'Bearer ' + key, Accept: 'text/event-stream' },
        signal: ctl.signal, cache: 'no-store', credentials: 'omit' });
      if (res.status === 401) { logout('Your key was refused; sign in again.'); return; }
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      if (live()) { live().textContent = 'live'; live().classList.add('on'); }
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message', data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (event === 'stats' && data) {
            lastStats = JSON.parse(data);
            const body = $('#overview-body');
            if (body) renderStats(body, lastStats);
          }
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    if (ctl.signal.aborted || streamCtl !== ctl) return;
    if (live()) { live().textContent = 'reconnecting…'; live().classList.remove('on'); }
    // The server ended the stream (a reload, or its age): connect again.
    retryTimer = setTimeout(() => { if (key && $('#overview-body')) startStream(); }, 3000);
  }

  // ---- agents ----

  async function viewAgents() {
    const res = await api('GET', '/agents');
    agents = res.data || [];
    const hooks = await Promise.all(agents.map((a) => api('GET', '/agents/' + encodeURIComponent(a.id) + '/webhooks').then((r) => r.data || [], () => null)));
    const node = h('div', {}, h('h2', {}, 'Agents'));
    if (!agents.length) node.append(h('p', { class: 'muted' }, 'This key sees no agent.'));
    agents.forEach((a, i) => node.append(agentPanel(a, hooks[i])));
    return node;
  }

  function agentPanel(a, hooks) {
    const ups = a.upstreams || [];
    const upRows = ups.map((u) => h('tr', {},
      h('td', { class: 'mono' }, u.address),
      h('td', {}, badge(u.healthy ? 'healthy' : 'unhealthy'), ' ', u.available ? '' : badge('unavailable')),
      h('td', { class: 'num' }, u.num_requests), h('td', { class: 'num' }, u.fails)));
    const epRows = (a.endpoints || []).map((e) => h('tr', {},
      h('td', { class: 'mono' }, e.name), h('td', {}, e.mode),
      h('td', {}, [e.sensitive ? badge('sensitive') : null, e.agent_from_token ? ' token-routed' : null])));
    const hookRows = (hooks || []).map((w) => webhookRow(a, w));
    return h('section', { class: 'panel', 'aria-labelledby': 'agent-' + a.id, 'data-agent': a.id },
      h('h2', { id: 'agent-' + a.id }, a.id),
      h('h3', {}, 'Upstreams'),
      ups.length ? table(['Address', 'Health', 'Requests', 'Fails'], upRows) : h('p', { class: 'muted' }, 'The backend does not report its upstreams.'),
      a.dynamic_upstreams ? h('p', { class: 'hint' }, 'More upstreams are found at run time.') : null,
      h('h3', {}, 'Endpoints'),
      table(['Name', 'Mode', ''], epRows, 'No endpoint reaches this agent.'),
      h('h3', {}, 'Callbacks'),
      hooks === null ? h('p', { class: 'error' }, 'The callbacks could not be read.') :
        table(['Callback', 'URL', 'Status', 'Breaker', 'Failing since', 'Actions'], hookRows, 'No callback.'),
      h('div', { class: 'agent-out' }));
  }

  function webhookRow(a, w) {
    const hl = w.health || {};
    const br = hl.breaker;
    const act = (label, fn, cls) => h('button', { type: 'button', class: cls || 'secondary', onclick: fn }, label);
    const path = '/agents/' + encodeURIComponent(a.id) + '/webhooks/' + encodeURIComponent(w.id);
    const out = () => document.querySelector('[data-agent="' + CSS.escape(a.id) + '"] .agent-out');
    const actions = h('div', { class: 'actions' });
    if (w.status !== 'active') {
      actions.append(act('Enable', async () => {
        try { await api('PATCH', path, { status: 'active' }); toast('Enabled ' + w.id); go('#/agents'); } catch (e) { toast('Enable failed: ' + e.message); }
      }));
    } else if (w.source === 'api') {
      actions.append(act('Disable', async () => {
        if (!window.confirm('Disable ' + w.id + '? Deliveries to it stop until it is enabled again.')) return;
        try { await api('PATCH', path, { status: 'inactive' }); toast('Disabled ' + w.id); go('#/agents'); } catch (e) { toast('Disable failed: ' + e.message); }
      }));
    }
    if (w.source === 'api') {
      actions.append(act('Rotate secret', async () => {
        if (!window.confirm('Rotate the signing secret of ' + w.id + '? The old one keeps signing for 24 hours.')) return;
        try {
          const r = await api('POST', path + '/rotate-secret', {});
          out().replaceChildren(h('div', { class: 'secret', role: 'status' }, h('strong', {}, 'New secret of ' + w.id + ' (shown once): '), h('code', {}, r.secret || '(your own)')));
        } catch (e) { toast('Rotation failed: ' + e.message); }
      }));
    }
    actions.append(act('Send test', async () => {
      try {
        const r = await api('POST', path + '/test', {});
        toast((r.delivered ? 'Test delivered' : 'Test not delivered') + ' to ' + w.id + ': ' + (r.status_code || r.error || '') + ' in ' + fmtMS(r.latency_ms));
      } catch (e) { toast('Test failed: ' + e.message); }
    }));
    return h('tr', { 'data-callback': w.id },
      h('td', { class: 'mono' }, w.id, h('div', { class: 'hint' }, w.source === 'config' ? 'from the Caddyfile' : 'registered')),
      h('td', { class: 'mono' }, w.url),
      h('td', {}, badge(w.status), w.disabled_reason ? h('div', { class: 'hint' }, w.disabled_reason) : null),
      h('td', {}, br ? [badge(br.state), br.failures ? h('div', { class: 'hint' }, br.failures + ' failures in a row') : null,
        br.open_until ? h('div', { class: 'hint' }, 'until ' + fmtTime(br.open_until)) : null] : '–'),
      h('td', {}, hl.failing_since ? fmtTime(hl.failing_since) : '–'),
      h('td', {}, actions));
  }

  // ---- tasks ----

  function agentOptions(value) {
    return select('agent', [['', 'Any agent'], ...agents.map((a) => [a.id, a.id])], value);
  }

  async function viewTasks(params) {
    const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Search tasks' },
      field('Task id', h('input', { name: 'id', value: params.get('id') || '', spellcheck: 'false' })),
      field('Chat', h('input', { name: 'chat', value: params.get('chat') || '', spellcheck: 'false' })),
      field('Status', select('status', [['', 'Any'], ['PENDING', 'PENDING'], ['STARTED', 'STARTED'], ['SUCCESS', 'SUCCESS'], ['FAILURE', 'FAILURE']], params.get('status') || '')),
      field('Agent', agentOptions(params.get('agent') || '')),
      field('Since', h('input', { name: 'since', type: 'datetime-local', value: toLocalInput(params.get('since')) })),
      field('Until', h('input', { name: 'until', type: 'datetime-local', value: toLocalInput(params.get('until')) })),
      h('div', {}, h('button', { type: 'submit' }, 'Search')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      go('#/tasks' + qs({ id: f.get('id').trim(), chat: f.get('chat').trim(), status: f.get('status'), agent: f.get('agent'),
        since: toISO(f.get('since')), until: toISO(f.get('until')) }));
    });
    const results = h('div', { id: 'task-results' });
    const q = { id: params.get('id'), chat: params.get('chat'), status: params.get('status'), agent: params.get('agent'),
      since: params.get('since'), until: params.get('until'), limit: '50' };
    await listInto(results, '/tasks', q, (t) => h('tr', {},
      h('td', { class: 'mono' }, h('a', { href: '#/tasks/' + encodeURIComponent(t.task_id) }, t.task_id)),
      h('td', {}, t.agent), h('td', {}, badge(t.status)), h('td', { class: 'mono' }, t.chat_id),
      h('td', { class: 'num' }, t.attempts), h('td', {}, fmtTime(t.created_at))),
    ['Task', 'Agent', 'Status', 'Chat', 'Attempts', 'Created'], 'No task matches.');
    return h('div', {}, h('h2', {}, 'Tasks'), h('div', { class: 'panel' }, form, results));
  }

  // listInto fills el with a table of a listing, and a button for the next page.
  async function listInto(el, path, params, row, headers, empty) {
    const tbody = [];
    let cursor = '';
    const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More');
    const render = () => {
      el.replaceChildren(table(headers, tbody, empty), more);
    };
    const load = async () => {
      const res = await api('GET', path + qs({ ...params, cursor }));
      for (const item of res.data || []) tbody.push(row(item));
      cursor = res.next_cursor || '';
      more.hidden = !cursor;
      render();
    };
    more.addEventListener('click', () => load().catch((e) => toast(e.message)));
    try {
      await load();
    } catch (e) {
      if (e.status === 404 || e.status === 400) el.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
      else throw e;
    }
  }

  async function viewTask(id) {
    let t;
    try {
      t = await api('GET', '/tasks/' + encodeURIComponent(id));
    } catch (e) {
      if (e.status === 404) return h('div', { class: 'panel' }, h('h2', {}, 'Task not found'), h('p', {}, 'No task ' + id + ' that this key sees.'));
      throw e;
    }
    const req = t.request;
    const reqNode = t.sensitive || !req
      ? h('p', { class: 'muted' }, 'Not shown: the task came through a sensitive endpoint.')
      : h('div', {}, kv([['Method', req.method], ['Body', req.body_bytes + ' bytes' + (req.body_truncated ? ' (the first 64 KiB shown)' : '')]]),
        req.headers ? table(['Header', 'Value'], Object.entries(req.headers).sort().map(([k, v]) => h('tr', {}, h('td', { class: 'mono' }, k), h('td', { class: 'mono' }, v)))) : null,
        req.body_dropped ? h('p', { class: 'muted' }, 'The body is no longer kept: the store keeps it until the task finishes.')
          : req.body_binary ? h('p', { class: 'muted' }, 'The body is not text.') : h('pre', { id: 'task-request' }, pretty(req.body || '')));
    let result = null;
    if (t.result !== null && t.result !== undefined) result = h('pre', { id: 'task-result' }, pretty(t.result));
    else if (t.result_base64) result = h('p', { class: 'muted' }, 'A binary answer (' + (t.content_type || 'no content type') + ').');
    else result = h('p', { class: 'muted' }, 'No result yet.');
    const deliveries = h('div', {});
    await listInto(deliveries, '/agents/' + encodeURIComponent(t.agent) + '/deliveries', { task: t.task_id, limit: '100' }, deliveryRow,
      ['Delivery', 'Callback', 'Event', 'Status', 'Attempts', 'Updated'], 'No delivery for this task.');
    return h('div', {},
      h('h2', {}, 'Task ', h('span', { class: 'mono' }, t.task_id)),
      h('div', { class: 'panel' }, kv([['Status', badge(t.status)], ['Agent', t.agent], ['Chat', h('a', { href: '#/tasks' + qs({ chat: t.chat_id }) }, t.chat_id)],
        ['Endpoint', t.endpoint], ['Attempts', String(t.attempts)], ['Backend status', t.backend_status ? String(t.backend_status) : ''],
        ['Error', t.error], ['Created', fmtTime(t.created_at)], ['Updated', fmtTime(t.updated_at)]])),
      h('section', { class: 'panel', id: 'task-request-section' }, h('h3', {}, 'Request'), reqNode),
      h('section', { class: 'panel' }, h('h3', {}, 'Result'), result),
      h('section', { class: 'panel' }, h('h3', {}, 'Deliveries'), deliveries));
  }

  // ---- deliveries ----

  function deliveryRow(d) {
    return h('tr', { 'data-delivery': d.id },
      h('td', { class: 'mono' }, h('a', { href: '#/deliveries/' + encodeURIComponent(d.id) }, d.id)),
      h('td', { class: 'mono' }, d.callback_id), h('td', {}, d.event_type), h('td', {}, badge(d.status)),
      h('td', { class: 'num' }, d.attempt_count), h('td', {}, fmtTime(d.updated_at)));
  }

  async function viewDeliveries(params) {
    const node = h('div', {}, h('h2', {}, 'Deliveries'));
    if (!agents.length) { node.append(h('p', { class: 'muted' }, 'This key sees no agent.')); return node; }
    const agent = params.get('agent') || agents[0].id;
    const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter deliveries' },
      field('Agent', select('agent', agents.map((a) => [a.id, a.id]), agent)),
      field('Status', select('status', [['', 'Any'], ['pending', 'pending'], ['delivered', 'delivered'], ['failed', 'failed (dead letters)']], params.get('status') || '')),
      field('Callback', h('input', { name: 'callback', value: params.get('callback') || '', spellcheck: 'false' })),
      field('Task', h('input', { name: 'task', value: params.get('task') || '', spellcheck: 'false' })),
      field('Chat', h('input', { name: 'chat', value: params.get('chat') || '', spellcheck: 'false' })),
      field('Event type', h('input', { name: 'event_type', value: params.get('event_type') || '', spellcheck: 'false' })),
      field('Since', h('input', { name: 'since', type: 'datetime-local', value: toLocalInput(params.get('since')) })),
      field('Until', h('input', { name: 'until', type: 'datetime-local', value: toLocalInput(params.get('until')) })),
      h('div', {}, h('button', { type: 'submit' }, 'Filter')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      go('#/deliveries' + qs({ agent: f.get('agent'), status: f.get('status'), callback: f.get('callback').trim(), task: f.get('task').trim(),
        chat: f.get('chat').trim(), event_type: f.get('event_type').trim(), since: toISO(f.get('since')), until: toISO(f.get('until')) }));
    });
    const results = h('div', {});
    await listInto(results, '/agents/' + encodeURIComponent(agent) + '/deliveries',
      { status: params.get('status'), callback: params.get('callback'), task: params.get('task'), chat: params.get('chat'),
        event_type: params.get('event_type'), since: params.get('since'), until: params.get('until'), limit: '50' },
      deliveryRow, ['Delivery', 'Callback', 'Event', 'Status', 'Attempts', 'Updated'], 'No delivery matches.');
    node.append(h('div', { class: 'panel' }, form, results), recoverPanel(agent));
    return node;
  }

  // recoverPanel replays dead letters in bulk: a dry run counts them
  // first, and nothing is replayed until that count is confirmed.
  function recoverPanel(agent) {
    const out = h('div', { 'aria-live': 'polite' });
    const since = h('input', { name: 'since', type: 'datetime-local', required: true, value: toLocalInput(new Date(Date.now() - 3600e3).toISOString()) });
    const until = h('input', { name: 'until', type: 'datetime-local' });
    const callback = h('input', { name: 'callback', spellcheck: 'false' });
    const body = () => {
      const b = { since: toISO(since.value) };
      if (until.value) b.until = toISO(until.value);
      if (callback.value.trim()) b.callback = callback.value.trim();
      return b;
    };
    const path = '/agents/' + encodeURIComponent(agent) + '/deliveries/recover';
    const form = h('form', { class: 'filters', 'aria-label': 'Recover dead letters' },
      h('div', {}, h('label', { for: 'r-since' }, 'Failed since'), since),
      h('div', {}, h('label', { for: 'r-until' }, 'Until'), until),
      h('div', {}, h('label', { for: 'r-callback' }, 'Callback'), callback),
      h('div', {}, h('button', { type: 'submit', id: 'recover-count' }, 'Count dead letters')));
    since.id = 'r-since'; until.id = 'r-until'; callback.id = 'r-callback';
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!since.value) return;
      try {
        const dry = await api('POST', path, { ...body(), dry_run: true });
        const n = dry.matched;
        if (!n) { out.replaceChildren(h('p', { id: 'recover-result' }, 'No dead letter matches.')); return; }
        const confirm = h('button', { type: 'button', class: 'danger', id: 'recover-confirm' }, 'Replay ' + n + (n === 1 ? ' dead letter' : ' dead letters'));
        const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
        confirm.addEventListener('click', async () => {
          confirm.disabled = true;
          try {
            const r = await api('POST', path, body());
            out.replaceChildren(h('p', { id: 'recover-result' }, 'Replaying ' + r.recovered + (r.recovered === 1 ? ' dead letter.' : ' dead letters.')));
          } catch (e) { out.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message)); }
        });
        cancel.addEventListener('click', () => { out.replaceChildren(); $('#recover-count').focus(); });
        out.replaceChildren(h('div', { class: 'confirm', role: 'alertdialog', 'aria-label': 'Confirm recovery' },
          h('p', { id: 'recover-preview' }, n + (n === 1 ? ' dead letter matches' : ' dead letters match') + '. Replay ' + (n === 1 ? 'it' : 'them') + ' now?'),
          h('div', { class: 'actions' }, confirm, cancel)));
        confirm.focus();
      } catch (e) { out.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message)); }
    });
    return h('section', { class: 'panel', 'aria-labelledby': 'recover-title' },
      h('h3', { id: 'recover-title' }, 'Recover dead letters of ' + agent),
      h('p', { class: 'hint' }, 'Counts the matching dead letters first, then asks before replaying them.'),
      form, out);
  }

  async function viewDelivery(id) {
    let d;
    try {
      d = await api('GET', '/deliveries/' + encodeURIComponent(id));
    } catch (e) {
      if (e.status === 404) return h('div', { class: 'panel' }, h('h2', {}, 'Delivery not found'), h('p', {}, 'No delivery ' + id + ' that this key sees.'));
      throw e;
    }
    const attempts = (d.attempts || []).map((a, i) => h('tr', {},
      h('td', { class: 'num' }, i + 1), h('td', {}, fmtTime(a.at)),
      h('td', {}, a.status_code ? h('span', { class: 'badge ' + (a.status_code < 300 ? 'ok' : 'bad') }, a.status_code) : '–'),
      h('td', { class: 'num' }, fmtMS(a.latency_ms)),
      h('td', {}, a.error || ''),
      h('td', {}, h('details', {}, h('summary', {}, 'Headers and body'),
        a.response_headers ? table(['Header', 'Value'], Object.entries(a.response_headers).sort().map(([k, v]) => h('tr', {}, h('td', { class: 'mono' }, k), h('td', { class: 'mono' }, v.join(', '))))) : h('p', { class: 'muted' }, 'No headers kept.'),
        a.response ? h('pre', {}, a.response + (a.response_truncated ? '\n… (truncated)' : '')) : a.response_base64 ? h('p', { class: 'muted' }, 'A binary answer.') : h('p', { class: 'muted' }, 'No body.')))));
    const retry = h('button', { type: 'button', id: 'retry' }, d.status === 'delivered' ? 'Deliver again' : 'Retry now');
    retry.addEventListener('click', async () => {
      retry.disabled = true;
      try {
        await api('POST', '/deliveries/' + encodeURIComponent(d.id) + '/retry');
        toast('Retry queued for ' + d.id);
        watchDelivery(d.id);
      } catch (e) { toast('Retry failed: ' + e.message); retry.disabled = false; }
    });
    return h('div', {},
      h('h2', {}, 'Delivery ', h('span', { class: 'mono' }, d.id)),
      h('div', { class: 'panel' },
        kv([['Status', h('span', { id: 'delivery-status' }, badge(d.status))], ['Task', h('a', { href: '#/tasks/' + encodeURIComponent(d.task_id) }, d.task_id)],
          ['Agent', d.agent_id], ['Callback', d.callback_id], ['Event', d.event_type], ['Message id', d.message_id], ['Chat', d.chat_id],
          ['Attempts', String(d.attempt_count)], ['Next attempt', fmtTime(d.next_attempt_at)], ['Last error', d.last_error],
          ['Created', fmtTime(d.created_at)], ['Updated', fmtTime(d.updated_at)]]),
        h('div', { class: 'actions' }, d.status !== 'pending' ? retry : h('span', { class: 'muted' }, 'Pending: it will be tried again.'))),
      h('section', { class: 'panel' }, h('h3', {}, 'Attempts'), table(['#', 'At', 'Status', 'Latency', 'Error', 'Answer'], attempts, 'No attempt yet.')),
      h('section', { class: 'panel' }, h('h3', {}, 'Payload'), d.payload !== undefined ? h('pre', { id: 'delivery-payload' }, pretty(d.payload)) : h('p', { class: 'muted' }, 'The payload is not JSON.')));
  }

  // watchDelivery reloads a retried delivery until it is no longer pending.
  function watchDelivery(id) {
    const hash = '#/deliveries/' + encodeURIComponent(id);
    let tries = 0;
    const tick = async () => {
      if (!key || location.hash !== hash) return;
      tries++;
      let d = null;
      try { d = await api('GET', '/deliveries/' + encodeURIComponent(id)); } catch (e) { return; }
      if (d.status === 'pending' && tries < 60) { setTimeout(tick, 1000); return; }
      route.focus = false;
      route();
      toast('Delivery ' + id + ' is ' + d.status);
    };
    setTimeout(tick, 500);
  }

  // ---- start ----

  document.addEventListener('DOMContentLoaded', () => {
    $('#login-form').addEventListener('submit', login);
    $('#logout').addEventListener('click', () => logout('Logged out.'));
    $('#skip').addEventListener('click', (ev) => { ev.preventDefault(); $('#main').focus(); });
    window.addEventListener('hashchange', () => { route(); });
    $('#key').focus();
  });
})();
