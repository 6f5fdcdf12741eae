/* The 《服务质量电话回访表》 form (templates/callbacks/form.html) read into the body of
 * POST /api/callbacks/{id}/form: one definition for the /callbacks page and the agent desk. */
"use strict";
window.ccCallbackForm = {
  body(form) {
    const f = form.elements;
    return {
      identity_stated: f.identity_stated.checked, purpose_stated: f.purpose_stated.checked,
      accepted: f.accepted.checked, outcome: f.outcome.value, follow_up: f.follow_up.value,
      answers: { satisfaction: Number(f.satisfaction.value), attitude: Number(f.attitude.value),
        solved: f.solved.value, comments: f.comments.value },
    };
  },
};
