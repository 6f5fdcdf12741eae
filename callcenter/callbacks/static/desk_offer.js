/* Keep-my-place call-backs on the agent desktop (callcenter/callbacks/offers.py).
 *
 * The desk's live feed (cti/static/desk.js) hands every message it has no handler for to
 * `cc:desk-message`; here: {type: "queue_callback", event: "offer" | "withdrawn" | "done"}.
 * An offer shows the merchant, the number to call back, when the caller joined the queue and
 * the try; "Call back" asks the server to dial (click to dial: the agent's phone rings first),
 * "Pass" gives it to the next free agent, and after the call the agent records whether the
 * merchant was reached. Texts come from the desk's config (cti.qcb.*); untrusted values only
 * go into textContent.
 */
"use strict";
(() => {
  const panel = cc.byId("qcb-panel");
  const cfg = cc.readJSON("desk-config");
  if (!panel || !cfg) return;
  const { el } = cc;
  const T = cc.translator(cfg.texts);
  const queueName = (q) => (T.has(`cti.queue.${q}`) ? T(`cti.queue.${q}`) : q);
  let shown = null; // {id, accepted}

  const button = (id, cls, text, onClick) => {
    const node = el("button", { id, class: cls, type: "button", text });
    node.addEventListener("click", onClick);
    return node;
  };

  const post = (id, what, body) =>
    cc.fetchJSON(`/api/callbacks/${id}/${what}`, { method: "POST", body: body || {} });

  const note = (text, cls) => {
    panel.querySelector(".qcb-note").textContent = text;
    panel.querySelector(".qcb-note").className = `qcb-note ${cls || "muted"}`;
  };

  const fail = (error) => {
    const message = error && error.body && error.body.message;
    note(message || String(error), "err");
  };

  const outcomeButtons = (id) => el("div", { class: "row qcb-outcome" },
    button("qcb-reached", "primary", T("cti.qcb.reached"),
      () => post(id, "outcome", { reached: true }).then(() => done(), fail)),
    button("qcb-no-answer", "", T("cti.qcb.no_answer"),
      () => post(id, "outcome", { reached: false }).then(() => done(), fail)));

  const done = () => {
    shown = null;
    panel.textContent = "";
    panel.append(el("p", { class: "notice", text: T("cti.qcb.done") }));
    setTimeout(() => { if (!shown) panel.hidden = true; }, 4000);
  };

  const render = (msg) => {
    if (shown && shown.id === msg.callback_id) return; // the same offer again: keep its state
    shown = { id: msg.callback_id, accepted: !!msg.accepted };
    panel.textContent = "";
    const seconds = msg.expires_at
      ? Math.max(0, Math.round((new Date(msg.expires_at) - Date.now()) / 1000)) : 0;
    panel.append(
      el("h2", { text: T("cti.qcb.title") }),
      el("div", { class: "qcb-merchant", text: `${msg.merchant_name} · ${msg.merchant_number}` }),
      el("dl", { class: "fields" },
        el("dt", { text: T("cti.qcb.number") }), el("dd", { class: "mono qcb-number", text: msg.number }),
        el("dt", { text: T("cti.pop.queue") }), el("dd", { text: queueName(msg.queue) }),
        el("dt", { text: "" }), el("dd", { text: T("cti.qcb.joined", { time: cc.dateTime(msg.arrived_at) }) }),
        el("dt", { text: "" }), el("dd", { text: T("cti.qcb.try", { n: msg.tries, max: msg.max_tries }) })),
      el("p", { class: "qcb-note muted", text: shown.accepted ? T("cti.qcb.dialling")
        : T("cti.qcb.expires", { s: seconds }) }));
    if (shown.accepted) {
      panel.append(outcomeButtons(msg.callback_id));
    } else {
      const id = msg.callback_id;
      const actions = el("div", { class: "row qcb-actions" },
        button("qcb-accept", "primary", T("cti.qcb.accept"), async () => {
          actions.querySelectorAll("button").forEach((b) => { b.disabled = true; });
          try {
            await post(id, "accept");
            shown.accepted = true;
            note(T("cti.qcb.dialling"));
            actions.replaceWith(outcomeButtons(id));
          } catch (error) {
            actions.querySelectorAll("button").forEach((b) => { b.disabled = false; });
            fail(error);
          }
        }),
        button("qcb-decline", "", T("cti.qcb.decline"),
          () => post(id, "decline").then(() => { shown = null; panel.hidden = true; }, fail)));
      panel.append(actions);
    }
    panel.hidden = false;
  };

  document.addEventListener("cc:desk-message", (event) => {
    const msg = event.detail;
    if (!msg || msg.type !== "queue_callback") return;
    if (msg.event === "offer") render(msg);
    else if (msg.event === "withdrawn" && shown && shown.id === msg.callback_id) {
      shown = null;
      panel.textContent = "";
      panel.append(el("p", { class: "muted", text: T("cti.qcb.withdrawn") }));
      setTimeout(() => { if (!shown) panel.hidden = true; }, 4000);
    }
  });
})();
