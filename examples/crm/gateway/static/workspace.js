// The callbridge workspace: the employee's calls as they happen (the
// stream GET /ui/events), the client cards, call control, the transfer
// picker, the status switch, history with recordings, click-to-call on
// every number, the dialing list and missed-call notifications. Plain
// JavaScript, no build step. Everything from the server is put in the
// page as text (textContent), never as HTML.
'use strict';

(() => {
  const boot = JSON.parse(document.getElementById('boot').textContent);
  const M = boot.messages || {};
  const me = boot.employee;
  const caps = Object.fromEntries((boot.providers || []).map((p) => [p.provider, p]));
  const $ = (id) => document.getElementById(id);

  // t is the message id in the page's language, {name} replaced by vars.
  function t(id, vars) {
    let s = M[id] || id;
    for (const [k, v] of Object.entries(vars || {})) s = s.split('{' + k + '}').join(String(v));
    return s;
  }

  // el makes an element: attributes (class, text, on…, data-…), children
  // (elements or strings, which become text).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
    return e;
  }

  // safeURL keeps http(s) links only (a CRM link is shown as a link).
  function safeURL(u) {
    if (!u) return null;
    try {
      const p = new URL(u, location.href);
      return p.protocol === 'https:' || p.protocol === 'http:' ? p.href : null;
    } catch (_) {
      return null;
    }
  }

  let toastTimer;
  function toast(msg, bad) {
    const x = $('toast');
    x.textContent = msg;
    x.className = 'toast' + (bad ? ' bad' : '');
    x.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { x.hidden = true; }, 6000);
  }

  // api calls the workspace's API as the signed-in employee.
  async function api(method, path, body) {
    const opt = { method, headers: {}, credentials: 'same-origin' };
    if (method !== 'GET') opt.headers['X-CSRF-Token'] = boot.csrf;
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    const r = await fetch(path, opt);
    let data = null;
    try { data = await r.json(); } catch (_) { /* not JSON */ }
    if (r.status === 401) {
      location.href = '/';
      throw new Error(t('conn.signed_out'));
    }
    if (!r.ok) throw new Error((data && data.error) || String(r.status));
    return data;
  }

  async function act(fn, okMsg) {
    try {
      const v = await fn();
      if (okMsg) toast(okMsg);
      return v;
    } catch (e) {
      toast(t('error.failed', { error: e.message }), true);
      return undefined;
    }
  }

  // Numbers: digits with the country code, or an extension.
  function fmtPhone(p) {
    if (!p) return t('call.anonymous');
    return /^\d{10,15}$/.test(p) ? '+' + p : p;
  }

  function defaultProvider() {
    const sel = $('dial-provider');
    return sel && sel.value ? sel.value : '';
  }

  // dial places a call from the employee's phone to number.
  function dial(number, provider) {
    return act(() => api('POST', '/ui/api/calls', { provider: provider || defaultProvider(), to: number }),
      t('dial.placed', { number: fmtPhone(number) }));
  }

  // phoneButton shows a number that calls it when clicked.
  function phoneButton(number, provider) {
    if (!number) return el('span', { class: 'muted', text: t('call.anonymous') });
    return el('button', {
      type: 'button', class: 'phone', 'data-phone': number, title: t('dial.call_number', { number: fmtPhone(number) }),
      onclick: () => dial(number, provider),
    }, fmtPhone(number));
  }

  function fmtTime(s) {
    if (!s) return '';
    const d = new Date(s);
    return isNaN(d) ? '' : d.toLocaleString(boot.lang);
  }

  function fmtDuration(sec) {
    sec = Math.max(0, Math.round(sec || 0));
    const m = Math.floor(sec / 60), s = sec % 60;
    return m + ':' + String(s).padStart(2, '0');
  }

  // ---- calls and cards ----

  const calls = new Map(); // key → {call, card, seq, el}
  const dismissed = new Set(); // calls closed by the employee: later updates are not shown
  let seq = 0;
  const key = (o) => o.provider + '\u0000' + o.account + '\u0000' + o.call_id;

  // entry is the call's entry, made when new; null for a dismissed call.
  function entry(o) {
    const k = key(o);
    if (dismissed.has(k)) return null;
    let e = calls.get(k);
    if (!e) {
      e = { seq: ++seq };
      calls.set(k, e);
    }
    return e;
  }

  // endedKept is how long an ended call stays on the screen.
  const endedKept = 10 * 60 * 1000;

  // dismiss takes a call off the screen; its later updates are ignored.
  function dismiss(k) {
    const e = calls.get(k);
    calls.delete(k);
    dismissed.add(k);
    if (e && e.el) e.el.remove();
    if (e) clearTimeout(e.expiry);
    $('no-calls').hidden = calls.size > 0;
  }

  // myLeg is the employee's newest leg of a call.
  function myLeg(c) {
    const legs = (c && c.legs) || [];
    for (let i = legs.length - 1; i >= 0; i--) if (legs[i].employee === me.id) return legs[i];
    return null;
  }

  // stateOf is the call's state as the employee sees it: their leg's,
  // "waiting" for a talking call they cannot hold while another of their
  // calls is newer, "ended" once decided.
  function stateOf(e) {
    const c = e.call;
    if (!c) return e.card && e.card.phase === 'answered' ? 'talking' : 'ringing';
    if (c.decided) return 'ended';
    const leg = myLeg(c);
    const st = leg ? leg.state : c.state;
    if (st === 'talking' && !(caps[c.provider] && caps[c.provider].hold)) {
      for (const o of calls.values()) {
        if (o !== e && o.call && !o.call.decided && o.seq > e.seq) {
          const l = myLeg(o.call);
          if ((l ? l.state : o.call.state) === 'talking') return 'waiting';
        }
      }
    }
    return st;
  }

  // renderCalls draws the calls whose view changed: the one changed (all
  // with every), and those whose state changed with it; a new call goes
  // on top.
  function renderCalls(changed, every) {
    const box = $('calls');
    for (const [k, e] of calls) {
      const st = stateOf(e);
      if (e.el && !every && k !== changed && st === e.shown) continue;
      const node = renderCall(k, e);
      e.shown = st;
      if (e.el) e.el.replaceWith(node); else box.prepend(node);
      e.el = node;
    }
    $('no-calls').hidden = calls.size > 0;
  }

  function button(label, onclick, cls) {
    return el('button', { type: 'button', class: cls || null, onclick }, label);
  }

  function control(c, action, body) {
    const path = '/ui/api/calls/' + encodeURIComponent(c.provider) + '/' + encodeURIComponent(c.call_id) + '/' + action;
    return act(() => api('POST', path, body || {}));
  }

  function renderCall(k, e) {
    const c = e.call || {};
    const card = e.card || {};
    const provider = c.provider || card.provider;
    const callID = c.call_id || card.call_id;
    const state = stateOf(e);
    const dir = c.direction || card.direction || '';
    const number = c.client_phone || card.client_phone;
    const cap = caps[provider] || {};
    const node = el('article', {
      class: 'call panel state-' + state + (state === 'ringing' ? ' ringing' : ''),
      'data-popup': '', 'data-call-id': callID, 'data-provider': provider, 'data-state': state,
      role: state === 'ringing' ? 'alert' : null,
      'aria-label': t('call.aria', { number: fmtPhone(number) }),
    });
    node.append(el('header', { class: 'call-head' },
      el('span', { class: 'dir', text: dir ? t('dir.' + dir) : '' }),
      el('span', { class: 'badge state', 'data-state': state, text: t('state.' + state) }),
      phoneButton(number, provider),
      el('span', { class: 'muted small', text: provider })));
    node.append(renderCard(e, number));
    const buttons = el('div', { class: 'buttons controls' });
    const ctl = { from: undefined };
    if (state !== 'ended') {
      if (cap.hold && state === 'talking') buttons.append(button(t('call.hold'), () => control(c, 'hold', ctl), 'act-hold'));
      if (cap.hold && state === 'on_hold') buttons.append(button(t('call.unhold'), () => control(c, 'unhold', ctl), 'act-unhold'));
      if (cap.transfer && (state === 'talking' || state === 'on_hold' || state === 'waiting')) {
        buttons.append(button(t('call.transfer'), () => openTransfer(c), 'act-transfer'));
      }
      if (cap.hangup && state !== 'transferred') buttons.append(button(t('call.hangup'), () => control(c, 'hangup', ctl), 'act-hangup danger'));
      if (boot.demo && provider === 'telphin' && state === 'ringing' && c.call_id) {
        buttons.append(button(t('demo.answer'), () => act(() => api('POST', '/ui/api/demo/calls/' + encodeURIComponent(c.call_id) + '/answer')), 'act-demo-answer'));
        buttons.append(button(t('demo.abandon'), () => act(() => api('POST', '/ui/api/demo/calls/' + encodeURIComponent(c.call_id) + '/abandon')), 'act-demo-abandon'));
      }
    } else {
      buttons.append(button(t('call.dismiss'), () => dismiss(k), 'act-dismiss'));
    }
    if (state === 'waiting') node.append(el('p', { class: 'muted small', text: t('call.waiting_hint') }));
    node.append(buttons);
    return node;
  }

  function renderCard(e, number) {
    const card = e.card;
    const box = el('div', { class: 'card' });
    const cl = card && card.client;
    const created = e.created;
    if (created) {
      const url = safeURL(created.url || '');
      box.append(el('p', { class: 'client-name' }, url ? el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: created.name }) : created.name));
      return box;
    }
    if (cl && cl.id) {
      const url = safeURL(card.client_url || '');
      box.append(el('p', { class: 'client-name' },
        url ? el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: cl.name || cl.id }) : (cl.name || cl.id)));
      if (card.company) box.append(el('p', { class: 'company', text: t('card.company', { name: card.company }) }));
      if (card.created) box.append(el('p', { class: 'muted small', text: t('card.created') }));
      if (card.leads && card.leads.length) {
        const ul = el('ul', { class: 'leads', 'aria-label': t('card.leads') });
        for (const l of card.leads) {
          const url = safeURL(l.url || '');
          const label = (l.name || l.id) + (l.status ? ' — ' + l.status : '');
          ul.append(el('li', {}, url ? el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: label }) : label));
        }
        box.append(el('p', { class: 'muted small', text: t('card.leads') }), ul);
      }
      if (card.last_calls && card.last_calls.length) {
        const ul = el('ul', { class: 'last-calls' });
        for (const r of card.last_calls) {
          ul.append(el('li', { class: 'small' }, fmtTime(r.started_at) + ' · ' + t('outcome.' + r.status) + ' · ' + fmtDuration(r.duration_sec)));
        }
        box.append(el('p', { class: 'muted small', text: t('card.last_calls') }), ul);
      }
      return box;
    }
    if (card && card.offer && number) {
      box.append(el('p', { class: 'client-name unknown', text: t('card.unknown') }));
      const name = el('input', { id: 'offer-' + card.call_id, type: 'text', autocomplete: 'off', required: true,
        value: e.offerName || null, oninput: (ev) => { e.offerName = ev.target.value; } });
      const submit = (kind) => async () => {
        if (!name.value.trim()) { name.focus(); return; }
        const v = await act(() => api('POST', '/ui/api/clients', { name: name.value.trim(), phone: number, kind }), t('offer.done'));
        if (v) { e.created = v; renderCalls(key(card)); }
      };
      box.append(el('div', { class: 'offer' },
        el('label', { for: 'offer-' + card.call_id, text: t('offer.name') }), name,
        el('div', { class: 'buttons' }, button(t('offer.contact'), submit('contact'), 'act-create-contact'),
          button(t('offer.company'), submit('company'), 'act-create-company'))));
      return box;
    }
    box.append(el('p', { class: 'client-name unknown', text: card ? t('card.unknown') : t('card.loading') }));
    return box;
  }

  // ---- transfer picker ----

  let transferCall = null;
  async function openTransfer(c) {
    transferCall = c;
    const list = $('transfer-list');
    list.replaceChildren(el('li', { class: 'muted', text: t('card.loading') }));
    const d = $('transfer-dialog');
    if (typeof d.showModal === 'function') d.showModal(); else d.setAttribute('open', '');
    const data = await act(() => api('GET', '/ui/api/employees'));
    list.replaceChildren();
    for (const emp of (data && data.employees) || []) {
      if (emp.id === me.id) continue;
      const keys = (emp.providers && emp.providers[c.provider]) || emp.extensions || (emp.login ? [emp.login] : []);
      const to = keys && keys[0];
      if (!to) continue;
      list.append(el('li', {},
        el('button', {
          type: 'button', class: 'pick', 'data-employee': emp.id, 'data-to': to,
          onclick: () => transferTo(to),
        },
        el('span', { class: 'pick-name', text: emp.name || emp.id }),
        el('span', { class: 'pick-ext', text: t('transfer.ext', { ext: keys.join(', ') }) }),
        el('span', { class: 'badge status ' + (emp.online ? 'online' : 'offline'), 'data-status': emp.status, text: emp.status }))));
    }
    if (!list.children.length) list.append(el('li', { class: 'muted', text: t('transfer.nobody') }));
  }

  function closeTransfer() {
    const d = $('transfer-dialog');
    if (typeof d.close === 'function') d.close(); else d.removeAttribute('open');
    transferCall = null;
  }

  async function transferTo(to) {
    const c = transferCall;
    closeTransfer();
    if (c && to) await act(() => api('POST', '/ui/api/calls/' + encodeURIComponent(c.provider) + '/' + encodeURIComponent(c.call_id) + '/transfer', { to }),
      t('transfer.done', { to }));
  }

  // ---- notifications ----

  function addNote(n) {
    const li = el('li', { class: 'note kind-' + n.kind, 'data-call-id': n.call_id },
      el('span', { class: 'small muted', text: fmtTime(n.at) }), ' ',
      el('strong', { text: t('note.' + n.kind) }), ' ',
      n.client_phone ? phoneButton(n.client_phone, n.provider) : '',
      n.reason ? el('span', { class: 'small muted', text: ' ' + n.reason }) : '');
    $('notes').prepend(li);
    while ($('notes').children.length > 50) $('notes').lastChild.remove();
    $('no-notes').hidden = true;
    if (n.kind === 'missed') toast(t('note.missed_toast', { number: fmtPhone(n.client_phone) }));
  }

  // ---- history ----

  let historyNext = '';
  function historyQuery() {
    const q = new URLSearchParams({ limit: '20' });
    const phone = $('hf-phone').value.trim();
    if (phone) q.set('phone', phone);
    if ($('hf-status').value) q.set('status', $('hf-status').value);
    if ($('hf-from').value) q.set('from', new Date($('hf-from').value + 'T00:00:00').toISOString());
    if ($('hf-to').value) {
      const d = new Date($('hf-to').value + 'T00:00:00');
      d.setDate(d.getDate() + 1);
      q.set('to', d.toISOString());
    }
    return q;
  }

  async function loadHistory(more) {
    const q = historyQuery();
    if (more && historyNext) q.set('cursor', historyNext);
    const data = await act(() => api('GET', '/ui/api/calls?' + q.toString()));
    if (!data) return;
    const body = $('history').tBodies[0];
    if (!more) body.replaceChildren();
    for (const r of data.items) body.append(historyRow(r));
    historyNext = data.next_cursor || '';
    $('history-more').hidden = !historyNext;
    $('history-empty').hidden = body.children.length > 0;
  }

  function historyRow(r) {
    const rec = r.recording_url
      ? el('audio', {
        controls: true, preload: 'none', class: 'recording',
        src: '/ui/api/calls/' + encodeURIComponent(r.provider) + '/' + encodeURIComponent(r.call_id) + '/recording?account=' + encodeURIComponent(r.account),
        'aria-label': t('history.recording'),
      })
      : el('span', { class: 'muted', text: '—' });
    return el('tr', { 'data-call-id': r.call_id, 'data-status': r.status },
      el('td', { text: fmtTime(r.started_at) }),
      el('td', { text: t('dir.' + r.direction) }),
      el('td', {}, phoneButton(r.client_phone, r.provider)),
      el('td', { class: 'status-' + r.status, text: t('outcome.' + r.status) }),
      el('td', { text: fmtDuration(r.duration_sec) }),
      el('td', {}, rec));
  }

  // ---- dialing list ----

  let campaign = null;
  let countdown = null;
  function renderCampaign(c) {
    campaign = c;
    clearInterval(countdown);
    const box = $('campaign');
    box.hidden = false;
    box.dataset.campaign = c.id;
    box.dataset.state = c.state;
    $('campaign-name').textContent = c.name || c.id;
    $('campaign-pos').textContent = c.total ? t('campaign.position', { n: c.position || 0, total: c.total }) : '';
    const tg = $('campaign-target');
    tg.replaceChildren();
    if (c.target) {
      const url = safeURL(c.target.url || '');
      tg.dataset.target = c.target.id;
      tg.append(el('p', { class: 'client-name' },
        url ? el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: c.target.name || c.target.id }) : (c.target.name || c.target.id)),
      phoneButton(c.target.phone, c.target.provider));
    }
    $('campaign-state').textContent = t('campaign.' + c.state);
    $('campaign-state').dataset.state = c.state;
    const cd = $('campaign-countdown');
    cd.textContent = '';
    const outcome = $('campaign-outcome');
    outcome.replaceChildren(...(c.dispositions || []).map((d) => el('option', { value: d, text: d })));
    $('campaign-disposition').hidden = !(c.target && (c.dispositions || []).length && (c.state === 'wrap_up' || c.state === 'talking'));
    $('campaign-ready').disabled = c.state === 'done';
    $('campaign-skip').disabled = c.state === 'done';
    $('campaign-pause').disabled = c.state === 'done' || c.state === 'paused';
    if (c.state === 'wrap_up' && c.wrap_up_sec > 0) {
      const until = Date.now() + c.wrap_up_sec * 1000;
      const tick = () => {
        const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
        cd.textContent = t('campaign.next_in', { s: left });
        cd.dataset.left = String(left);
        if (left === 0) {
          clearInterval(countdown);
          if (campaign === c) campaignAction('ready'); // the wrap-up is over: the next call
        }
      };
      tick();
      countdown = setInterval(tick, 250);
    }
  }

  function campaignAction(action, body) {
    if (!campaign) return undefined;
    return act(() => api('POST', '/ui/api/campaigns/' + encodeURIComponent(campaign.id) + '/' + action, body));
  }

  // ---- the stream ----

  function onUpdate(type, u) {
    switch (type) {
      case 'sync':
      case 'reset': {
        const live = new Set((u.calls || []).map(key));
        for (const [k, e] of calls) {
          if (!live.has(k) && !(e.call && e.call.decided)) {
            if (e.el) e.el.remove();
            calls.delete(k);
          }
        }
        for (const c of u.calls || []) {
          const e = entry(c);
          if (e) e.call = c;
        }
        renderCalls(null, true);
        if (type === 'reset') loadHistory(false);
        break;
      }
      case 'call': {
        const c = u.call;
        const e = entry(c);
        if (c.decided) loadHistory(false);
        if (!e) break;
        e.call = c;
        renderCalls(key(c));
        if (c.decided && !e.expiry) {
          // An ended call stays for a while (its card, the offer), then goes.
          const k = key(c);
          e.expiry = setTimeout(() => dismiss(k), endedKept);
        }
        break;
      }
      case 'card': {
        const e = entry(u.card);
        if (!e) break;
        e.card = u.card;
        renderCalls(key(u.card));
        break;
      }
      case 'notification':
        addNote(u.notification);
        break;
      case 'status':
        if (u.status.employee === me.id) $('status-select').value = u.status.status;
        break;
      case 'campaign':
        renderCampaign(u.campaign);
        break;
      default:
    }
  }

  function setConn(msg) {
    const c = $('conn');
    c.textContent = msg;
    c.hidden = !msg;
  }

  let source;
  function connect() {
    source = new EventSource('/ui/events');
    for (const type of ['sync', 'reset', 'call', 'card', 'notification', 'status', 'campaign']) {
      source.addEventListener(type, (ev) => {
        try {
          onUpdate(type, JSON.parse(ev.data));
        } catch (err) {
          console.error('callbridge: update', type, err);
        }
      });
    }
    source.onopen = () => {
      setConn('');
      document.body.dataset.connected = 'true';
    };
    source.onerror = () => {
      document.body.dataset.connected = 'false';
      setConn(t('conn.lost'));
      if (source.readyState === EventSource.CLOSED) {
        // refused (signed out, or the server restarting): check the session
        fetch('/ui/api/me', { credentials: 'same-origin' }).then((r) => {
          if (r.status === 401) location.href = '/';
          else setTimeout(connect, 2000);
        }, () => setTimeout(connect, 2000));
      }
    };
  }

  // ---- controls of the page ----

  $('status-select').addEventListener('change', (ev) => {
    act(() => api('PUT', '/ui/api/employees/' + encodeURIComponent(me.id) + '/status', { status: ev.target.value }),
      t('status.set', { status: ev.target.value }));
  });
  $('lang-select').addEventListener('change', async (ev) => {
    if (await act(() => api('PUT', '/ui/api/lang', { lang: ev.target.value }))) location.reload();
  });
  $('dial-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const n = $('dial-number').value.trim();
    if (n) dial(n, defaultProvider());
  });
  $('history-filter').addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadHistory(false);
  });
  $('history-more').addEventListener('click', () => loadHistory(true));
  $('transfer-cancel').addEventListener('click', closeTransfer);
  $('transfer-number').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const to = $('transfer-to').value.trim();
    if (to) transferTo(to);
  });
  $('campaign-ready').addEventListener('click', () => campaignAction('ready'));
  $('campaign-skip').addEventListener('click', () => campaignAction('skip'));
  $('campaign-pause').addEventListener('click', () => {
    clearInterval(countdown);
    $('campaign-countdown').textContent = '';
    campaignAction('pause');
  });
  $('campaign-disposition').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (campaign && campaign.target) {
      campaignAction('disposition', { target: campaign.target.id, disposition: $('campaign-outcome').value });
    }
  });
  if (boot.demo) {
    $('demo-ring-known').addEventListener('click', () => act(() => api('POST', '/ui/api/demo/ring', { known: true })));
    $('demo-ring-unknown').addEventListener('click', () => act(() => api('POST', '/ui/api/demo/ring', { known: false })));
  }

  connect();
  loadHistory(false);
})();
