// Progressive enhancement of the criteria field: check as you type through the same rules the
// server applies on save. Without JavaScript the form still validates on submit.
(function () {
  "use strict";
  var field = document.querySelector("[data-criteria-editor]");
  var feedback = document.getElementById("criteria-feedback");
  if (!field || !feedback || !window.fetch) { return; }
  var timer = null;
  var last = null;

  function show(result) {
    feedback.textContent = "";
    if (result.ok) {
      feedback.className = "hint";
      feedback.textContent = (feedback.getAttribute("data-reads-as") || "Reads as:") + " " + result.text;
      field.removeAttribute("aria-invalid");
      return;
    }
    feedback.className = "error";
    field.setAttribute("aria-invalid", "true");
    var list = document.createElement("ul");
    result.errors.forEach(function (error) {
      var item = document.createElement("li");
      item.textContent = (error.where ? error.where + " " : error.path === "$" ? "" : error.path + ": ") + error.message;
      list.appendChild(item);
    });
    feedback.appendChild(list);
  }

  function check() {
    var text = field.value;
    if (text === last || !text.trim()) { return; }
    last = text;
    fetch(feedback.getAttribute("data-check-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": feedback.getAttribute("data-csrf") },
      body: JSON.stringify({ criteria: text })
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (result) {
      if (result && field.value === text) { show(result); }
    }).catch(function () { /* the server checks again on save */ });
  }

  field.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  });
})();
