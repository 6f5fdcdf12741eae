/* The callbacks page (/callbacks): the list by state with the 2-day clock, the callback form
 * (《服务质量电话回访表》) and, for the team lead, planning, CSV upload and review.
 * ES2017, uses common.js (`cc`); no inline script (CSP). */
"use strict";
(() => {
  const { el, byId, readJSON, translator, dateTime, hms, fetchJSON } = window.cc;
  const t = translator(readJSON("cb-texts", {}));
  const page = readJSON("cb-page", {});
  let state = "planned";
  let current = null;

  const clockCell = (cb) => {
    if (!cb.clock) return "";
    if (cb.clock.state === "overdue") return el("strong", { class: "miss", text: t("callbacks.overdue") });
    return hms(cb.clock.remaining_s);
  };

  // A keep-my-place call-back: its queue, where it stands (waiting, reached, given up), the tries.
  const resultCell = (cb) => {
    if (!cb.place) {
      return t.has(`callbacks.outcome.${cb.result}`) ? t(`callbacks.outcome.${cb.result}`) : (cb.result || "");
    }
    const p = cb.place;
    const parts = [t(`callbacks.queue.${p.queue}`), t(`callbacks.place.${p.state}`)];
    if (p.tries) parts.push(t("callbacks.place.try", { n: p.tries, max: p.max_tries }));
    return parts.join(" · ");
  };

  const actions = (cb) => {
    if (cb.place && (cb.place.state === "waiting" || cb.place.state === "claimed")) {
      return ""; // worked from the agent's desk in the caller's turn, not from this form
    }
    if (cb.state !== "done") {
      const open = el("button", { type: "button", text: t("callbacks.open") });
      open.addEventListener("click", () => openForm(cb));
      return open;
    }
    if (cb.reviewed_at) return t("callbacks.reviewed");
    if (!page.lead) return "";
    const review = el("button", { type: "button", text: t("callbacks.review") });
    review.addEventListener("click", async () => {
      await fetchJSON(`/api/callbacks/${cb.id}/review`, { method: "POST", body: {} });
      load();
    });
    return review;
  };

  const load = async () => {
    for (const link of byId("cb-states").querySelectorAll("a")) {
      link.classList.toggle("on", link.dataset.state === state);
    }
    const list = await fetchJSON(`/api/callbacks?state=${encodeURIComponent(state)}`);
    const body = byId("cb-list").querySelector("tbody");
    body.replaceChildren(...list.map((cb) => el("tr", {},
      el("td", {}, `${cb.merchant_name} (${cb.merchant_number})`),
      el("td", {}, t(`callbacks.kind.${cb.kind}`)),
      el("td", {}, dateTime(cb.due_at)),
      el("td", {}, cb.agent_number),
      el("td", {}, clockCell(cb)),
      el("td", {}, dateTime(cb.next_attempt_at)),
      el("td", { class: "cb-result" }, resultCell(cb)),
      el("td", {}, actions(cb)))));
    if (!list.length) body.append(el("tr", {}, el("td", { colspan: "8", text: t("callbacks.none") })));
  };

  const openForm = (cb) => {
    current = cb;
    byId("cb-form").reset();
    byId("cb-form-merchant").textContent = cb.merchant_name;
    byId("cb-form-status").textContent = "";
    byId("cb-form-card").hidden = false;
  };

  byId("cb-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current) return;
    const body = window.ccCallbackForm.body(event.target);
    try {
      await fetchJSON(`/api/callbacks/${current.id}/form`, { method: "POST", body });
      byId("cb-form-status").textContent = t("callbacks.saved");
      byId("cb-form-card").hidden = true;
      load();
    } catch (error) {
      byId("cb-form-status").textContent = error.message;
    }
  });

  for (const link of byId("cb-states").querySelectorAll("a")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      state = link.dataset.state;
      load();
    });
  }

  if (page.lead) {
    const status = byId("cb-lead-status");
    byId("cb-plan").addEventListener("click", async () => {
      const answer = await fetchJSON("/api/callbacks/plan", { method: "POST", body: { date: page.today } });
      status.textContent = `${answer.date}: +${answer.planned} / ${answer.assigned}`;
      load();
    });
    byId("cb-upload").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      try {
        const answer = await fetchJSON("/api/callbacks/upload",
          { method: "POST", body: { date: page.today, csv: await file.text() } });
        status.textContent = `${answer.date}: +${answer.planned}`;
        load();
      } catch (error) {
        status.textContent = error.message;
      }
    });
  }
  load();
  setInterval(load, 30000);
})();
