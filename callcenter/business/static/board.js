/* Dispatcher board, task page and alerts: plain JavaScript served by the product (no CDN).
 *
 * The board renders rows from JSON (first the rows embedded in the page, then
 * GET /api/board/tasks with the current filters) and listens on the WebSocket /ws/board: any
 * message about a task, a delivery or an alert triggers one debounced re-fetch, so a new task
 * appears without a reload and the filters stay the server's. Every text node is set with
 * textContent: task data never becomes markup.
 */
"use strict";
(function () {
  const textsNode = document.getElementById("bz-texts");
  const TEXTS = textsNode ? JSON.parse(textsNode.textContent) : {};
  const ZH = (document.body.dataset.locale || "zh-CN") === "zh-CN";

  function t(key, params) {
    let text = TEXTS[key] || key;
    if (params) {
      for (const [name, value] of Object.entries(params)) {
        text = text.replace("{" + name + "}", String(value));
      }
    }
    return text;
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === "") continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function duration(seconds) {
    const s = Math.abs(Math.round(seconds));
    if (s < 60) return ZH ? "刚刚" : "just now";
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (ZH) {
      if (d) return d + "天" + h + "小时";
      if (h) return h + "小时" + m + "分";
      return m + "分钟";
    }
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    return m + "m";
  }

  async function postJSON(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) {
      const error = new Error(data.message || (t("business.error.failed") + " (" + response.status + ")"));
      error.field = data.field;
      throw error;
    }
    return data;
  }

  // ------------------------------------------------------------------ board

  function initBoard(root) {
    const api = root.dataset.api;
    const wsPath = root.dataset.ws;
    const form = document.getElementById("bz-filters");
    const tbody = root.querySelector("#bz-tasks tbody");
    const empty = document.getElementById("bz-empty");
    const count = document.getElementById("bz-count");
    const banners = document.getElementById("bz-banners");
    const live = document.getElementById("bz-live");
    const initial = JSON.parse(document.getElementById("bz-initial").textContent);
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
      const label = clock.state === "overdue"
        ? t("business.clockstate.overdue") + " " + duration(clock.remaining_s)
        : t("business.clockstate.running") + " " + duration(clock.remaining_s);
      return el("span", { class: "bz-clock " + clock.state, title: t("business.clock.progress") + " · " + clock.due_local, text: label });
    }

    function row(task) {
      const href = "/board/tasks/" + encodeURIComponent(task.task_number);
      const classes = [task.overdue ? "overdue" : "", fresh.has(task.task_number) ? "bz-new" : ""].join(" ").trim();
      const tr = el("tr", { class: classes || null, "data-number": task.task_number },
        el("td", {}, el("a", { class: "bz-num", href: href, text: task.task_number }),
          task.disposition && task.disposition !== task.kind
            ? el("span", { class: "bz-sub", text: t("business.disposition." + task.disposition) }) : null),
        el("td", { text: t("business.kind." + task.kind) }),
        el("td", {}, el("span", { class: "bz-status " + task.status, text: t("business.status." + task.status) })),
        el("td", {}, task.merchant_name, el("span", { class: "bz-sub", text: [task.district, task.merchant_number].filter(Boolean).join(" · ") })),
        el("td", {}, task.terminal_serial || "—", el("span", { class: "bz-sub", text: task.product_model })),
        el("td", {}, task.created_local, el("span", { class: "bz-sub", text: duration(task.age_s) })),
        el("td", {}, progressCell(task)),
        el("td", { text: task.engineer || "—" }),
        el("td", { text: task.appointment_local || "—" }),
        el("td", {}, el("span", { class: "bz-delivery " + task.delivery_state, text: t("business.delivery." + task.delivery_state) })),
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
        items.push(el("a", { class: "alert bz-dead", href: "/alerts", text: "⚠ " + t("business.board.dead_banner", { n: data.dead_letters }) }));
      }
      const overdue = data.tasks.filter((task) => task.overdue).length;
      if (overdue > 0) {
        items.push(el("a", { class: "alert bz-overdue", href: "/alerts", text: t("business.board.overdue_banner", { n: overdue }) }));
      }
      banners.replaceChildren(...items);
    }

    let inflight = null;
    let again = false;
    async function refresh() {
      if (inflight) { again = true; return; }
      const q = query();
      inflight = fetch(api + (q ? "?" + q : ""), { credentials: "same-origin", headers: { "Accept": "application/json" } });
      try {
        const response = await inflight;
        if (response.status === 401) { window.location.reload(); return; }
        if (!response.ok) return;
        const data = await response.json();
        for (const task of data.tasks) {
          if (!known.has(task.task_number)) {
            known.add(task.task_number);
            fresh.add(task.task_number);
            setTimeout(() => fresh.delete(task.task_number), 4000);
          }
        }
        render(data);
      } catch (e) {
        /* the socket's reconnect will refresh again */
      } finally {
        inflight = null;
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
      history.replaceState(null, "", "/board" + (q ? "?" + q : ""));
      refresh();
    });
    form.addEventListener("submit", (event) => { event.preventDefault(); refresh(); });

    let delay = 1000;
    function setLive(ok) {
      live.className = "tag " + (ok ? "ok" : "bad");
      live.textContent = ok ? t("business.board.live") : t("business.board.offline");
      root.dataset.live = ok ? "1" : "0";
    }
    function connect() {
      const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      const ws = new WebSocket(scheme + window.location.host + wsPath);
      let ping = null;
      ws.onopen = () => {
        delay = 1000;
        setLive(true);
        refresh();  // catch up with anything between the page load and the subscription
        ping = setInterval(() => ws.readyState === 1 && ws.send("ping"), 25000);
      };
      ws.onmessage = (event) => {
        let message = {};
        try { message = JSON.parse(event.data); } catch (e) { return; }
        if (["task", "delivery", "alert", "complaint"].includes(message.type)) soon();
      };
      ws.onclose = () => {
        clearInterval(ping);
        setLive(false);
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }

    render(initial);
    setLive(false);
    connect();
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
          await postJSON("/api/tasks/" + encodeURIComponent(number) + "/actions", body);
          window.location.reload();
        } catch (e) {
          error.textContent = (e.field ? e.field + ": " : "") + e.message;
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
          await postJSON(form.dataset.url, { action: action, text: form.elements.text.value });
          window.location.reload();
        } catch (e) {
          error.textContent = e.message;
        }
      });
    }
  }

  const board = document.getElementById("bz-board");
  if (board) initBoard(board);
  const task = document.getElementById("bz-task");
  if (task) initTask(task);
  const alerts = document.getElementById("bz-alerts");
  if (alerts) initAlerts(alerts);
})();
