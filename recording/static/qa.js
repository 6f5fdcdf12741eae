/* Quality inspection in the browser: the score sheet under the recordings page's player (for
 * the reviewer a call is assigned to), and the /qa page (a reviewer's assignments and the
 * monthly summary; an agent's own evaluations with acknowledge / dispute). */
"use strict";
(() => {
  const t = cc.translator(cc.readJSON("rc-texts", {}));
  const showError = (error) => {
    const node = cc.byId("rc-error");
    if (!node) return;
    node.textContent = t("recording.error", { message: error.message || String(error) });
    node.hidden = false;
  };

  const markText = (form, key, mark) => {
    const title = (form.criteria.find((c) => c.key === key) || { title: key }).title;
    const at = mark.at_s === null || mark.at_s === undefined ? "" : ` @${cc.hms(mark.at_s)}`;
    return `${title}: ${mark.pass ? t("qa.pass") : t("qa.fail")}${at}` +
      (mark.comment ? ` — ${mark.comment}` : "");
  };

  /** A submitted evaluation, read only. */
  const reviewView = (review, form) => cc.el("div", { class: "qa-review",
    "data-review": String(review.id) },
    cc.el("div", { class: review.passed ? "qa-passed" : "qa-failed",
      text: `${review.passed ? t("qa.record_passed") : t("qa.record_failed")} · ` +
        `${t("qa.version", { n: review.version })} · ${review.reviewer} · ` +
        `${cc.dateTime(review.created_at)}` }),
    cc.el("ul", {}, Object.entries(review.marks).map(([key, mark]) =>
      cc.el("li", { text: markText(form, key, mark) }))),
    review.comment ? cc.el("p", { text: review.comment }) : null,
    review.correction_reason ? cc.el("p", { class: "muted", text: review.correction_reason })
      : null,
    review.agent_answer ? cc.el("p", { class: "tag", text:
      `${t(`qa.answer.${review.agent_answer}`)} ${review.agent_answer_note || ""}` }) : null);

  // ------------------------------------------------------------ score sheet on /recordings

  const sheet = (assignment, form, panel) => {
    const rows = form.criteria.map((c) => {
      const pass = cc.el("input", { type: "radio", name: `qa-${c.key}`, value: "pass",
        "data-key": c.key });
      const fail = cc.el("input", { type: "radio", name: `qa-${c.key}`, value: "fail",
        "data-key": c.key });
      const comment = cc.el("input", { type: "text", class: "qa-comment", maxlength: "400",
        placeholder: t("qa.comment"), "data-key": c.key });
      const at = cc.el("span", { class: "qa-at muted" });
      const pin = cc.el("button", { type: "button", class: "qa-pin", text: t("qa.pin") });
      pin.addEventListener("click", () => {
        at.dataset.at = String(window.rcPlayer.audio.currentTime.toFixed(1));
        at.textContent = `@${cc.hms(window.rcPlayer.audio.currentTime)}`;
      });
      return { key: c.key, pass, fail, comment, at,
        node: cc.el("tr", {}, cc.el("th", { text: c.title }),
          cc.el("td", {}, cc.el("label", {}, pass, t("qa.pass")), " ",
            cc.el("label", {}, fail, t("qa.fail"))),
          cc.el("td", {}, comment), cc.el("td", {}, pin, " ", at)) };
    });
    const overall = cc.el("input", { type: "text", class: "qa-overall", maxlength: "400",
      placeholder: t("qa.overall") });
    const submit = cc.el("button", { type: "button", class: "primary", id: "qa-submit",
      text: t("qa.submit") });
    submit.addEventListener("click", async () => {
      const marks = {};
      for (const row of rows) {
        marks[row.key] = { pass: row.pass.checked ? true : row.fail.checked ? false : null,
          comment: row.comment.value,
          at_s: row.at.dataset.at === undefined ? null : Number(row.at.dataset.at) };
      }
      try {
        const review = await cc.fetchJSON(`/api/qa/assignments/${assignment.id}/review`,
          { method: "POST", body: { marks, comment: overall.value } });
        panel.replaceChildren(cc.el("h3", { text: t("qa.submitted") }), reviewView(review, form));
      } catch (error) {
        showError(error);
      }
    });
    return cc.el("div", { class: "qa-sheet", "data-assignment": String(assignment.id) },
      cc.el("h3", { text: `${t("qa.sheet")} · ${form.version}` }),
      cc.el("table", {}, cc.el("tbody", {}, rows.map((r) => r.node))), overall, " ", submit);
  };

  document.addEventListener("rc:open", (event) => {
    const panel = cc.byId("rc-qa");
    if (!panel) return;
    const qa = event.detail.detail.qa;
    panel.replaceChildren();
    const open = qa.assignments.find((a) => a.state === "assigned");
    if (open) panel.append(sheet(open, qa.form, panel));
    for (const review of qa.reviews) panel.append(reviewView(review, qa.form));
    panel.hidden = !panel.children.length;
  });

  // ------------------------------------------------------------ the /qa page

  const page = cc.byId("qa-page");
  if (!page) return;
  const form = cc.readJSON("qa-form", { criteria: [] });

  const loadAssignments = async () => {
    const body = await cc.fetchJSON("/api/qa/assignments");
    cc.byId("qa-assignments").replaceChildren(...body.items.map((a) => cc.el("tr", {},
      cc.el("td", { text: a.day }), cc.el("td", { text: cc.dateTime(a.started_at) }),
      cc.el("td", { text: a.agent }), cc.el("td", { text: a.queue }),
      cc.el("td", { text: a.merchant }),
      cc.el("td", { text: a.duration_s === null ? "" : cc.hms(a.duration_s) }),
      cc.el("td", { text: t(`recording.qa.${a.state}`) }),
      cc.el("td", {}, cc.el("a", { href: `/recordings?q=${encodeURIComponent(a.linked_id)}`,
        text: t("qa.open") })))));
  };

  const loadSummary = async () => {
    const month = cc.byId("qa-month").value;
    const query = month ? `?month=${month}` : "";
    cc.byId("qa-csv").href = `/api/qa/summary?format=csv${month ? `&month=${month}` : ""}`;
    const body = await cc.fetchJSON(`/api/qa/summary${query}`);
    cc.byId("qa-summary").replaceChildren(...body.lines.map((l) => cc.el("tr", {},
      cc.el("td", { text: l.agent || t("qa.team") }), cc.el("td", { text: l.records }),
      cc.el("td", { text: l.failed }), cc.el("td", { text: l.pass_rate }),
      cc.el("td", { text: l.disputed }), cc.el("td", { text: l.points_lost }))));
  };

  const loadMine = async () => {
    const body = await cc.fetchJSON("/api/qa/reviews");
    const box = cc.byId("qa-mine");
    box.replaceChildren();
    if (!body.items.length) box.append(cc.el("p", { class: "muted", text: t("qa.none") }));
    for (const review of body.items) {
      const view = reviewView(review, form);
      if (!review.agent_answer) {
        const note = cc.el("input", { type: "text", class: "qa-note", maxlength: "400",
          placeholder: t("qa.dispute_reason") });
        const answer = (what) => async () => {
          try {
            await cc.fetchJSON(`/api/qa/reviews/${review.id}/answer`,
              { method: "POST", body: { answer: what, note: note.value } });
            await loadMine();
          } catch (error) {
            showError(error);
          }
        };
        const ack = cc.el("button", { type: "button", class: "qa-ack",
          text: t("qa.acknowledge") });
        const dispute = cc.el("button", { type: "button", class: "qa-dispute",
          text: t("qa.dispute") });
        ack.addEventListener("click", answer("acknowledged"));
        dispute.addEventListener("click", answer("disputed"));
        view.append(cc.el("div", {}, ack, " ", note, " ", dispute));
      }
      box.append(view);
    }
  };

  if (page.dataset.reviewer === "true") {
    cc.byId("qa-draw").addEventListener("click", async () => {
      try {
        const body = await cc.fetchJSON("/api/qa/draw", { method: "POST", body: {} });
        cc.byId("qa-drawn").textContent = t("qa.drawn", { n: body.drawn });
        await loadAssignments();
      } catch (error) {
        showError(error);
      }
    });
    cc.byId("qa-month").addEventListener("change", () => loadSummary().catch(showError));
    loadAssignments().catch(showError);
    loadSummary().catch(showError);
  } else {
    loadMine().catch(showError);
  }
})();
