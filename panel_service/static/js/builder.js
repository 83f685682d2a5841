// The criteria builder without page loads. Without JavaScript every builder button posts the
// study form (formaction) and the server shows it again; here the same endpoints answer JSON
// with the new criteria text and the builder redrawn. Editing the text redraws the builder
// through /coordinators/criteria/tree (the real parser; errors by line and column).
(function () {
  "use strict";
  var section = document.getElementById("criteria-builder");
  var form = document.getElementById("study-form");
  var text = document.querySelector("[data-criteria-editor]");
  if (!section || !form || !text || !window.fetch || !window.FormData) { return; }
  var csrf = section.getAttribute("data-csrf");
  var timer = null;
  var latest = 0;

  function studyId() {
    var input = section.querySelector("input[name='b_study']");
    return input && input.value ? parseInt(input.value, 10) : null;
  }

  function redraw(result, focusId) {
    if (typeof result.html === "string") { section.innerHTML = result.html; }
    if (focusId) {
      var again = document.getElementById(focusId);
      if (again) { again.focus(); }
    }
  }

  function say(message) {
    var box = document.getElementById("builder-messages");
    if (!box) { return; }
    box.textContent = "";
    var p = document.createElement("p");
    p.className = "error";
    p.textContent = message;
    box.appendChild(p);
  }

  function step(button) {
    var data = new FormData(form);
    data.append(button.name, button.value);
    var ticket = ++latest;
    var focusId = button.id || null;
    fetch(button.getAttribute("formaction"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrf },
      body: data
    }).then(function (response) {
      if (response.status === 429) {
        say(section.getAttribute("data-limit-message") || "You have used your feasibility queries for now. Try again later.");
        return null;
      }
      return response.json();
    }).then(function (result) {
      if (!result || ticket !== latest) { return; }
      if (typeof result.text === "string" && result.ok) {
        text.value = result.text;
        text.dispatchEvent(new Event("input", { bubbles: true }));
      }
      redraw(result, focusId);
      // Keep the keyboard where the step leads: to the problem, the matches, what was added or
      // the count (the panel was redrawn, so the pressed button is gone).
      var kind = button.value.split("-")[1];
      var next = document.querySelector("#b-problem a, #b-errors") ||
        (button.value === "search-question" || button.value === "choose-question" ?
          (document.getElementById("b-question-key-1") || document.getElementById("b-question-chosen")) : null) ||
        (button.value.indexOf("search-") === 0 ? document.getElementById("b-" + kind + "-code-1") : null) ||
        document.getElementById("b-added") || document.getElementById("b-count-result");
      if (next) { next.focus(); }
    }).catch(function () {
      // Fall back to the page load the button would have done.
      form.setAttribute("action", button.getAttribute("formaction"));
    });
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-builder]");
    if (!button) { return; }
    event.preventDefault();
    step(button);
  });

  // Enter in a builder search box searches, instead of saving the study.
  form.addEventListener("keydown", function (event) {
    var input = event.target;
    if (event.key !== "Enter" || !input.matches || !input.matches("[data-builder-search]")) { return; }
    event.preventDefault();
    var button = section.querySelector("button[value='" + input.getAttribute("data-builder-search") + "']");
    if (button) { step(button); }
  });

  function readText() {
    var source = text.value;
    var ticket = ++latest;
    var body = { criteria: source };
    if (studyId()) { body.study = studyId(); }
    fetch(section.getAttribute("data-tree-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json();
    }).then(function (result) {
      if (ticket !== latest || text.value !== source) { return; }
      redraw(result, null);
    }).catch(function () { /* the builder buttons still read the text on the server */ });
  }

  text.addEventListener("input", function (event) {
    if (!event.isTrusted) { return; }  // our own update after a builder step
    clearTimeout(timer);
    timer = setTimeout(readText, 400);
  });
})();
