/* "我的回访 / My callbacks" on the agent desk (templates/callbacks/desk_panel.html).
 *
 * Lists the agent's planned and pending 回访 (GET /api/callbacks, with the 2-day clock of a
 * pending one). Opening one (POST /api/callbacks/{id}/open) makes the server push the
 * merchant's card and recent service history to the desk's screen pop (a `pop` message,
 * rendered by desk.js like any call's) and then `{type: "service_callback", event: "opened"}`:
 * only that message enables 呼叫, so the agent has the history in front of them before
 * dialling, as the regulation asks. 呼叫 is the desk's click to dial (POST /api/agent/dial with
 * an idempotency key); the form is the /callbacks form (form.html, cb_form.js) posted to
 * /api/callbacks/{id}/form. Untrusted values only go into textContent.
 */
"use strict";
(() => {
  const panel = cc.byId("mycb-panel");
  const cfg = cc.readJSON("desk-config");
  if (!panel || !cfg) return;
  const { el, byId, fetchJSON, dateTime, hms } = cc;
  const T = cc.translator(cc.readJSON("mycb-texts", {}));
  const agent = encodeURIComponent(cfg.agent_number);
  let current = null; // {cb, number, key, opened}

  const errorText = (error) => (error && error.body && error.body.message) || String(error);
  const note = (text, cls) => {
    byId("mycb-note").textContent = text;
    byId("mycb-note").className = `small ${cls || "muted"}`;
  };

  const clock = (cb) => {
    if (!cb.clock) return el("span", { class: "muted", text: `${T("callbacks.col.due")} ${dateTime(cb.due_at)}` });
    if (cb.clock.state === "overdue") return el("strong", { class: "miss", text: T("callbacks.overdue") });
    return el("span", { class: "mycb-clock", text: `${T("callbacks.col.clock")} ${hms(cb.clock.remaining_s)}` });
  };

  const load = async () => {
    let list;
    try {
      const [planned, pending] = await Promise.all(["planned", "pending"].map((state) =>
        fetchJSON(`/api/callbacks?state=${state}&agent=${agent}`)));
      list = planned.concat(pending).filter((cb) => !cb.place);
    } catch (error) {
      return; // no callbacks module or not an agent: the panel stays hidden
    }
    panel.hidden = false;
    byId("mycb-count").textContent = String(list.length);
    const items = list.map((cb) => {
      const open = el("button", { type: "button", class: "mycb-open", text: T("callbacks.desk.open") });
      open.dataset.id = String(cb.id);
      open.addEventListener("click", () => openOne(cb));
      return el("li", { class: current && current.cb.id === cb.id ? "on" : "" },
        el("div", { class: "mycb-name", text: cb.merchant_name }),
        el("div", { class: "small" },
          el("span", { class: `tag ${cb.state}`, text: T(`callbacks.state.${cb.state}`) }), " ",
          el("span", { text: T(`callbacks.kind.${cb.kind}`) }), " · ", clock(cb)),
        open);
    });
    if (!items.length) items.push(el("li", { class: "muted", text: T("callbacks.none") }));
    byId("mycb-list").replaceChildren(...items);
  };

  const openOne = async (cb) => {
    current = { cb, number: "", key: "", opened: false };
    byId("mycb-dial").disabled = true;
    byId("mycb-merchant").textContent = cb.merchant_name;
    byId("mycb-kind").textContent = T(`callbacks.kind.${cb.kind}`);
    byId("mycb-number").textContent = "";
    byId("cb-form").reset();
    byId("cb-form-status").textContent = "";
    byId("mycb-work").hidden = false;
    note(T("callbacks.desk.read_first"));
    load();
    try {
      await fetchJSON(`/api/callbacks/${cb.id}/open${cfg.query || ""}`, { method: "POST", body: {} });
    } catch (error) {
      note(errorText(error), "err");
    }
  };

  // The server's `opened` comes after the card's `pop` on the same socket: the history is shown.
  document.addEventListener("cc:desk-message", (event) => {
    const msg = event.detail;
    if (msg && msg.type === "callbacks") { load(); return; } // the day's plan assigned some
    if (!msg || msg.type !== "service_callback" || msg.event !== "opened") return;
    if (!current || current.cb.id !== msg.callback_id) return;
    current.opened = true;
    current.number = msg.number || "";
    current.key = `callback-${current.cb.id}-${current.cb.attempts + 1}-${Date.now()}`;
    byId("mycb-number").textContent = current.number;
    byId("mycb-dial").disabled = !current.number;
    note(current.number ? T("callbacks.desk.history_shown") : T("callbacks.desk.no_number"),
      current.number ? "notice" : "err");
  });

  byId("mycb-dial").addEventListener("click", async () => {
    if (!current || !current.opened || !current.number) return;
    const button = byId("mycb-dial");
    button.disabled = true;
    try {
      await fetchJSON(`/api/agent/dial${cfg.query || ""}`, { method: "POST", body: {
        number: current.number, idempotency_key: current.key,
        label: `${T("callbacks.desk.title")} · ${current.cb.merchant_name}`.slice(0, 60) } });
      note(T("callbacks.desk.dialling"), "notice");
      // another try needs another key (the same key is the same dial)
      current.key = `callback-${current.cb.id}-${current.cb.attempts + 1}-${Date.now()}`;
      setTimeout(() => { if (current && current.opened) button.disabled = false; }, 5000);
    } catch (error) {
      button.disabled = false;
      note(errorText(error), "err");
    }
  });

  byId("mycb-close").addEventListener("click", () => {
    current = null;
    byId("mycb-work").hidden = true;
    load();
  });

  byId("cb-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current) return;
    try {
      await fetchJSON(`/api/callbacks/${current.cb.id}/form`,
        { method: "POST", body: window.ccCallbackForm.body(event.target) });
      current = null;
      byId("mycb-work").hidden = true;
      note("");
      byId("mycb-count").textContent = "";
      load();
      byId("cb-form-status").textContent = T("callbacks.saved");
    } catch (error) {
      byId("cb-form-status").textContent = errorText(error);
    }
  });

  load();
  setInterval(load, 30000);
})();
