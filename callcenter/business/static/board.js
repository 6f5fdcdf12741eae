/* Dispatcher board, task page and alerts: plain JavaScript served by the product (no CDN).
 *
 * The board renders rows from JSON (first the rows embedded in the page, then
 * GET /api/board/tasks with the current filters) and listens on the WebSocket /ws/board: any
 * message about a task, a delivery or an alert triggers one debounced re-fetch, so a new task
 * appears without a reload and the filters stay the server's. Every text node is set with
 * textContent: task data never becomes markup.
 */
"use strict";
(() => {
  const { el, duration } = cc;
  const t = cc.translator(cc.readJSON("bz-texts", {}));

  /** POST `body` as JSON; an error's message is the server's, or "failed (status)". */
  async function postJSON(url, body) {
    try {
      return await cc.fetchJSON(url, { method: "POST", body: body || {} });
    } catch (e) {
      if (!(e instanceof cc.ApiError)) throw e;
      const error = new Error(e.body.message || `${t("business.error.failed")} (${e.status})`);
      error.field = e.body.field;
      throw error;
    }
  }

  // ------------------------------------------------------------------ board

  function initBoard(root) {
    const api = root.dataset.api;
    const wsPath = root.dataset.ws;
    const form = cc.byId("bz-filters");
    const tbody = root.querySelector("#bz-tasks tbody");
    const empty = cc.byId("bz-empty");
    const count = cc.byId("bz-count");
    const banners = cc.byId("bz-banners");
    const live = cc.byId("bz-live");
    const initial = cc.readJSON("bz-initial");
    const known = new Set(initial.tasks.map((task) => task.task_number));
    const fresh = new Set();

    function query() {
      const params = new URLSearchParams();
      for (const [key, value] of new FormData(form).entries()) {
        if (value && !(key === "status" && value === "open") && !(key === "min_age_h" && value === "0")) {
          params.set(key, value);
        }
      }
      return params.toString();
    }

    function progressCell(task) {
      const clock = (task.clocks || []).find((c) => c.name === "progress");
      if (!clock) return el("span", { class: "muted", text: "—" });
      const state = clock.state === "overdue" ? "overdue" : "running";
      const label = `${t(`business.clockstate.${state}`)} ${duration(clock.remaining_s)}`;
      return el("span", { class: `bz-clock ${clock.state}`,
        title: `${t("business.clock.progress")} · ${clock.due_local}`, text: label });
    }

    function row(task) {
      const href = `/board/tasks/${encodeURIComponent(task.task_number)}`;
      const classes = [task.overdue ? "overdue" : "", fresh.has(task.task_number) ? "bz-new" : ""].join(" ").trim();
      const tr = el("tr", { class: classes || null, "data-number": task.task_number },
        el("td", {}, el("a", { class: "bz-num", href: href, text: task.task_number }),
          task.disposition && task.disposition !== task.kind
            ? el("span", { class: "bz-sub", text: t(`business.disposition.${task.disposition}`) }) : null),
        el("td", { text: t(`business.kind.${task.kind}`) }),
        el("td", {}, el("span", { class: `bz-status ${task.status}`, text: t(`business.status.${task.status}`) })),
        el("td", {}, task.merchant_name, el("span", { class: "bz-sub", text: [task.district, task.merchant_number].filter(Boolean).join(" · ") })),
        el("td", {}, task.terminal_serial || "—", el("span", { class: "bz-sub", text: task.product_model })),
        el("td", {}, task.created_local, el("span", { class: "bz-sub", text: duration(task.age_s) })),
        el("td", {}, progressCell(task)),
        el("td", { text: task.engineer || "—" }),
        el("td", { text: task.appointment_local || "—" }),
        el("td", {}, el("span", { class: `bz-delivery ${task.delivery_state}`,
          text: t(`business.delivery.${task.delivery_state}`) })),
      );
      tr.addEventListener("click", (event) => {
        if (event.target.closest("a")) return;
        window.location.href = href;
      });
      return tr;
    }

    function render(data) {
      tbody.replaceChildren(...data.tasks.map(row));
      empty.hidden = data.tasks.length > 0;
      count.textContent = t("business.board.count", { n: data.tasks.length });
      const items = [];
      if (data.dead_letters > 0) {
        items.push(el("a", { class: "alert bz-dead", href: "/alerts",
          text: `⚠ ${t("business.board.dead_banner", { n: data.dead_letters })}` }));
      }
      const overdue = data.tasks.filter((task) => task.overdue).length;
      if (overdue > 0) {
        items.push(el("a", { class: "alert bz-overdue", href: "/alerts", text: t("business.board.overdue_banner", { n: overdue }) }));
      }
      banners.replaceChildren(...items);
    }

    let inflight = false;
    let again = false;
    async function refresh() {
      if (inflight) { again = true; return; }
      const q = query();
      inflight = true;
      try {
        const data = await cc.fetchJSON(api + (q ? `?${q}` : ""));
        for (const task of data.tasks) {
          if (!known.has(task.task_number)) {
            known.add(task.task_number);
            fresh.add(task.task_number);
            setTimeout(() => fresh.delete(task.task_number), 4000);
          }
        }
        render(data);
      } catch (e) {
        if (e instanceof cc.ApiError && e.status === 401) window.location.reload();
        /* otherwise the socket's reconnect will refresh again */
      } finally {
        inflight = false;
        if (again) { again = false; refresh(); }
      }
    }

    let timer = null;
    function soon() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 200);
    }

    form.addEventListener("change", () => {
      const q = query();
      history.replaceState(null, "", `/board${q ? `?${q}` : ""}`);
      refresh();
    });
    form.addEventListener("submit", (event) => { event.preventDefault(); refresh(); });

    function setLive(ok) {
      live.className = `tag ${ok ? "ok" : "bad"}`;
      live.textContent = ok ? t("business.board.live") : t("business.board.offline");
      root.dataset.live = ok ? "1" : "0";
    }

    render(initial);
    setLive(false);
    cc.liveSocket(wsPath, {
      retry: 1000, maxRetry: 30000,
      onOpen: () => {
        setLive(true);
        refresh();  // catch up with anything between the page load and the subscription
      },
      onClose: () => setLive(false),
      onMessage: (message) => {
        if (message && ["task", "delivery", "alert", "complaint"].includes(message.type)) soon();
      },
    });
    setInterval(refresh, 30000);  // the clocks move even when nothing happens
  }

  // ------------------------------------------------------------------ task page

  function initTask(root) {
    const number = root.dataset.number;
    for (const form of root.querySelectorAll("form.bz-action")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = { action: form.dataset.action };
        for (const [key, value] of new FormData(form).entries()) body[key] = value;
        const error = form.querySelector(".bz-error");
        error.textContent = "";
        try {
          await postJSON(`/api/tasks/${encodeURIComponent(number)}/actions`, body);
          window.location.reload();
        } catch (e) {
          error.textContent = (e.field ? `${e.field}: ` : "") + e.message;
        }
      });
    }
    for (const node of root.querySelectorAll(".bz-dur[data-remaining]")) {
      node.textContent = duration(Number(node.dataset.remaining));
    }
  }

  // ------------------------------------------------------------------ alerts

  function initAlerts(root) {
    for (const button of root.querySelectorAll("button.bz-post")) {
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          await postJSON(button.dataset.url, {});
          window.location.reload();
        } catch (e) {
          button.disabled = false;
          button.title = e.message;
        }
      });
    }
    for (const form of root.querySelectorAll("form.bz-complaint")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const action = event.submitter ? event.submitter.value : "report";
        const error = form.querySelector(".bz-error");
        error.textContent = "";
        try {
          await postJSON(form.dataset.url, { action, text: form.elements.text.value });
          window.location.reload();
        } catch (e) {
          error.textContent = e.message;
        }
      });
    }
  }

  const board = cc.byId("bz-board");
  if (board) initBoard(board);
  const task = cc.byId("bz-task");
  if (task) initTask(task);
  const alerts = cc.byId("bz-alerts");
  if (alerts) initAlerts(alerts);
})();
