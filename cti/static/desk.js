/* Agent desktop: live state over /ws/agent, actions through /api/agent/*, wrap-up through the
 * business API (/api/calls/{linked_id}/wrapup). Plain JS, no build step, no CDN; element
 * building, texts, times, fetch and the live socket come from /static/common.js (`cc`).
 *
 * Messages from the server (cti/service.py): hello (full snapshot), state, pop, call
 * (connected | recording | ended), wrapup, wrapup_saved, today, pong.
 *
 * The wrap-up form asks the speech feature for what the call's transcript suggests
 * (/api/speech/calls/{linked_id}/prefill, again every few seconds while it is being
 * transcribed): it fills only fields that are empty and that the agent has not touched, marks
 * them "suggested" until the agent edits them, and offers to add the caller's words to a
 * description the agent already wrote. Without the speech feature the form works as before.
 *
 * A half-typed wrap-up is never replaced: the wrap-up of a later call waits in the list of
 * unsaved wrap-ups (the server keeps it too, and holds the agent in after-call work until
 * it is saved). A ring plays a tone and shows a browser notification. Every text comes from the page's
 * config (cti/messages.py); every time is shown in the configured zone (Asia/Shanghai).
 * Untrusted values (merchant names, notes) only ever go into textContent.
 */
"use strict";
(() => {
  const { el, byId: $, dateTime: localTime, hms, hmsLong } = cc;
  const cfg = cc.readJSON("desk-config");
  const root = $("desk");
  const T = cc.translator(cfg.texts);
  const label = (prefix, value) => (value && T.has(prefix + value) ? T(prefix + value) : (value || "—"));

  // ---------------------------------------------------------------- state
  const st = {
    agent: null, call: null, card: null, today: null, wrapup: null, skew: 0,
    ami: true, dialKey: null, busy: false, live: false, unsaved: [], popId: null,
  };
  // A call's linked id is "<epoch seconds>.<n>": the agent sees when the call came in.
  const callTime = (linkedId) => {
    const seconds = parseFloat(linkedId);
    return Number.isFinite(seconds) ? localTime(new Date(seconds * 1000).toISOString()) : "";
  };
  const serverNow = () => Date.now() / 1000 + st.skew;
  // Event times come from the server's clock: never let the local estimate run behind them
  // (a browser clock that is off, or a long-lived page).
  const bump = (at) => {
    if (typeof at === "number" && at > serverNow()) st.skew = at - Date.now() / 1000;
  };

  // ---------------------------------------------------------------- messages
  let messageTimer = null;
  const showMessage = (cls, text, ms) => {
    const box = $("desk-msg");
    box.className = cls;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(messageTimer);
    messageTimer = setTimeout(() => { box.hidden = true; }, ms);
  };
  const showError = (text) => showMessage("alert", text, 6000);
  const showNotice = (text) => showMessage("notice", text, 4000);

  const errorText = (error) => {
    const message = error.body.message;
    if (error.errorId && T.has(`cti.err.${error.errorId}`)) {
      return T(`cti.err.${error.errorId}`) + (message ? ` (${message})` : "");
    }
    if (message) return message;
    return `${T("cti.err.generic")} (${error.status})`;
  };

  /** An agent action: { ok, data } or { ok: false, error } once the server answered (an error
   * is shown), null when it could not be reached (or another action is still under way). */
  const act = async (name, body = {}) => {
    if (st.busy) return null;
    st.busy = true;
    renderButtons();
    try {
      const data = await cc.fetchJSON(`/api/agent/${name}${cfg.query}`, { method: "POST", body });
      return { ok: true, data };
    } catch (error) {
      if (error instanceof cc.ApiError) {
        showError(errorText(error));
        return { ok: false, error };
      }
      showError(T("cti.conn.offline"));
      return null;
    } finally {
      st.busy = false;
      renderButtons();
    }
  };

  // ---------------------------------------------------------------- rendering
  function renderState() {
    const a = st.agent || { status: "logged_out" };
    const badge = $("state-badge");
    badge.className = `state ${a.status}`;
    let text = T(`cti.state.${a.status}`);
    if (a.status === "paused" && a.reason) text += ` · ${label("cti.reason.", a.reason)}`;
    // The phone cannot ring (device invalid/unavailable): say so whatever the state.
    if (a.phone === "offline" && a.status !== "unreachable") text += ` · ${T("cti.phone.offline")}`;
    badge.textContent = text;
    root.setAttribute("data-state", a.status);
    $("pop").classList.toggle("ringing", a.status === "ringing");
    const held = $("held-note");
    held.hidden = !(a.status === "wrap_up" && a.wrap_up_until);
    if (!held.hidden) {
      held.textContent = T("cti.wrapup.held", {
        time: localTime(new Date(a.wrap_up_until * 1000).toISOString()) });
    }
    renderButtons();
  }

  // ---------------------------------------------------------------- ring: tone + notification
  let audio = null;
  const ringTone = () => {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const now = audio.currentTime;
      for (const start of [0, 0.4]) {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, now + start);
        gain.gain.exponentialRampToValueAtTime(0.2, now + start + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + start + 0.3);
        osc.connect(gain).connect(audio.destination);
        osc.start(now + start);
        osc.stop(now + start + 0.32);
      }
    } catch (_) { /* no audio device: the badge and the notification still show */ }
  };
  const notifyRing = () => {
    ringTone();
    root.setAttribute("data-rang", String(Number(root.getAttribute("data-rang") || 0) + 1));
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const who = st.card ? cardTitle(st.card) : "";
    try {
      const note = new Notification(T("cti.phone.ring_title"), {
        body: T("cti.phone.ring_body", { who }), tag: "cc-ring" });
      note.onclick = () => { window.focus(); note.close(); };
    } catch (_) { /* some browsers only notify from a service worker */ }
  };
  const askNotifications = () => {
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
  };

  function renderButtons() {
    const s = st.agent ? st.agent.status : "logged_out";
    const paused = st.agent && (st.agent.paused || s === "paused");
    const acw = s === "paused" && st.agent.reason === "acw";
    const off = st.busy || !st.live;
    $("btn-login").disabled = off || s !== "logged_out";
    $("btn-logout").disabled = off || s === "logged_out" || s === "ringing" || s === "on_call";
    $("btn-pause").disabled = off || s === "logged_out" || paused;
    $("pause-reason").disabled = off || s === "logged_out" || paused;
    $("btn-resume").disabled = off || !paused;
    $("btn-dial").disabled = off || !(s === "available" || acw);
    $("btn-hangup").disabled = off || s !== "on_call";
    $("btn-transfer").disabled = off || s !== "on_call";
    $("btn-answer").disabled = off || s !== "ringing";
    $("btn-phone-hangup").disabled = off || !(s === "ringing" || s === "on_call");
  }

  function renderToday() {
    const t = st.today;
    if (!t) return;
    $("today-calls").textContent = String(t.calls);
    $("today-talk").textContent = hmsLong(t.talk_s);
    $("today-pause").textContent = hmsLong(t.pause_s);
  }

  const cardTitle = (card) => {
    if (card.merchant) return `${card.merchant.name} · ${card.caller || ""}`;
    return card.caller || card.linked_id;
  };

  function renderCall() {
    const c = st.call;
    const rec = $("rec");
    if (!c) {
      $("call-timer").textContent = "00:00";
      $("call-who").textContent = T("cti.call.idle");
      rec.className = "rec off";
      rec.textContent = `● ${T("cti.call.not_recording")}`;
      return;
    }
    rec.className = c.recording ? "rec on" : "rec off";
    rec.textContent = `● ${T(c.recording ? "cti.call.recording" : "cti.call.not_recording")}`;
    $("call-who").textContent = st.card && st.card.linked_id === c.linked_id
      ? cardTitle(st.card) : T("cti.call.in_progress");
  }

  function tick() {
    const now = serverNow();
    $("state-timer").textContent = st.agent && st.agent.since ? hms(now - st.agent.since) : "00:00";
    if (st.call && st.call.connected_at) $("call-timer").textContent = hms(now - st.call.connected_at);
  }

  const table = (headers, rows) => {
    if (!rows.length) return el("p", { class: "none", text: T("cti.pop.none") });
    return el("table", { class: "data" },
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((v) =>
        el("td", { text: v === null || v === undefined ? "" : String(v) }))))));
  };

  const field = (dl, key, value, node) => {
    dl.append(el("dt", { text: T(key) }), el("dd", {}, node || (value || "—")));
  };

  function renderCard(card, partial) {
    st.card = card;
    const box = $("pop-card");
    box.textContent = "";
    $("pop-empty").hidden = true;
    box.hidden = false;
    const m = card.merchant;
    const title = el("div", { class: "pop-title" },
      el("span", { class: "name", text: m ? m.name : T("cti.pop.unknown") }));
    if (m) {
      for (const tag of m.tags || []) {
        title.append(el("span", { class: `tag ${tag}`, text: label("cti.tag.", tag) }));
      }
      title.append(el("span", { class: m.verified ? "tag ok" : "tag warn",
        text: T(m.verified ? "cti.pop.verified" : "cti.pop.unverified") }));
    }
    const sub = el("div", { class: "muted", text: `${T("cti.pop.caller")} ${card.caller || "—"}`
      + ` · ${T("cti.pop.queue")} ${label("cti.queue.", card.queue)}` });
    if (card.overflow_from) {  // the caller waited in another queue first (overflow)
      sub.append(el("span", { class: "tag warn overflow",
        text: T("cti.pop.overflow", { queue: label("cti.queue.", card.overflow_from) }) }));
    }
    box.append(el("div", { class: "pop-head" }, title, sub));
    // inbound: the regulation's greeting; a call-back we place: identity and purpose first
    const script = { callback: "cti.pop.greeting_callback",
      queue_callback: "cti.pop.greeting_queue_callback" }[card.script] || "cti.pop.greeting";
    box.append(el("p", { class: "greeting", text: T(script, { number: cfg.agent_number }) }));
    if (partial || !card.complete) box.append(el("p", { class: "pop-loading", text: T("cti.pop.loading") }));
    if (card.candidates && card.candidates.length) {
      box.append(el("p", { class: "alert", text: T("cti.pop.ambiguous") }));
      box.append(el("ul", { class: "candidates" },
        card.candidates.map((c) => el("li", { text: `${c.merchant_number} · ${c.name}` }))));
    }
    const dl = el("dl", { class: "fields" });
    if (m) {
      field(dl, "cti.pop.merchant_number", m.merchant_number);
      field(dl, "cti.pop.address", m.address);
      field(dl, "cti.pop.contact", m.contact_person);
      const phones = el("span", {}, (m.phones || []).map((p) => {
        const a = el("a", { href: "#", class: "phone-link", text: p, "data-phone": p });
        a.addEventListener("click", (ev) => { ev.preventDefault(); $("dial-number").value = p; });
        return a;
      }));
      field(dl, "cti.pop.phones", "", phones);
      field(dl, "cti.pop.hours", m.business_hours);
    } else if (card.merchant_number) {
      field(dl, "cti.pop.merchant_number", card.merchant_number);
    }
    const ivr = card.ivr || {};
    field(dl, "cti.pop.intent", label("cti.intent.", ivr.intent));
    box.append(dl);
    if (card.complete) {
      box.append(el("h3", { text: T("cti.pop.terminals") }));
      box.append(table([T("cti.col.serial"), T("cti.col.model"), T("cti.col.status")],
        (card.terminals || []).map((t) => [t.serial, t.model, label("cti.tstatus.", t.status)])));
      box.append(el("h3", { text: T("cti.pop.tasks") }));
      box.append(table([T("cti.col.task"), T("cti.col.kind"), T("cti.col.status"), T("cti.col.time"),
        T("cti.col.description")],
      (card.open_tasks || []).map((t) => [t.task_number, label("cti.kind.", t.kind),
        label("cti.task.", t.status), localTime(t.created_at), t.description])));
      box.append(el("h3", { text: T("cti.pop.calls") }));
      box.append(table([T("cti.col.time"), T("cti.pop.queue"), T("cti.col.agent"), T("cti.col.outcome")],
        (card.recent_calls || []).map((c) => [localTime(c.started_at), label("cti.queue.", c.queue),
          c.agent_number,
          c.disposition ? label("cti.disp.", c.disposition) : label("cti.outcome.", c.outcome)])));
      box.append(el("h3", { text: T("cti.pop.complaints") }));
      box.append(table([T("cti.col.time"), T("cti.col.class"), T("cti.col.description"),
        T("cti.col.outcome")],
      (card.complaints || []).map((c) => [localTime(c.created_at),
        label("cti.complaint.", String(c.class)), c.description, c.result])));
    }
    $("pop").classList.remove("missed");
    $("pop-status").textContent = "";
    $("pop-status").className = "tag";
    // The dial field follows the current pop: a new call puts its merchant's (or caller's)
    // number there; within the same pop what the agent typed stays.
    if (card.linked_id !== st.popId) {
      st.popId = card.linked_id;
      st.dialKey = null;
      $("dial-number").value = (m && m.phones && m.phones.length) ? m.phones[0] : (card.caller || "");
    }
    renderCall();
  }

  // ---------------------------------------------------------------- wrap-up
  const FORM_TEXT = ["address", "site_phone", "business_hours", "contact_person", "product_model",
    "terminal_serial", "handling", "result", "department"];
  const wrap = { linkedId: null, requirements: {}, extra: {}, dirty: false, drafts: {},
    touched: new Set() };
  // What the agent typed, per call, so switching between unsaved wrap-ups loses nothing.
  const formValues = () => Array.from(form.elements).filter((n) => n.name)
    .map((n) => [n.name, n.type === "checkbox" ? n.checked : n.value]);
  const restoreValues = (values) => {
    for (const [name, value] of values) {
      const n = form.elements[name];
      if (!n) continue;
      if (n.type === "checkbox") n.checked = value; else n.value = value;
    }
  };
  const form = $("wrapup-form");

  const visibleFields = (disposition) => {
    const fields = {};
    for (const f of (wrap.requirements[disposition] || {}).required || []) fields[f] = true;
    fields.description = true;
    if (disposition === "complaint_1" || disposition === "complaint_2") {
      Object.assign(fields, { amount_yuan: true, media_exposure: true, handling: true, result: true });
    }
    if (disposition === "repair" || disposition === "installation") fields.update_merchant = true;
    return fields;
  };

  const showFields = () => {
    const fields = visibleFields(form.elements.disposition.value);
    for (const node of form.querySelectorAll("[data-field]")) {
      node.hidden = !fields[node.getAttribute("data-field")];
    }
  };

  const countChars = () => {
    $("desc-count").textContent = T("cti.wrapup.chars", { n: form.elements.description.value.length });
  };

  const clearErrors = () => {
    for (const n of form.querySelectorAll(".err")) n.textContent = "";
    for (const n of form.querySelectorAll(".invalid")) n.classList.remove("invalid");
  };

  const wrapupUrl = (linkedId) => `/api/calls/${encodeURIComponent(linkedId)}/wrapup`;

  function renderUnsaved() {
    const others = st.unsaved.filter((id) => id !== wrap.linkedId);
    $("unsaved-panel").hidden = !others.length;
    const list = $("unsaved-list");
    list.textContent = "";
    for (const id of others) {
      const button = el("button", { type: "button", text: T("cti.wrapup.call", { time: callTime(id) }) });
      button.addEventListener("click", () => loadWrapup(id, true));
      list.append(el("li", {}, button));
    }
  }

  const noteUnsaved = (linkedId) => {
    if (linkedId && !st.unsaved.includes(linkedId)) st.unsaved.push(linkedId);
    renderUnsaved();
  };

  const dropUnsaved = (linkedId) => {
    st.unsaved = st.unsaved.filter((id) => id !== linkedId);
    renderUnsaved();
  };

  async function loadWrapup(linkedId, chosen = false) {
    if (!linkedId) return;
    noteUnsaved(linkedId);
    if (wrap.linkedId && wrap.linkedId !== linkedId && wrap.dirty) {
      // Never replace a half-typed form: the agent chose another one (keep this one listed)
      // or a new call ended (its wrap-up waits in the list).
      if (!chosen) { showNotice(T("cti.wrapup.kept")); return; }
      wrap.drafts[wrap.linkedId] = formValues();
    }
    let d;
    try {
      d = await cc.fetchJSON(wrapupUrl(linkedId));
    } catch (error) {
      if (!(error instanceof cc.ApiError) || (error.status !== 404 && error.status !== 403)) {
        showError(T("cti.wrapup.unavailable"));
      }
      return;
    }
    if (!d) { showError(T("cti.wrapup.unavailable")); return; }
    if (d.call && d.call.disposition) { dropUnsaved(linkedId); return; }  // already wrapped up
    wrap.linkedId = linkedId;
    wrap.dirty = false;
    wrap.requirements = d.requirements || {};
    wrap.extra = {};
    wrap.touched = new Set();
    form.reset();
    clearErrors();
    resetSuggestion();
    for (const [k, value] of Object.entries(d.form || {})) {
      if (form.elements[k]) form.elements[k].value = value || "";
    }
    if (d.suggested_disposition) form.elements.disposition.value = d.suggested_disposition;
    if (wrap.drafts[linkedId]) {
      restoreValues(wrap.drafts[linkedId]);
      for (const [name, value] of wrap.drafts[linkedId]) if (value) wrap.touched.add(name);
      delete wrap.drafts[linkedId];
      wrap.dirty = true;
    }
    $("wrapup-call").textContent = T("cti.wrapup.call", { time: callTime(linkedId) });
    $("wrapup-dup").hidden = true;
    $("wrapup-result").textContent = "";
    showFields();
    countChars();
    $("wrapup").hidden = false;
    renderUnsaved();
    askSuggestion(linkedId);
  }

  // ---------------------------------------------------------------- transcript suggestion
  const SUGGEST_EVERY_MS = 5000;
  const SUGGEST_TRIES = 36;  // 3 minutes of "pending": a long call takes a while to transcribe
  const sug = { linkedId: null, tries: 0, timer: null, data: null, filled: {} };
  const mark = (name, on) => {
    const control = form.elements[name];
    if (control) control.classList.toggle("suggested", on);
    const badge = form.querySelector(`[data-suggest-for="${name}"]`);
    if (badge) badge.hidden = !on;
  };
  function resetSuggestion() {
    clearTimeout(sug.timer);
    for (const name of Object.keys(sug.filled)) mark(name, false);
    Object.assign(sug, { linkedId: null, tries: 0, timer: null, data: null, filled: {} });
    $("speech-suggest").hidden = true;
  }
  // The agent edited a field: from now on it is theirs (the suggestion was accepted or changed).
  const touch = (name) => {
    wrap.touched.add(name);
    if (name in sug.filled) { delete sug.filled[name]; mark(name, false); renderSuggestion(); }
  };
  // Only a field the agent never touched and that is still empty takes a suggestion.
  const free = (name) => !wrap.touched.has(name) && !form.elements[name].value.trim();

  async function askSuggestion(linkedId) {
    sug.linkedId = linkedId;
    let d;
    try {
      d = await cc.fetchJSON(`/api/speech/calls/${encodeURIComponent(linkedId)}/prefill`);
    } catch (_) {
      d = null;  // no speech feature, not this agent's call, or offline: no suggestion
    }
    if (sug.linkedId !== linkedId || wrap.linkedId !== linkedId) return;  // another form now
    sug.timer = null;
    if (d && d.status === "pending" && sug.tries < SUGGEST_TRIES) {
      sug.tries += 1;
      sug.timer = setTimeout(() => askSuggestion(linkedId), SUGGEST_EVERY_MS);
    }
    sug.data = d;
    if (d && d.status === "ready") applySuggestion(d);
    renderSuggestion();
  }

  function applySuggestion(d) {
    const els = form.elements;
    if (d.disposition && free("disposition")) {
      els.disposition.value = d.disposition;
      sug.filled.disposition = d.disposition;
      mark("disposition", true);
      showFields();
    }
    if (d.description && free("description")) {
      els.description.value = d.description.slice(0, els.description.maxLength);
      sug.filled.description = els.description.value;
      mark("description", true);
      countChars();
    }
  }

  function renderSuggestion() {
    const d = sug.data;
    const box = $("speech-suggest");
    const pending = !!d && d.status === "pending" && !!sug.timer;
    const ready = !!d && d.status === "ready"
      && !!(d.description || d.disposition || (d.keywords || []).length);
    box.hidden = !(pending || ready);
    $("suggest-pending").hidden = !pending || ready;
    const facts = [];
    if (ready && d.disposition) {
      facts.push(T("cti.wrapup.suggest_disposition", { value: label("cti.disp.", d.disposition) }));
    }
    if (ready && (d.keywords || []).length) {
      facts.push(T("cti.wrapup.suggest_keywords", { words: d.keywords.join("、") }));
    }
    $("suggest-facts").textContent = facts.join(" · ");
    const filled = Object.keys(sug.filled).length > 0;
    // The caller's words did not go into the description (the agent wrote one): offer them.
    const offer = ready && !!d.description && !("description" in sug.filled)
      && !form.elements.description.value.includes(d.description);
    const note = $("suggest-note");
    note.hidden = !(ready && (filled || offer));
    note.textContent = offer ? T("cti.wrapup.suggest_said", { text: d.description })
      : T("cti.wrapup.suggest_filled");
    note.title = offer ? d.description : "";
    $("suggest-use").hidden = !offer;
    $("suggest-discard").hidden = !filled;
    $("suggest-actions").hidden = !(offer || filled);
  }

  const useSuggestion = () => {
    const d = sug.data;
    const area = form.elements.description;
    if (!d || !d.description) return;
    const typed = area.value.trim();
    area.value = (typed ? `${typed} ${d.description}` : d.description).slice(0, area.maxLength);
    wrap.dirty = true;
    touch("description");
    countChars();
    renderSuggestion();
  };

  // Take back what the suggestion filled in (only where it is still the suggestion's).
  const discardSuggestion = () => {
    const els = form.elements;
    for (const [name, value] of Object.entries(sug.filled)) {
      if (els[name].value === value) els[name].value = "";
      mark(name, false);
    }
    sug.filled = {};
    sug.data = null;
    showFields();
    countChars();
    renderSuggestion();
  };

  const wrapupBody = () => {
    const els = form.elements;
    const fields = visibleFields(els.disposition.value);
    const body = { disposition: els.disposition.value };
    if (els.description.value.trim()) body.description = els.description.value;
    for (const f of FORM_TEXT) {
      if (fields[f] && els[f].value.trim()) body[f] = els[f].value;
    }
    if (fields.amount_yuan && els.amount_yuan.value.trim()) body.amount_yuan = Number(els.amount_yuan.value);
    if (fields.media_exposure) body.media_exposure = els.media_exposure.checked;
    if (fields.update_merchant) body.update_merchant = els.update_merchant.checked;
    return Object.assign(body, wrap.extra);
  };

  function showDuplicates(tasks) {
    const box = $("wrapup-dup");
    box.textContent = "";
    const link = (t) => {
      const button = el("button", { type: "button", text: T("cti.wrapup.link") });
      button.addEventListener("click", () => {
        wrap.extra = { link_task_number: t.task_number };
        submitWrapup();
      });
      return button;
    };
    const anyway = el("button", { type: "button", text: T("cti.wrapup.new_anyway") });
    anyway.addEventListener("click", () => {
      wrap.extra = { new_despite_open: true };
      submitWrapup();
    });
    box.append(
      el("div", { text: T("cti.wrapup.duplicate") }),
      el("ul", {}, (tasks || []).map((t) => el("li", {},
        el("span", { text: `${t.task_number || ""} · ${label("cti.task.", t.status)} · ${t.description || ""} ` }),
        link(t)))),
      anyway);
    box.hidden = false;
  }

  async function submitWrapup() {
    if (!wrap.linkedId) return;
    clearErrors();
    let answer;
    try {
      answer = await cc.fetchJSON(wrapupUrl(wrap.linkedId), { method: "POST", body: wrapupBody() });
    } catch (error) {
      if (!(error instanceof cc.ApiError)) { showError(T("cti.wrapup.unavailable")); return; }
      const d = error.body;
      if (d.error_id === "possible_duplicate") { showDuplicates(d.open_tasks); return; }
      const errors = d.errors || (d.field ? [{ field: d.field, message: d.message }] : []);
      for (const e of errors) {
        const slot = form.querySelector(`[data-error-for="${e.field}"]`);
        if (slot) {
          slot.textContent = e.message;
          slot.parentNode.classList.add("invalid");
        }
      }
      if (!errors.length || !form.querySelector(".invalid")) showError(errorText(error));
      return;
    }
    const rec = answer && answer.record;
    const key = answer && answer.linked ? "cti.wrapup.linked" : "cti.wrapup.record";
    $("wrapup-result").textContent = rec ? T(key, { number: rec.task_number }) : T("cti.wrapup.saved");
    $("wrapup-dup").hidden = true;
    const saved = wrap.linkedId;
    resetSuggestion();
    wrap.linkedId = null;
    wrap.dirty = false;
    st.wrapup = null;
    dropUnsaved(saved);
    const next = st.unsaved[0];
    if (next) setTimeout(() => { if (!wrap.linkedId) loadWrapup(next); }, 1500);
    else setTimeout(() => { if (!wrap.linkedId) $("wrapup").hidden = true; }, 4000);
  }

  // ---------------------------------------------------------------- live feed
  const handlers = {
    hello(msg) {
      st.skew = msg.now - Date.now() / 1000;
      st.agent = msg.agent;
      st.today = msg.today;
      st.ami = msg.ami;
      st.call = msg.call;
      st.unsaved = (msg.unsaved || []).slice();
      renderState();
      renderToday();
      if (msg.card) renderCard(msg.card, !msg.card.complete); else renderCall();
      const due = wrap.linkedId || msg.wrapup || st.unsaved[0];
      if (due && due !== wrap.linkedId) loadWrapup(due);
      renderUnsaved();
      if (!msg.ami) { $("conn").textContent = T("cti.conn.no_ami"); $("conn").className = "tag warn"; }
    },
    state(msg) {
      const before = st.agent ? st.agent.status : null;
      st.agent = msg.agent;
      bump(msg.agent.since);
      if (before === "ringing" && msg.agent.status !== "on_call" && msg.agent.status !== "ringing") {
        $("pop").classList.add("missed");
        $("pop-status").textContent = T("cti.pop.missed");
        $("pop-status").className = "tag warn";
      }
      renderState();
      if (msg.agent.status === "ringing" && before !== "ringing") notifyRing();
    },
    pop(msg) { renderCard(msg.card, msg.partial); },
    call(msg) {
      bump(msg.at);
      if (msg.event === "connected") {
        st.call = { linked_id: msg.linked_id, connected_at: msg.at, recording: !!msg.recording };
      } else if (msg.event === "recording" && st.call && st.call.linked_id === msg.linked_id) {
        st.call.recording = msg.recording;
      } else if (msg.event === "ended" && st.call && st.call.linked_id === msg.linked_id) {
        st.call = null;
      }
      renderCall();
    },
    wrapup(msg) {
      if (st.call && st.call.linked_id === msg.linked_id) { st.call = null; renderCall(); }
      st.wrapup = msg.linked_id;
      loadWrapup(msg.linked_id);
    },
    wrapup_saved(msg) {
      dropUnsaved(msg.linked_id);
      if (wrap.linkedId === msg.linked_id && !wrap.dirty) {
        wrap.linkedId = null;
        $("wrapup").hidden = true;
        if (st.unsaved[0]) loadWrapup(st.unsaved[0]);
      }
    },
    today(msg) { st.today = msg.today; renderToday(); },
    // From callcenter.business: a task of one of this agent's calls changed status.
    task_status(msg) {
      let status = label("cti.task.", msg.status);
      if (msg.engineer) status += ` · ${msg.engineer}`;
      if (msg.appointment_local) status += ` · ${msg.appointment_local}`;
      showNotice(T("cti.task.update", { number: msg.task_number, status }));
    },
    // Click to dial: "answered" = our Originate reached the agent's phone; then the merchant's
    // leg from real Dial events: ringing, connected or failed (with Asterisk's DialStatus).
    dial(msg) {
      if (msg.status === "failed") {
        const why = msg.error_id ? T(`cti.err.${msg.error_id}`)
          : (msg.dial_status ? label("cti.dial.", msg.dial_status) : "");
        showError(T("cti.dial.failed") + (why ? ` · ${why}` : ""));
      } else if (msg.status === "answered" || msg.status === "ringing" || msg.status === "connected") {
        showNotice(T(`cti.dial.${msg.status}`));
      }
    },
  };

  const setConn = (live) => {
    st.live = live;
    root.setAttribute("data-live", live ? "1" : "0");
    $("conn").textContent = T(live ? "cti.conn.live" : "cti.conn.offline");
    $("conn").className = live ? "tag ok" : "tag bad";
    renderButtons();
  };

  // ---------------------------------------------------------------- wiring
  const newKey = () => {
    const bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return `d-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  };

  const on = (id, event, listener) => $(id).addEventListener(event, listener);
  on("btn-login", "click", () => { askNotifications(); act("login"); });
  on("btn-logout", "click", () => act("logout"));
  on("btn-pause", "click", () => act("pause", { reason: $("pause-reason").value }));
  on("btn-resume", "click", () => act("resume"));
  on("btn-hangup", "click", () => act("hangup"));
  on("btn-answer", "click", () => act("phone/answer"));
  on("btn-phone-hangup", "click", () => act("phone/hangup"));
  on("transfer-target", "change", () => {
    $("transfer-ext").hidden = $("transfer-target").value !== "ext";
  });
  on("btn-transfer", "click", () => {
    const target = $("transfer-target").value === "ext"
      ? $("transfer-ext").value.trim() : $("transfer-target").value;
    act("transfer", { target, mode: $("transfer-mode").value });
  });
  on("btn-dial", "click", async () => {
    const number = $("dial-number").value.trim();
    if (!number) return;
    // One key per intent to dial: a double click or a retry re-sends the same key and the
    // server never dials twice; the key is dropped once an answer came back.
    if (!st.dialKey || st.dialKey.number !== number) st.dialKey = { number, key: newKey() };
    const name = st.card && st.card.merchant ? st.card.merchant.name : "";
    const res = await act("dial", { number, idempotency_key: st.dialKey.key, label: name });
    if (res) {
      st.dialKey = null;
      if (res.ok) { $("wrapup-result").textContent = ""; showNotice(T("cti.dial.sent")); }
    }
  });
  form.elements.disposition.addEventListener("change", showFields);
  form.addEventListener("input", (ev) => { wrap.dirty = true; if (ev.target.name) touch(ev.target.name); });
  form.addEventListener("change", (ev) => { wrap.dirty = true; if (ev.target.name) touch(ev.target.name); });
  on("suggest-use", "click", useSuggestion);
  on("suggest-discard", "click", discardSuggestion);
  form.elements.description.addEventListener("input", countChars);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); wrap.extra = {}; submitWrapup(); });

  setInterval(tick, 1000);
  renderButtons();
  cc.liveSocket(`/ws/agent${cfg.query}`, {
    retry: 500, maxRetry: 10000, stopCodes: [4401, 1008],
    onOpen: () => setConn(true),
    onClose: () => setConn(false),
    onMessage: (msg) => {
      const handler = msg && handlers[msg.type];
      if (handler) handler(msg);
      else if (msg) document.dispatchEvent(new CustomEvent("cc:desk-message", { detail: msg }));
    },
  });
})();
