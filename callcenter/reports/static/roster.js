// The roster page's forms post JSON, like every state-changing route (Origin-checked, JSON
// only): the CSV files are read here and sent as text. On success the page reloads the month;
// an error is shown beside the form that caused it.
(() => {
  "use strict";

  const formBody = async (form) => {
    const body = {};
    for (const [name, value] of new FormData(form).entries()) {
      body[name] = value instanceof File ? (value.size ? await value.text() : "") : value;
    }
    return body;
  };

  const submit = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const error = form.querySelector(".form-error") ||
      form.appendChild(cc.el("span", { class: "form-error bad", role: "alert" }));
    error.textContent = "";
    try {
      const answer = await cc.fetchJSON(form.getAttribute("action"),
        { method: "POST", body: await formBody(form) });
      window.location.assign(answer.redirect);
    } catch (err) {
      error.textContent = err.message || String(err);
    }
  };

  for (const form of document.querySelectorAll("form[data-json]")) {
    form.addEventListener("submit", submit);
  }
})();
