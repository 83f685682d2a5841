// Type-ahead for the condition and medication lists. The page works without it: the Search
// button posts the form and the server lists the matches. With it, matches appear as you type
// (from /vocabulary/search) as the same checkboxes the server would render, and a ticked match
// moves to "Your list" at once, so the next search (or a cleared search box) cannot take it away.
(function () {
  "use strict";
  var form = document.querySelector("form.code-picker");
  if (!form || !window.fetch) { return; }
  var input = form.querySelector("input[name='q']");
  var results = document.getElementById("search-results");
  var chosenList = document.getElementById("selected-codes");
  var system = form.getAttribute("data-system");
  var url = form.getAttribute("data-search-url");
  var timer = null;
  var latest = 0;

  function selectedCodes() {
    var codes = {};
    chosenList.querySelectorAll("input[name='codes']").forEach(function (box) {
      codes[box.value] = true;
    });
    return codes;
  }

  // A ticked match joins "Your list" (ticked, with its label); the matches are redrawn on every
  // search, the list never is.
  function keep(box) {
    var item = box.closest("li");
    var label = item.querySelector("label");
    var empty = chosenList.querySelector("li.empty");
    if (empty) { empty.remove(); }
    box.id = "code-" + box.value;
    if (label) { label.htmlFor = box.id; }
    chosenList.appendChild(item);
    box.focus({ preventScroll: true });
  }

  function render(items) {
    var chosen = selectedCodes();
    results.textContent = "";
    var list = document.createElement("ul");
    list.className = "code-list";
    items.forEach(function (item) {
      if (chosen[item.code]) { return; }
      var li = document.createElement("li");
      var box = document.createElement("input");
      box.type = "checkbox";
      box.name = "codes";
      box.value = item.code;
      box.id = "result-" + item.code;
      var label = document.createElement("label");
      label.htmlFor = box.id;
      label.textContent = item.name + " ";
      var code = document.createElement("span");
      code.className = "meta";
      code.textContent = "(" + item.code + ")";
      label.appendChild(code);
      li.appendChild(box);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(label);
      list.appendChild(li);
    });
    if (list.children.length) { results.appendChild(list); }
  }

  function search() {
    var query = input.value.trim();
    if (query.length < 2) { results.textContent = ""; return; }
    var ticket = ++latest;
    fetch(url + "?system=" + encodeURIComponent(system) + "&q=" + encodeURIComponent(query), {
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    })
      .then(function (response) { return response.ok ? response.json() : { items: [] }; })
      .then(function (body) { if (ticket === latest) { render(body.items || []); } })
      .catch(function () { /* the Search button still works */ });
  }

  results.addEventListener("change", function (event) {
    var box = event.target;
    if (box.name === "codes" && box.checked) { keep(box); }
  });
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  // Enter in the search field searches instead of saving the list.
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(timer);
      search();
    }
  });
})();
