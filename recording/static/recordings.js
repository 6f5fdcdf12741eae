/* The recordings page: search (keyset pages from /api/recordings) and the in-page player
 * (waveform from the recording's peaks, click to seek, ±10 s, speed, the call's timeline).
 * Texts come from the #rc-texts data block; untrusted text only through cc.el (text nodes). */
"use strict";
(() => {
  const t = cc.translator(cc.readJSON("rc-texts", {}));
  const rows = cc.byId("rc-rows");
  const more = cc.byId("rc-more");
  const audio = cc.byId("rc-audio");
  const canvas = cc.byId("rc-wave");
  const player = cc.byId("rc-player");
  let next = null;
  let current = null; // {token, peaks, timeline, duration}

  const apiQuery = () => {
    const params = new URLSearchParams(window.location.search);
    const out = new URLSearchParams();
    for (const [key, value] of params) {
      if (!value) continue;
      if (key === "sort") {
        const [sort, order] = value.split(":");
        out.set("sort", sort);
        out.set("order", order || "desc");
      } else out.set(key, value);
    }
    return out;
  };

  const showError = (error) => {
    const node = cc.byId("rc-error");
    node.textContent = t("recording.error", { message: error.message || String(error) });
    node.hidden = false;
  };

  const row = (item) => {
    const play = cc.el("button", { type: "button", class: "rc-play", "data-token": item.token,
      text: `▶ ${t("recording.play")}` });
    play.addEventListener("click", () => open(item));
    const merchant = [item.merchant_number, item.merchant_name].filter(Boolean).join(" ");
    const result = [item.intent, item.disposition].filter(Boolean).join(" / ");
    return cc.el("tr", { "data-token": item.token },
      cc.el("td", { text: cc.dateTime(item.started_at) }),
      cc.el("td", {}, merchant, item.complaint ? cc.el("span", { class: "tag rc-complaint",
        text: t("recording.complaint") }) : null),
      cc.el("td", { class: "rc-caller", text: item.caller }),
      cc.el("td", { text: item.agent }),
      cc.el("td", { text: item.queue }),
      cc.el("td", { text: item.duration_s === null ? "" : cc.hms(item.duration_s) }),
      cc.el("td", { text: result }),
      cc.el("td", { text: item.tasks.join(" ") }),
      cc.el("td", { class: `rc-qa rc-qa-${item.qa}`, text: t(`recording.qa.${item.qa}`) }),
      cc.el("td", {}, play));
  };

  const load = async (after) => {
    const query = apiQuery();
    if (after) query.set("after", after);
    try {
      const page = await cc.fetchJSON(`/api/recordings?${query}`);
      if (!after) rows.replaceChildren();
      for (const item of page.items) rows.append(row(item));
      next = page.next;
      more.hidden = !next;
      cc.byId("rc-empty").hidden = rows.children.length > 0;
    } catch (error) {
      showError(error);
    }
  };

  // ---------------------------------------------------------------- player

  const MARK_COLOURS = { call: "#888", ivr: "#7a5cc2", queue: "#c27a00", ring: "#c2a000",
    answer: "#1a8a3a", transfer: "#0060c0", hangup: "#b02020" };

  const draw = () => {
    const ctx = canvas.getContext("2d");
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    if (!current) return;
    const peaks = current.peaks.length ? current.peaks : [0];
    const duration = audio.duration || current.duration || 1;
    const played = audio.currentTime / duration;
    const bar = width / peaks.length;
    peaks.forEach((peak, i) => {
      const h = Math.max(1, (peak / 100) * (height - 20));
      ctx.fillStyle = i / peaks.length <= played ? "#1f6feb" : "#9fb8d8";
      ctx.fillRect(i * bar, (height - 20 - h) / 2 + 14, Math.max(1, bar - 1), h);
    });
    ctx.font = "11px sans-serif";
    // Marks close together (e.g. IVR, queue, ring before a recording that starts at the
    // answer) get their labels on successive rows instead of on top of each other.
    let lastX = -Infinity;
    let row = 0;
    for (const mark of current.timeline) {
      const x = Math.min(width - 2, (mark.at_s / duration) * width);
      row = x - lastX < 48 ? (row + 1) % 5 : 0;
      lastX = x;
      ctx.fillStyle = MARK_COLOURS[mark.kind] || "#444";
      ctx.fillRect(x, 0, 2, height);
      ctx.fillText(t(`recording.mark.${mark.kind}`), x + 4, 10 + row * 12);
    }
  };

  const tick = () => {
    const duration = audio.duration || (current && current.duration) || 0;
    cc.byId("rc-time").textContent = `${cc.hms(audio.currentTime)} / ${cc.hms(duration)}`;
    cc.byId("rc-toggle").textContent = t(audio.paused ? "recording.player.play"
      : "recording.player.pause");
    draw();
  };

  const seek = (seconds) => {
    const duration = audio.duration || (current && current.duration) || 0;
    audio.currentTime = Math.max(0, Math.min(duration, seconds));
    tick();
  };

  const open = async (item) => {
    try {
      const detail = await cc.fetchJSON(`/api/recordings/${encodeURIComponent(item.token)}`);
      current = { token: item.token, peaks: detail.peaks || [], timeline: detail.timeline || [],
        duration: detail.duration_s || item.duration_s || 0, item, detail };
      player.hidden = false;
      const merchant = [item.merchant_number, item.merchant_name].filter(Boolean).join(" ");
      cc.byId("rc-now").textContent =
        `${cc.dateTime(item.started_at)} · ${merchant} · ${item.caller} · ${item.agent}`;
      audio.src = detail.audio;
      cc.byId("rc-download").href = `${detail.audio}?download=1`;
      audio.playbackRate = Number(cc.byId("rc-speed").value);
      document.dispatchEvent(new CustomEvent("rc:open", { detail: current }));
      await audio.play().catch(() => {});
      tick();
    } catch (error) {
      showError(error);
    }
  };

  canvas.addEventListener("click", (event) => {
    const rect = canvas.getBoundingClientRect();
    const duration = audio.duration || (current && current.duration) || 0;
    seek(((event.clientX - rect.left) / rect.width) * duration);
  });
  cc.byId("rc-back").addEventListener("click", () => seek(audio.currentTime - 10));
  cc.byId("rc-fwd").addEventListener("click", () => seek(audio.currentTime + 10));
  cc.byId("rc-toggle").addEventListener("click", () => {
    if (audio.paused) audio.play().catch(() => {}); else audio.pause();
  });
  cc.byId("rc-speed").addEventListener("change", (event) => {
    audio.playbackRate = Number(event.target.value);
  });
  for (const name of ["timeupdate", "play", "pause", "loadedmetadata", "seeked"]) {
    audio.addEventListener(name, tick);
  }
  more.addEventListener("click", () => load(next));

  // The player for other scripts on the page (the QA score sheet pins comments to moments).
  window.rcPlayer = Object.freeze({ audio, current: () => current, seek });
  load(null);

  // Admins: who played or downloaded what, newest first.
  const audit = cc.byId("rc-audit-rows");
  if (audit) {
    cc.fetchJSON("/api/recordings/access?limit=100").then((body) => {
      audit.replaceChildren(...body.items.map((a) => cc.el("tr", {},
        cc.el("td", { text: cc.dateTime(a.at) }), cc.el("td", { text: `${a.user} (${a.role})` }),
        cc.el("td", { text: t(`recording.audit.${a.action}`) }),
        cc.el("td", { text: a.linked_id }),
        cc.el("td", { text: a.range[0] === null ? "" : `${a.range[0]}–${a.range[1]}` }))));
    }).catch(showError);
  }

  // Supervisors and admins: what the retention purge deleted, and why.
  const purges = cc.byId("rc-purge-rows");
  if (purges) {
    const since = cc.byId("rc-purge-since");
    const loadPurges = async () => {
      const query = new URLSearchParams({ limit: "100" });
      if (since.value) query.set("since", since.value);
      try {
        const body = await cc.fetchJSON(`/api/recordings/purges?${query}`);
        purges.replaceChildren(...body.items.map((p) => cc.el("tr", {},
          cc.el("td", { text: cc.dateTime(p.purged_at) }),
          cc.el("td", { text: p.linked_id }),
          cc.el("td", { text: p.started_at ? cc.dateTime(p.started_at) : "" }),
          cc.el("td", { class: "rc-path", text: p.path }),
          cc.el("td", { text: p.size_bytes === null ? "" : String(p.size_bytes) }),
          cc.el("td", { text: p.reason }))));
        cc.byId("rc-purge-empty").hidden = body.items.length > 0;
      } catch (error) {
        showError(error);
      }
    };
    cc.byId("rc-purge-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      loadPurges();
    });
    loadPurges();
  }
})();
