/* Agent desktop: live state over /ws/agent, actions through /api/agent/*, wrap-up through the
 * business API (/api/calls/{linked_id}/wrapup). Plain JS, no build step, no CDN.
 *
 * Messages from the server (cti/service.py): hello (full snapshot), state, pop, call
 * (connected | recording | ended), wrapup, today, pong. Every text comes from the page's
 * config (cti/messages.py); every time is shown in the configured zone (Asia/Shanghai).
 * Untrusted values (merchant names, notes) only ever go into textContent.
 */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("desk-config").textContent);
  var root = document.getElementById("desk");
  var $ = function (id) { return document.getElementById(id); };

  function T(key, params) {
    var text = cfg.texts[key];
    if (text === undefined) { return key; }
    if (params) {
      Object.keys(params).forEach(function (k) { text = text.split("{" + k + "}").join(params[k]); });
    }
    return text;
  }
  function has(key) { return cfg.texts[key] !== undefined; }

  var dateFmt = new Intl.DateTimeFormat(cfg.locale, {
    timeZone: cfg.timezone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hour12: false
  });
  function localTime(iso) { return iso ? dateFmt.format(new Date(iso)) : ""; }
  function hms(seconds) {
    seconds = Math.max(0, Math.floor(seconds || 0));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? two(h) + ":" : "") + two(m) + ":" + two(s);
  }
  function hmsLong(seconds) {
    var t = hms(seconds);
    return t.length === 5 ? "00:" + t : t;
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else if (k === "cls") { node.className = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }
  function label(prefix, value) {
    return value && has(prefix + value) ? T(prefix + value) : (value || "—");
  }

  // ---------------------------------------------------------------- state
  var st = {
    agent: null, call: null, card: null, today: null, wrapup: null, skew: 0,
    ami: true, dialKey: null, busy: false, live: false
  };
  function serverNow() { return Date.now() / 1000 + st.skew; }
  // Event times come from the server's clock: never let the local estimate run behind them
  // (a browser clock that is off, or a long-lived page).
  function bump(at) {
    if (typeof at === "number" && at > serverNow()) { st.skew = at - Date.now() / 1000; }
  }

  // ---------------------------------------------------------------- messages
  function showError(text) {
    var box = $("desk-msg");
    box.className = "alert";
    box.textContent = text;
    box.hidden = false;
    clearTimeout(showError.timer);
    showError.timer = setTimeout(function () { box.hidden = true; }, 6000);
  }
  function errorText(body, status) {
    if (body && body.error_id && has("cti.err." + body.error_id)) {
      return T("cti.err." + body.error_id) + (body.message ? " (" + body.message + ")" : "");
    }
    if (body && body.message) { return body.message; }
    return T("cti.err.generic") + " (" + status + ")";
  }

  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin",
      headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { ok: r.ok, status: r.status, data: data };
      });
    });
  }

  function act(name, body) {
    if (st.busy) { return Promise.resolve(null); }
    st.busy = true;
    renderButtons();
    return api("POST", "/api/agent/" + name + cfg.query, body || {}).then(function (res) {
      if (!res.ok) { showError(errorText(res.data, res.status)); }
      return res;
    }).catch(function () {
      showError(T("cti.conn.offline"));
      return null;
    }).then(function (res) {
      st.busy = false;
      renderButtons();
      return res;
    });
  }

  // ---------------------------------------------------------------- rendering
  function renderState() {
    var a = st.agent || { status: "logged_out" };
    var badge = $("state-badge");
    badge.className = "state " + a.status;
    var text = T("cti.state." + a.status);
    if (a.status === "paused" && a.reason) { text += " · " + label("cti.reason.", a.reason); }
    badge.textContent = text;
    root.setAttribute("data-state", a.status);
    var pop = $("pop");
    pop.classList.toggle("ringing", a.status === "ringing");
    renderButtons();
  }

  function renderButtons() {
    var s = st.agent ? st.agent.status : "logged_out";
    var paused = st.agent && (st.agent.paused || s === "paused");
    var acw = s === "paused" && st.agent.reason === "acw";
    var off = st.busy || !st.live;
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
    var t = st.today;
    if (!t) { return; }
    $("today-calls").textContent = String(t.calls);
    $("today-talk").textContent = hmsLong(t.talk_s);
    $("today-pause").textContent = hmsLong(t.pause_s);
  }

  function renderCall() {
    var c = st.call;
    var rec = $("rec");
    if (!c) {
      $("call-timer").textContent = "00:00";
      $("call-who").textContent = T("cti.call.idle");
      rec.className = "rec off";
      rec.textContent = "● " + T("cti.call.not_recording");
      return;
    }
    rec.className = c.recording ? "rec on" : "rec off";
    rec.textContent = "● " + T(c.recording ? "cti.call.recording" : "cti.call.not_recording");
    var who = st.card && st.card.linked_id === c.linked_id ? cardTitle(st.card) : c.linked_id;
    $("call-who").textContent = who;
  }

  function tick() {
    var now = serverNow();
    if (st.agent && st.agent.since) { $("state-timer").textContent = hms(now - st.agent.since); }
    else { $("state-timer").textContent = "00:00"; }
    if (st.call && st.call.connected_at) {
      $("call-timer").textContent = hms(now - st.call.connected_at);
    }
  }

  function cardTitle(card) {
    if (card.merchant) { return card.merchant.name + " · " + (card.caller || ""); }
    return card.caller || card.linked_id;
  }

  function table(headers, rows) {
    if (!rows.length) { return el("p", { cls: "none", text: T("cti.pop.none") }); }
    var thead = el("thead", {}, [el("tr", {}, headers.map(function (h) { return el("th", { text: h }); }))]);
    var tbody = el("tbody", {}, rows.map(function (r) {
      return el("tr", {}, r.map(function (v) { return el("td", { text: v === null || v === undefined ? "" : String(v) }); }));
    }));
    return el("table", { cls: "data" }, [thead, tbody]);
  }

  function field(dl, key, value, node) {
    dl.appendChild(el("dt", { text: T(key) }));
    var dd = el("dd", {});
    if (node) { dd.appendChild(node); } else { dd.textContent = value || "—"; }
    dl.appendChild(dd);
  }

  function renderCard(card, partial) {
    st.card = card;
    var box = $("pop-card");
    box.textContent = "";
    $("pop-empty").hidden = true;
    box.hidden = false;
    var m = card.merchant;
    var title = el("div", { cls: "pop-title" });
    title.appendChild(el("span", { cls: "name", text: m ? m.name : T("cti.pop.unknown") }));
    if (m) {
      (m.tags || []).forEach(function (tag) {
        title.appendChild(el("span", { cls: "tag " + tag, text: label("cti.tag.", tag) }));
      });
      title.appendChild(el("span", { cls: m.verified ? "tag ok" : "tag warn",
        text: T(m.verified ? "cti.pop.verified" : "cti.pop.unverified") }));
    }
    var sub = el("div", { cls: "muted", text: T("cti.pop.caller") + " " + (card.caller || "—") +
      " · " + T("cti.pop.queue") + " " + label("cti.queue.", card.queue) });
    box.appendChild(el("div", { cls: "pop-head" }, [title, sub]));
    box.appendChild(el("p", { cls: "greeting", text: T("cti.pop.greeting", { number: cfg.agent_number }) }));
    if (partial || !card.complete) {
      box.appendChild(el("p", { cls: "pop-loading", text: T("cti.pop.loading") }));
    }
    if (card.candidates && card.candidates.length) {
      box.appendChild(el("p", { cls: "alert", text: T("cti.pop.ambiguous") }));
      box.appendChild(el("ul", { cls: "candidates" }, card.candidates.map(function (c) {
        return el("li", { text: c.merchant_number + " · " + c.name });
      })));
    }
    var dl = el("dl", { cls: "fields" });
    if (m) {
      field(dl, "cti.pop.merchant_number", m.merchant_number);
      field(dl, "cti.pop.address", m.address);
      field(dl, "cti.pop.contact", m.contact_person);
      var phones = el("span", {});
      (m.phones || []).forEach(function (p) {
        var a = el("a", { href: "#", cls: "phone-link", text: p, "data-phone": p });
        a.addEventListener("click", function (ev) { ev.preventDefault(); $("dial-number").value = p; });
        phones.appendChild(a);
      });
      field(dl, "cti.pop.phones", "", phones);
      field(dl, "cti.pop.hours", m.business_hours);
    } else if (card.merchant_number) {
      field(dl, "cti.pop.merchant_number", card.merchant_number);
    }
    var ivr = card.ivr || {};
    field(dl, "cti.pop.intent", label("cti.intent.", ivr.intent));
    field(dl, "cti.pop.ivr", ivr.path);
    box.appendChild(dl);
    if (card.complete) {
      box.appendChild(el("h3", { text: T("cti.pop.terminals") }));
      box.appendChild(table([T("cti.col.serial"), T("cti.col.model"), T("cti.col.status")],
        (card.terminals || []).map(function (t) { return [t.serial, t.model, label("cti.tstatus.", t.status)]; })));
      box.appendChild(el("h3", { text: T("cti.pop.tasks") }));
      box.appendChild(table([T("cti.col.task"), T("cti.col.kind"), T("cti.col.status"), T("cti.col.time"), T("cti.col.description")],
        (card.open_tasks || []).map(function (t) {
          return [t.task_number, label("cti.kind.", t.kind), label("cti.task.", t.status),
            localTime(t.created_at), t.description];
        })));
      box.appendChild(el("h3", { text: T("cti.pop.calls") }));
      box.appendChild(table([T("cti.col.time"), T("cti.pop.queue"), T("cti.col.agent"), T("cti.col.outcome")],
        (card.recent_calls || []).map(function (c) {
          return [localTime(c.started_at), label("cti.queue.", c.queue), c.agent_number,
            c.disposition ? label("cti.disp.", c.disposition) : label("cti.outcome.", c.outcome)];
        })));
      box.appendChild(el("h3", { text: T("cti.pop.complaints") }));
      box.appendChild(table([T("cti.col.time"), T("cti.col.class"), T("cti.col.description"), T("cti.col.outcome")],
        (card.complaints || []).map(function (c) {
          return [localTime(c.created_at), label("cti.complaint.", String(c["class"])),
            c.description, c.result];
        })));
    }
    $("pop").classList.remove("missed");
    $("pop-status").textContent = "";
    $("pop-status").className = "tag";
    if (m && m.phones && m.phones.length && !$("dial-number").value) {
      $("dial-number").value = m.phones[0];
    }
    renderCall();
  }

  // ---------------------------------------------------------------- wrap-up
  var FORM_TEXT = ["address", "site_phone", "business_hours", "contact_person", "product_model",
    "terminal_serial", "handling", "result", "department"];
  var wrap = { linkedId: null, requirements: {}, extra: {} };

  function visibleFields(disposition) {
    var req = (wrap.requirements[disposition] || {}).required || [];
    var fields = {};
    req.forEach(function (f) { fields[f] = true; });
    fields.description = true;
    if (disposition === "complaint_1" || disposition === "complaint_2") {
      fields.amount_yuan = true; fields.media_exposure = true;
      fields.handling = true; fields.result = true;
    }
    if (disposition === "repair" || disposition === "installation") { fields.update_merchant = true; }
    return fields;
  }

  function showFields() {
    var form = $("wrapup-form");
    var disposition = form.elements.disposition.value;
    var fields = visibleFields(disposition);
    form.querySelectorAll("[data-field]").forEach(function (node) {
      node.hidden = !fields[node.getAttribute("data-field")];
    });
  }

  function countChars() {
    var n = $("wrapup-form").elements.description.value.length;
    $("desc-count").textContent = T("cti.wrapup.chars", { n: n });
  }

  function clearErrors() {
    var form = $("wrapup-form");
    form.querySelectorAll(".err").forEach(function (n) { n.textContent = ""; });
    form.querySelectorAll(".invalid").forEach(function (n) { n.classList.remove("invalid"); });
  }

  function loadWrapup(linkedId) {
    if (!linkedId) { return; }
    api("GET", "/api/calls/" + encodeURIComponent(linkedId) + "/wrapup").then(function (res) {
      if (!res.ok || !res.data) {
        if (res.status !== 404 && res.status !== 403) { showError(T("cti.wrapup.unavailable")); }
        return;
      }
      var d = res.data;
      if (d.call && d.call.disposition) { return; }  // already wrapped up
      wrap.linkedId = linkedId;
      wrap.requirements = d.requirements || {};
      wrap.extra = {};
      var form = $("wrapup-form");
      form.reset();
      clearErrors();
      Object.keys(d.form || {}).forEach(function (k) {
        if (form.elements[k]) { form.elements[k].value = d.form[k] || ""; }
      });
      if (d.suggested_disposition) { form.elements.disposition.value = d.suggested_disposition; }
      $("wrapup-call").textContent = T("cti.wrapup.call", { id: linkedId });
      $("wrapup-dup").hidden = true;
      $("wrapup-result").textContent = "";
      showFields();
      countChars();
      $("wrapup").hidden = false;
    }).catch(function () { showError(T("cti.wrapup.unavailable")); });
  }

  function wrapupBody() {
    var form = $("wrapup-form");
    var fields = visibleFields(form.elements.disposition.value);
    var body = { disposition: form.elements.disposition.value };
    if (form.elements.description.value.trim()) { body.description = form.elements.description.value; }
    FORM_TEXT.forEach(function (f) {
      if (fields[f] && form.elements[f].value.trim()) { body[f] = form.elements[f].value; }
    });
    if (fields.amount_yuan && form.elements.amount_yuan.value.trim()) {
      body.amount_yuan = Number(form.elements.amount_yuan.value);
    }
    if (fields.media_exposure) { body.media_exposure = form.elements.media_exposure.checked; }
    if (fields.update_merchant) { body.update_merchant = form.elements.update_merchant.checked; }
    Object.keys(wrap.extra).forEach(function (k) { body[k] = wrap.extra[k]; });
    return body;
  }

  function showDuplicates(tasks) {
    var box = $("wrapup-dup");
    box.textContent = "";
    box.appendChild(el("div", { text: T("cti.wrapup.duplicate") }));
    var list = el("ul", {});
    (tasks || []).forEach(function (t) {
      var link = el("button", { type: "button", text: T("cti.wrapup.link") });
      link.addEventListener("click", function () {
        wrap.extra = { link_task_number: t.task_number };
        submitWrapup();
      });
      list.appendChild(el("li", {}, [el("span", { text: (t.task_number || "") + " · " +
        label("cti.task.", t.status) + " · " + (t.description || "") + " " }), link]));
    });
    box.appendChild(list);
    var anyway = el("button", { type: "button", text: T("cti.wrapup.new_anyway") });
    anyway.addEventListener("click", function () {
      wrap.extra = { new_despite_open: true };
      submitWrapup();
    });
    box.appendChild(anyway);
    box.hidden = false;
  }

  function submitWrapup() {
    if (!wrap.linkedId) { return; }
    clearErrors();
    var form = $("wrapup-form");
    api("POST", "/api/calls/" + encodeURIComponent(wrap.linkedId) + "/wrapup", wrapupBody())
      .then(function (res) {
        if (res.status === 201) {
          var rec = res.data && res.data.record;
          var key = res.data && res.data.linked ? "cti.wrapup.linked" : "cti.wrapup.record";
          $("wrapup-result").textContent = rec ? T(key, { number: rec.task_number }) : T("cti.wrapup.saved");
          $("wrapup-dup").hidden = true;
          wrap.linkedId = null;
          st.wrapup = null;
          setTimeout(function () { if (!wrap.linkedId) { $("wrapup").hidden = true; } }, 4000);
          return;
        }
        var d = res.data || {};
        if (d.error_id === "possible_duplicate") { showDuplicates(d.open_tasks); return; }
        var errors = d.errors || (d.field ? [{ field: d.field, message: d.message }] : []);
        errors.forEach(function (e) {
          var slot = form.querySelector('[data-error-for="' + e.field + '"]');
          if (slot) {
            slot.textContent = e.message;
            slot.parentNode.classList.add("invalid");
          }
        });
        if (!errors.length || !form.querySelector(".invalid")) { showError(errorText(d, res.status)); }
      }).catch(function () { showError(T("cti.wrapup.unavailable")); });
  }

  // ---------------------------------------------------------------- live feed
  function onHello(msg) {
    st.skew = msg.now - Date.now() / 1000;
    st.agent = msg.agent;
    st.today = msg.today;
    st.ami = msg.ami;
    st.call = msg.call;
    renderState();
    renderToday();
    if (msg.card) { renderCard(msg.card, !msg.card.complete); } else { renderCall(); }
    if (msg.wrapup && msg.wrapup !== wrap.linkedId) { loadWrapup(msg.wrapup); }
    if (!msg.ami) { $("conn").textContent = T("cti.conn.no_ami"); $("conn").className = "tag warn"; }
  }

  var handlers = {
    hello: onHello,
    state: function (msg) {
      var before = st.agent ? st.agent.status : null;
      st.agent = msg.agent;
      bump(msg.agent.since);
      if (before === "ringing" && msg.agent.status !== "on_call" && msg.agent.status !== "ringing") {
        $("pop").classList.add("missed");
        $("pop-status").textContent = T("cti.pop.missed");
        $("pop-status").className = "tag warn";
      }
      renderState();
    },
    pop: function (msg) { renderCard(msg.card, msg.partial); },
    call: function (msg) {
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
    wrapup: function (msg) {
      if (st.call && st.call.linked_id === msg.linked_id) { st.call = null; renderCall(); }
      st.wrapup = msg.linked_id;
      loadWrapup(msg.linked_id);
    },
    today: function (msg) { st.today = msg.today; renderToday(); },
    // From callcenter.business: a task of one of this agent's calls changed status.
    task_status: function (msg) {
      var status = label("cti.task.", msg.status);
      if (msg.engineer) { status += " · " + msg.engineer; }
      if (msg.appointment_local) { status += " · " + msg.appointment_local; }
      showNotice(T("cti.task.update", { number: msg.task_number, status: status }));
    },
    dial: function (msg) {
      if (msg.status === "failed") {
        showError(T("cti.dial.failed") + (msg.error_id ? " · " + T("cti.err." + msg.error_id) : ""));
      } else if (msg.status === "answered") {
        showNotice(T("cti.dial.answered"));
      }
    }
  };

  var retry = 500;
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/ws/agent" + cfg.query);
    ws.onopen = function () {
      retry = 500;
      st.live = true;
      root.setAttribute("data-live", "1");
      $("conn").textContent = T("cti.conn.live");
      $("conn").className = "tag ok";
      renderButtons();
    };
    ws.onmessage = function (event) {
      var msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      var handler = handlers[msg.type];
      if (handler) { handler(msg); }
    };
    ws.onclose = function (event) {
      st.live = false;
      root.setAttribute("data-live", "0");
      $("conn").textContent = T("cti.conn.offline");
      $("conn").className = "tag bad";
      renderButtons();
      if (event.code === 4401 || event.code === 1008) { return; }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
    setInterval(function () { if (ws.readyState === 1) { ws.send("ping"); } }, 25000);
  }

  // ---------------------------------------------------------------- wiring
  function newKey() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return "d-" + Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  $("btn-login").addEventListener("click", function () { act("login"); });
  $("btn-logout").addEventListener("click", function () { act("logout"); });
  $("btn-pause").addEventListener("click", function () { act("pause", { reason: $("pause-reason").value }); });
  $("btn-resume").addEventListener("click", function () { act("resume"); });
  $("btn-hangup").addEventListener("click", function () { act("hangup"); });
  $("btn-answer").addEventListener("click", function () { act("phone/answer"); });
  $("btn-phone-hangup").addEventListener("click", function () { act("phone/hangup"); });
  $("transfer-target").addEventListener("change", function () {
    $("transfer-ext").hidden = $("transfer-target").value !== "ext";
  });
  $("btn-transfer").addEventListener("click", function () {
    var target = $("transfer-target").value === "ext" ? $("transfer-ext").value.trim() : $("transfer-target").value;
    act("transfer", { target: target, mode: $("transfer-mode").value });
  });
  $("btn-dial").addEventListener("click", function () {
    var number = $("dial-number").value.trim();
    if (!number) { return; }
    // One key per intent to dial: a double click or a retry re-sends the same key and the
    // server never dials twice; the key is dropped once an answer came back.
    if (!st.dialKey || st.dialKey.number !== number) { st.dialKey = { number: number, key: newKey() }; }
    var label = st.card && st.card.merchant ? st.card.merchant.name : "";
    act("dial", { number: number, idempotency_key: st.dialKey.key, label: label }).then(function (res) {
      if (res) {
        st.dialKey = null;
        if (res.ok) { $("wrapup-result").textContent = ""; showNotice(T("cti.dial.sent")); }
      }
    });
  });
  function showNotice(text) {
    var box = $("desk-msg");
    box.className = "notice";
    box.textContent = text;
    box.hidden = false;
    clearTimeout(showError.timer);
    showError.timer = setTimeout(function () { box.hidden = true; }, 4000);
  }
  var form = $("wrapup-form");
  form.elements.disposition.addEventListener("change", showFields);
  form.elements.description.addEventListener("input", countChars);
  form.addEventListener("submit", function (ev) { ev.preventDefault(); wrap.extra = {}; submitWrapup(); });

  setInterval(tick, 1000);
  renderButtons();
  connect();
})();
