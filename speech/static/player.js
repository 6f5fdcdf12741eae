/* The transcript beside the recording: each word is a button that seeks the player to the
 * word's start; the word being played is highlighted; `#t=SECONDS` (a search hit) seeks on
 * load. Words are untrusted text: they only become text nodes (cc.el). */
"use strict";
(() => {
  const t = cc.translator(cc.readJSON("speech-texts", {}));
  const data = cc.readJSON("speech-data", { channels: [] });
  const audio = cc.byId("speech-audio");
  const box = cc.byId("speech-transcript");
  const spans = [];

  const seek = (seconds) => {
    audio.currentTime = seconds;
    audio.play().catch(() => {});  // autoplay may be refused; the position is still set
  };

  if (!data.channels.length) box.append(cc.el("p", { class: "notice", text: t("speech.player.none") }));
  for (const channel of data.channels) {
    const line = cc.el("p", { class: `speech-channel speech-${channel.channel}` },
      cc.el("strong", { text: `${t(`speech.channel.${channel.channel}`)}: ` }));
    for (const word of channel.words) {
      const button = cc.el("button", { type: "button", class: "link speech-word",
        "data-start": word.start, title: `${word.start.toFixed(2)} s · ${Math.round(word.conf * 100)}%`,
        text: word.word });
      button.addEventListener("click", () => seek(word.start));
      spans.push([word.start, word.end, button]);
      line.append(button, " ");
    }
    box.append(line);
  }

  audio.addEventListener("timeupdate", () => {
    const now = audio.currentTime;
    for (const [start, end, node] of spans) node.classList.toggle("speech-now", start <= now && now < end);
  });

  const match = /^#t=([0-9.]+)$/.exec(window.location.hash);
  if (match) {
    const at = Number(match[1]);
    if (audio.readyState >= 1) audio.currentTime = at;
    else audio.addEventListener("loadedmetadata", () => { audio.currentTime = at; }, { once: true });
  }
})();
