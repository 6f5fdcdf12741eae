/* What every page script shares: element building, translation, time formatting and JSON
 * fetch. Plain JavaScript served by the product (/static/common.js, loaded by base.html before
 * the page's own script); no build step, no CDN.
 *
 * It defines one global, `cc`. The page's language and time zone come from <body data-locale
 * data-timezone> (base.html); its texts come from a JSON data block the server rendered in that
 * language (the language switch in the top bar reloads the page in the other one). Live pages
 * keep a WebSocket open with `liveSocket`.
 * Untrusted text only ever becomes a text node: `el` has no way to set markup.
 */
"use strict";
window.cc = (() => {
  const locale = document.body.dataset.locale || "zh-CN";
  const timezone = document.body.dataset.timezone || "Asia/Shanghai";
  const zh = locale === "zh-CN";

  // ---------------------------------------------------------------- elements

  /** `el("a", { class: "x", href, text }, child, "text", [more children])`: `text` and string
   * children become text nodes; null, undefined and false attributes or children are left out. */
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false || child === "") continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };

  const byId = (id) => document.getElementById(id);

  /** The JSON of a `<script type="application/json" id=…>` data block, or `fallback`. */
  const readJSON = (id, fallback = null) => {
    const node = byId(id);
    return node ? JSON.parse(node.textContent) : fallback;
  };

  // ---------------------------------------------------------------- translation

  /** A lookup in `texts` (key → text in the page's language): `t(key, { n: 3 })` fills every
   * `{n}`; a missing key shows the key. `t.has(key)` tells whether there is a text. */
  const translator = (texts) => {
    const t = (key, params) => {
      let text = texts[key];
      if (text === undefined || text === null || text === "") return key;
      for (const [name, value] of Object.entries(params || {})) {
        text = text.split(`{${name}}`).join(String(value));
      }
      return text;
    };
    t.has = (key) => texts[key] !== undefined && texts[key] !== null && texts[key] !== "";
    return t;
  };

  // ---------------------------------------------------------------- time

  const dateTimeFormat = new Intl.DateTimeFormat(locale, {
    timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hour12: false,
  });
  /** An ISO instant as date and minute in the configured zone (Asia/Shanghai); "" for none. */
  const dateTime = (iso) => (iso ? dateTimeFormat.format(new Date(iso)) : "");

  const two = (n) => String(n).padStart(2, "0");
  /** A span as mm:ss, or hh:mm:ss from an hour on. */
  const hms = (seconds) => {
    const s = Math.max(0, Math.floor(seconds || 0));
    const h = Math.floor(s / 3600);
    const clock = `${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
    return h ? `${two(h)}:${clock}` : clock;
  };
  /** A span as hh:mm:ss always. */
  const hmsLong = (seconds) => {
    const text = hms(seconds);
    return text.length === 5 ? `00:${text}` : text;
  };
  /** A span in words, to the minute ("刚刚", "3小时5分", "2d 4h"). */
  const duration = (seconds) => {
    const s = Math.abs(Math.round(seconds));
    if (s < 60) return zh ? "刚刚" : "just now";
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (zh) {
      if (d) return `${d}天${h}小时`;
      if (h) return `${h}小时${m}分`;
      return `${m}分钟`;
    }
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    return `${m}m`;
  };

  // ---------------------------------------------------------------- fetch

  /** An answer that was not 2xx: `status`, the server's `errorId`, `field` and whole `body`
   * (the parsed JSON, {} when there was none); `message` is the server's or "HTTP <status>". */
  class ApiError extends Error {
    constructor(status, body) {
      const data = body && typeof body === "object" ? body : {};
      super(data.message || `HTTP ${status}`);
      this.name = "ApiError";
      this.status = status;
      this.body = data;
      this.errorId = data.error_id || null;
      this.field = data.field || null;
    }
  }

  /** `await fetchJSON(url, { method: "POST", body })`: sends `body` as JSON with the session
   * cookie, returns the parsed answer (null when empty), throws ApiError when it is not 2xx.
   * A network failure rejects with fetch's own TypeError. */
  const fetchJSON = async (url, { method = "GET", body } = {}) => {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  };

  /** The ws:// or wss:// URL of `path` on this host. */
  const socketUrl = (path) =>
    `${window.location.protocol === "https:" ? "wss://" : "ws://"}${window.location.host}${path}`;

  // ---------------------------------------------------------------- live socket

  const PING_MS = 25000;

  /** Keeps a WebSocket to `path` open: parses each JSON message into `onMessage(message)`,
   * calls `onOpen()` and `onClose(event)`, reconnects after `retry` ms doubling up to `maxRetry`
   * (never after a close code in `stopCodes`). Each open socket has exactly one keep-alive ping
   * timer, cleared when that socket closes, so reconnects never pile timers up. */
  const liveSocket = (path, { onMessage, onOpen, onClose, retry = 1000, maxRetry = 30000,
    stopCodes = [] }) => {
    let delay = retry;
    const connect = () => {
      const ws = new WebSocket(socketUrl(path));
      let ping = null;
      const stopPing = () => {
        clearInterval(ping);
        ping = null;
      };
      ws.onopen = () => {
        delay = retry;
        stopPing();
        ping = setInterval(() => {
          if (ws.readyState === WebSocket.OPEN) ws.send("ping");
        }, PING_MS);
        if (onOpen) onOpen();
      };
      ws.onmessage = (event) => {
        let message;
        try { message = JSON.parse(event.data); } catch { return; }
        onMessage(message);
      };
      ws.onclose = (event) => {
        stopPing();
        if (onClose) onClose(event);
        if (stopCodes.includes(event.code)) return;
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, maxRetry);
      };
    };
    connect();
  };

  return Object.freeze({
    locale, timezone, el, byId, readJSON, translator, dateTime, hms, hmsLong, duration,
    ApiError, fetchJSON, socketUrl, liveSocket,
  });
})();
