/* Administration console: accounts, CSV imports, run-time settings, audit log, through /api/admin/* (see
 * callcenter/admin/web.py). Plain JS on /static/common.js (`cc`); no inline script, every
 * text from the page's config, untrusted values only in textContent.
 */
"use strict";
(() => {
  const { el, byId: $, dateTime } = cc;
  const cfg = cc.readJSON("admin-config");
  const T = cc.translator(cfg.texts);
  const root = $("admin");

  let msgTimer = null;
  const say = (text, cls = "notice") => {
    const box = $("admin-msg");
    box.className = cls;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(msgTimer);
    msgTimer = setTimeout(() => { box.hidden = true; }, 6000);
  };
  const fail = (error) => {
    const body = (error && error.body) || {};
    say(`${T("admin.error")}: ${body.field ? `${body.field} · ` : ""}${body.message || error.message || ""}`, "alert");
  };

  const call = async (url, body) => {
    try {
      const data = await cc.fetchJSON(url, body === undefined ? {} : { method: "POST", body });
      return data;
    } catch (error) {
      fail(error);
      return null;
    }
  };

  // ---------------------------------------------------------------- accounts
  const change = async (username, body) => {
    const done = await call(`/api/admin/users/${encodeURIComponent(username)}`, body);
    if (done) { say(T("admin.done")); await loadUsers(); await loadAudit(); }
  };

  const button = (text, onClick) => {
    const b = el("button", { type: "button", text });
    b.addEventListener("click", onClick);
    return b;
  };

  const roleSelect = (u) => {
    const select = el("select", { "aria-label": T("admin.change_role") },
      cfg.roles.map((r) => {
        const option = el("option", { value: r, text: T(`role.${r}`) });
        if (r === u.role) option.selected = true;
        return option;
      }));
    select.addEventListener("change", () => change(u.username, { action: "role", role: select.value }));
    return select;
  };

  function userRow(u) {
    const actions = el("div", { class: "actions" },
      u.active
        ? button(T("admin.disable"), () => change(u.username, { action: "disable" }))
        : button(T("admin.enable"), () => change(u.username, { action: "enable" })),
      button(T("admin.reset"), () => {
        const password = window.prompt(T("admin.new_password"));
        if (password) change(u.username, { action: "password", password });
      }));
    if (u.agent_number) {
      actions.append(
        button(T("admin.change_queues"), () => {
          const queues = window.prompt(T("admin.new_queues"), u.queues.join(","));
          if (queues !== null) change(u.username, { action: "queues", queues });
        }),
        button(T("admin.change_interface"), () => {
          const iface = window.prompt(T("admin.new_interface"), u.interface || "");
          if (iface !== null) change(u.username, { action: "interface", interface: iface });
        }));
    }
    return el("tr", { class: u.active ? "" : "disabled", "data-user": u.username },
      el("td", { text: u.username }), el("td", { text: u.display_name }),
      el("td", {}, roleSelect(u)),
      el("td", { text: T(u.active ? "admin.active" : "admin.disabled") }),
      el("td", { text: u.agent_number || "" }), el("td", { text: u.interface || "" }),
      el("td", { text: (u.queues || []).join(", ") }), el("td", {}, actions));
  }

  async function loadUsers() {
    const data = await call("/api/admin/users");
    if (!data) return;
    const body = $("users").querySelector("tbody");
    body.textContent = "";
    for (const u of data.users) body.append(userRow(u));
  }

  $("add-user").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target.elements;
    const body = {
      username: f.username.value, display_name: f.display_name.value, role: f.role.value,
      password: f.password.value,
    };
    if (f.role.value === "agent") {
      Object.assign(body, { agent_number: f.agent_number.value, interface: f.interface.value,
        queues: f.queues.value });
    }
    const done = await call("/api/admin/users", body);
    if (done) {
      ev.target.reset();
      say(T("admin.done"));
      await loadUsers();
      await loadAudit();
    }
  });

  // ---------------------------------------------------------------- CSV imports
  $("import").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target.elements;
    const file = f.file.files[0];
    if (!file) return;
    const out = $("import-report");
    out.textContent = "";
    let report;
    try {
      report = await cc.fetchJSON(`/api/admin/import/${f.kind.value}`,
        { method: "POST", body: { csv: await file.text() } });
    } catch (error) {
      if (!(error instanceof cc.ApiError) || !error.body.errors) { fail(error); return; }
      report = error.body;
    }
    const errors = report.errors || [];
    const summary = T("admin.import_summary", { created: report.created, updated: report.updated,
      unchanged: report.unchanged, bad: errors.length })
      + T(report.committed ? "admin.import_committed" : "admin.import_not_committed");
    out.append(el("p", { class: report.committed ? "ok import-summary" : "alert import-summary",
      text: summary }));
    if (errors.length) {
      if (!report.committed) out.append(el("p", { text: T("admin.import_bad") }));
      // a field's name in the page's language where the table has it (the CLI's otherwise)
      const field = (name) => (cfg.texts[`admin.field.${name}`] ? T(`admin.field.${name}`) : name);
      out.append(el("ul", { class: "bad-rows" }, errors.map((e) =>
        el("li", { text: T("admin.import_line", { ...e, field: field(e.field) }) }))));
    }
    await loadAudit();
  });

  // ---------------------------------------------------------------- run-time settings
  const form = $("settings");
  const NUMBERS = ["answer_rate_pct", "service_level_s", "long_wait_s", "day_floor", "night_floor"];
  let loaded = null;

  const holidayRow = (h = { name: "", start: "", end: "" }) => {
    const input = (name, type, value) => el("input", {
      name, type, value, "aria-label": T(`admin.holiday_${name}`), maxlength: "60" });
    const remove = button(T("admin.holiday_remove"), () => tr.remove());
    const tr = el("tr", { class: "holiday" },
      el("td", {}, input("name", "text", h.name)), el("td", {}, input("start", "date", h.start)),
      el("td", {}, input("end", "date", h.end)), el("td", {}, remove));
    return tr;
  };

  const formValues = () => {
    const f = form.elements;
    const out = {};
    for (const key of NUMBERS) out[key] = f[key].value === "" ? null : Number(f[key].value);
    out.business_hours = { start: f.day_start.value, end: f.day_end.value };
    out.workdays = f.workdays.value.split(/[\s,，]+/).filter((d) => d).sort();
    out.holidays = [...$("holidays").querySelectorAll("tr.holiday")].map((tr) => ({
      name: tr.querySelector("[name=name]").value, start: tr.querySelector("[name=start]").value,
      end: tr.querySelector("[name=end]").value }));
    return out;
  };

  const showOrigin = (data) => {
    for (const span of form.querySelectorAll("[data-origin]")) {
      const key = span.dataset.origin;
      span.textContent = "";
      const changed = data.changed[key];
      if (!changed) { span.append(T("admin.origin_file")); continue; }
      span.append(T("admin.origin_changed", { by: changed.by, at: dateTime(changed.at) }), " ",
        button(T("admin.reset_default"), () => saveSettings({ reset: [key] })));
    }
  };

  async function loadSettings() {
    const data = await call("/api/admin/settings");
    if (!data) return;
    loaded = data.settings;
    const f = form.elements;
    for (const key of NUMBERS) f[key].value = loaded[key];
    f.day_start.value = loaded.business_hours.start;
    f.day_end.value = loaded.business_hours.end;
    f.workdays.value = loaded.workdays.join(", ");
    const body = $("holidays").querySelector("tbody");
    body.textContent = "";
    for (const h of loaded.holidays) body.append(holidayRow(h));
    showOrigin(data);
  }

  async function saveSettings(body) {
    const done = await call("/api/admin/settings", body);
    if (done) { say(T("admin.done")); await loadSettings(); await loadAudit(); }
  }

  $("holiday-add").addEventListener("click", () => {
    const row = holidayRow();
    $("holidays").querySelector("tbody").append(row);
    row.querySelector("input").focus();
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!loaded) return;
    const now = formValues();
    const changes = {};
    for (const [key, value] of Object.entries(now)) {
      const before = key === "workdays" ? [...loaded.workdays].sort() : loaded[key];
      if (JSON.stringify(value) !== JSON.stringify(before)) changes[key] = value;
    }
    if (!Object.keys(changes).length) { say(T("admin.settings_same")); return; }
    await saveSettings({ changes });
  });

  // ---------------------------------------------------------------- audit log
  async function loadAudit() {
    const data = await call("/api/admin/audit?limit=100");
    if (!data) return;
    const body = $("audit").querySelector("tbody");
    body.textContent = "";
    for (const e of data.entries) {
      const details = Object.entries(e.details || {})
        .filter(([k]) => k !== "path" && k !== "method")
        .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
      body.append(el("tr", {},
        el("td", { text: dateTime(e.at) }), el("td", { text: e.actor }),
        el("td", { text: e.action }), el("td", { text: e.target }),
        el("td", { class: "details", text: details })));
    }
  }
  $("audit-refresh").addEventListener("click", loadAudit);

  Promise.all([loadUsers(), loadAudit(), loadSettings()]).then(() => root.setAttribute("data-ready", "1"));
})();
