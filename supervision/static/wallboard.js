/* The wallboard: renders the board the server pushes on /ws/wallboard (hello = the whole
 * board, then {type: "wallboard"} boards and {type: "alert"} alerts), ticks waits, times in
 * state and complaint clocks between pushes, and starts/switches/stops live monitoring from
 * an agent's row. Standing alerts (open complaints and their clocks, dead letters, speech
 * alerts) come with every board (board.standing), so a page opened after the push shows them;
 * an alert pushed live is shown at once until the next read of the standing alerts
 * (board.standing_seq) has it. Texts come from the page (#wb-texts); no inline script (CSP). */
"use strict";
(() => {
  const { el, byId, readJSON, translator, hms, fetchJSON, liveSocket } = cc;
  const t = translator(readJSON("wb-texts", {}));
  const root = byId("wb");
  const tv = root.classList.contains("wb-tv");
  let board = readJSON("wb-initial", null);
  let offset = 0; // server clock - browser clock, seconds
  let pushed = []; // [{seq, alert}] pushed live, shown until board.standing_seq passes seq
  const me = readJSON("wb-me", {}) || {};
  let monitoring = me.monitoring ? { agent: me.monitoring.agent, mode: me.monitoring.mode } : null;
  let ended = null; // why the last monitoring session ended by itself
  const reasons = readJSON("wb-reasons", []);
  const chosen = {}; // agent -> pause reason picked, kept across re-renders (pushes)
  const LIVE_ALERTS = ["dead_letter", "complaint", "complaint_clock"];

  const pct = (v) => (v === null || v === undefined ? t("supervision.no_data") : `${(v * 100).toFixed(1)}%`);
  const secs = (v) => (v === null || v === undefined ? t("supervision.no_data") : hms(v));
  const now = () => Date.now() / 1000 + offset;

  const alertText = (a) => {
    switch (a.alert) {
      case "staffing": return t("supervision.alert.staffing", { online: a.online, floor: a.floor });
      case "answer_rate": return t("supervision.alert.answer_rate",
        { queue: a.queue, rate: pct(a.answer_rate), target: pct(a.target) });
      case "long_wait": return t("supervision.alert.long_wait", { queue: a.queue, wait: hms(a.wait_s) });
      case "dead_letter": return t("supervision.alert.dead_letter", { task: a.task_number });
      case "complaint": return t(a.top_tier ? "supervision.alert.complaint_top" : "supervision.alert.complaint",
        { task: a.task_number, merchant: a.merchant_name || "" });
      case "complaint_clock": return t("supervision.alert.complaint_clock",
        { task: a.task_number, clock: t(`supervision.clock.${a.clock}`) });
      case "speech":
      case "speech_alert": return t("supervision.alert.speech", { keywords: (a.keywords || []).join("、") });
      default: return a.alert;
    }
  };

  const clockText = (due) => {
    const left = due - now();
    return left >= 0 ? t("supervision.clock.due_in", { left: hms(left) })
      : t("supervision.clock.overdue", { late: hms(-left) });
  };

  const alertItem = (a) => {
    const kind = a.alert === "speech_alert" ? "speech" : a.alert;
    const item = el("li", { class: `alert-${kind}${a.overdue ? " overdue" : ""}`, "data-alert": kind, "data-key": a.key || "" },
      el("span", { text: alertText(a) }));
    for (const k of a.clocks || []) {
      item.append(el("span", { class: `wb-clock ${k.state}`, "data-clock": k.clock },
        `${t(`supervision.clock.${k.clock}`)} `, el("b", { "data-due": String(k.due), text: clockText(k.due) })));
    }
    if (kind === "speech" && a.recording && !tv) {
      item.append(el("a", { href: `/speech/recordings/${encodeURIComponent(a.recording)}`, text: t("supervision.alert.listen") }));
    }
    return item;
  };

  const standingKey = (a) => {
    if (a.alert === "speech_alert") return `speech:${a.linked_id}`;
    if (a.alert === "dead_letter") return `dead_letter:${a.outbox_id}`;
    if (a.alert === "complaint") return `complaint:${a.complaint_id}`;
    return null;
  };

  const renderAlerts = () => {
    const list = byId("wb-alerts");
    const standing = board && board.standing ? board.standing : [];
    const keys = new Set(standing.map((a) => a.key));
    const live = pushed.map((p) => p.alert).filter((a) => !keys.has(standingKey(a)));
    const all = [...(board ? board.alerts : []), ...standing, ...live];
    list.replaceChildren(...(all.length
      ? all.map(alertItem)
      : [el("li", { class: "none", text: t("supervision.no_alerts") })]));
  };

  const queueRow = (q) => el("tr", { "data-queue": q.queue },
    el("td", { text: q.queue }),
    el("td", { class: `num${q.waiting ? " bad" : ""}`, "data-field": "waiting", text: q.waiting }),
    el("td", { class: "num", "data-field": "longest", "data-since": q.waiting ? String(board.now - q.longest_wait_s) : "", text: q.waiting ? hms(q.longest_wait_s) : "" }),
    el("td", { class: "num", "data-field": "offered", text: q.offered }),
    el("td", { class: "num", "data-field": "answered", text: q.answered }),
    el("td", { class: "num", "data-field": "abandoned", text: q.abandoned }),
    el("td", { class: "num", "data-field": "callback_requested", text: q.callback_requested }),
    el("td", { class: `num ${q.answer_rate_ok === false ? "bad" : q.answer_rate_ok ? "good" : ""}`, "data-field": "answer_rate", text: pct(q.answer_rate) }),
    el("td", { class: "num", "data-field": "service_level", text: pct(q.service_level) }),
    el("td", { class: "num", "data-field": "service_level_30m", text: pct(q.service_level_30m) }),
    el("td", { class: "num", "data-field": "asa", text: secs(q.asa_s) }),
    el("td", { class: "num", text: `${q.agents.available} / ${q.agents.on_call} / ${q.agents.wrap_up} / ${q.agents.paused}` }));

  const monitorButtons = (a) => {
    if (tv || !a.agent) return el("td", { class: "wb-actions-col" });
    const buttons = [];
    if (a.call) {
      for (const mode of ["listen", "whisper", "barge"]) {
        buttons.push(el("button", { type: "button", "data-monitor": mode, "data-agent": a.agent,
          class: monitoring && monitoring.agent === a.agent && monitoring.mode === mode ? "primary" : "",
          text: t(`supervision.mode.${mode}`) }));
      }
    }
    if (monitoring && monitoring.agent === a.agent) {
      buttons.push(el("button", { type: "button", "data-monitor": "stop", "data-agent": a.agent, text: t("supervision.monitor.stop") }));
    }
    if (a.state !== "logged_out") {
      if (a.state !== "paused") {
        buttons.push(el("select", { "data-reason-for": a.agent, "aria-label": t("supervision.force_pause") },
          reasons.map((r) => el("option", { value: r, selected: chosen[a.agent] === r ? "selected" : false,
            text: t.has(`reason.${r}`) ? t(`reason.${r}`) : r }))));
        buttons.push(el("button", { type: "button", "data-control": "pause", "data-agent": a.agent, text: t("supervision.force_pause") }));
      }
      buttons.push(el("button", { type: "button", "data-control": "logout", "data-agent": a.agent, text: t("supervision.force_logout") }));
    }
    return el("td", { class: "wb-actions-col" }, el("div", { class: "wb-actions" }, buttons));
  };

  const agentRow = (a) => {
    const state = t(`state.${a.state}`) + (a.pause_reason ? ` · ${t.has(`reason.${a.pause_reason}`) ? t(`reason.${a.pause_reason}`) : a.pause_reason}` : "");
    const call = a.call ? `${a.call.caller || ""} ${a.call.queue ? `(${a.call.queue})` : ""}`.trim() : "";
    return el("tr", { "data-agent": a.agent, "data-state": a.state },
      el("td", { text: a.agent }), el("td", { text: a.name }),
      el("td", {}, el("span", { class: `wb-state ${a.state}`, text: state })),
      el("td", { class: "num", "data-since": String(a.since), text: hms(board.now - a.since) }),
      el("td", { "data-field": "call", text: call }),
      el("td", { class: "num", "data-field": "calls_today", text: a.calls_today }),
      el("td", { class: "num", text: hms(a.handle_s_today) }),
      monitorButtons(a));
  };

  const render = () => {
    if (!board) return;
    if (monitoring && !board.agents.some((a) => a.agent === monitoring.agent && a.call)) {
      monitoring = null; // the spied call ended: ChanSpy's E option ended the spy
    }
    pushed = pushed.filter((p) => p.seq >= (board.standing_seq || 0));
    const online = byId("wb-online");
    online.textContent = t("supervision.online", { online: board.online, floor: board.floor });
    online.classList.toggle("bad", board.online < board.floor);
    byId("wb-queues").replaceChildren(...board.queues.map(queueRow));
    byId("wb-agents").replaceChildren(...board.agents.map(agentRow));
    const banner = byId("wb-monitor");
    banner.hidden = !monitoring && !ended;
    if (monitoring) banner.textContent = t("supervision.monitor.on", { mode: t(`supervision.mode.${monitoring.mode}`), agent: monitoring.agent });
    else if (ended) banner.textContent = t("supervision.monitor.ended", { agent: ended.agent, reason: t.has(`supervision.end.${ended.reason}`) ? t(`supervision.end.${ended.reason}`) : ended.reason });
    banner.dataset.state = monitoring ? "on" : ended ? "ended" : "";
    renderAlerts();
  };

  const tick = () => {
    const at = now();
    for (const node of root.querySelectorAll("[data-since]")) {
      if (node.dataset.since) node.textContent = hms(at - Number(node.dataset.since));
    }
    for (const node of root.querySelectorAll("[data-due]")) node.textContent = clockText(Number(node.dataset.due));
  };

  const loadAudit = async () => {
    if (tv) return;
    try {
      const rows = await fetchJSON("/api/supervisor/audit?limit=10");
      byId("wb-audit").replaceChildren(...rows.map((r) => el("tr", {},
        el("td", { text: cc.dateTime(r.at) }), el("td", { text: r.actor }),
        el("td", { text: r.action }), el("td", { text: r.target }),
        el("td", { class: "muted", text: r.details && r.details.mode ? r.details.mode : "" }))));
    } catch { /* the audit is optional on this page */ }
  };

  const showError = (err) => {
    const banner = byId("wb-monitor");
    banner.hidden = false;
    banner.dataset.state = "failed";
    banner.textContent = t("supervision.monitor.failed", { error: err.errorId === "logout_failed" ? err.message : err.errorId || err.message });
  };

  const control = async (button) => {
    const agent = button.dataset.agent;
    const what = button.dataset.control;
    const body = {};
    if (what === "pause") {
      const select = root.querySelector(`select[data-reason-for="${agent}"]`);
      body.reason = select ? select.value : reasons[0];
    }
    try {
      await fetchJSON(`/api/supervisor/agents/${encodeURIComponent(agent)}/${what}`, { method: "POST", body });
    } catch (err) {
      showError(err);
      return;
    }
    loadAudit();
  };

  root.addEventListener("change", (event) => {
    const select = event.target.closest("select[data-reason-for]");
    if (select) chosen[select.dataset.reasonFor] = select.value;
  });

  root.addEventListener("click", async (event) => {
    const controlButton = event.target.closest("button[data-control]");
    if (controlButton) {
      control(controlButton);
      return;
    }
    const button = event.target.closest("button[data-monitor]");
    if (!button) return;
    const agent = button.dataset.agent;
    const mode = button.dataset.monitor;
    try {
      if (mode === "stop") {
        await fetchJSON("/api/supervisor/monitor", { method: "POST", body: { agent, mode: "stop" } });
        monitoring = null;
      } else {
        await fetchJSON("/api/supervisor/monitor", { method: "POST", body: { agent, mode } });
        monitoring = { agent, mode };
        ended = null;
      }
    } catch (err) {
      showError(err);
      return;
    }
    render();
    loadAudit();
  });

  const live = byId("wb-live");
  liveSocket(root.dataset.ws, {
    onOpen: () => { live.className = "tag ok"; live.textContent = t("supervision.live"); },
    onClose: () => { live.className = "tag bad"; live.textContent = t("supervision.offline"); },
    onMessage: (message) => {
      if (message.type === "wallboard") {
        if (message.partial && board) {
          // only the agent rows that changed since the previous push
          const rows = new Map(board.agents.map((a) => [a.interface, a]));
          for (const gone of message.removed || []) rows.delete(gone);
          for (const a of message.agents) rows.set(a.interface, a);
          message.agents = [...rows.values()].sort((x, y) =>
            (x.agent || "~").localeCompare(y.agent || "~") || x.interface.localeCompare(y.interface));
        }
        board = message;
        offset = message.now - Date.now() / 1000;
        render();
      } else if ((message.type === "alert" && LIVE_ALERTS.includes(message.alert)) || message.type === "speech_alert") {
        pushed = [{ seq: board ? board.standing_seq || 0 : 0, alert: message }, ...pushed].slice(0, 20);
        renderAlerts();
      } else if (message.type === "monitor" && message.event === "ended" && message.supervisor === me.username) {
        if (monitoring && monitoring.agent === message.agent) monitoring = null;
        ended = message;
        render();
        loadAudit();
      }
    },
    stopCodes: [4001],
  });
  if (board) offset = board.now - Date.now() / 1000;
  render();
  loadAudit();
  setInterval(tick, 1000);
})();
