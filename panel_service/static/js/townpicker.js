// Type-ahead for the town page. The page works without it: "Find my town" posts the form and
// the server lists the matching towns as radio buttons to choose from. With it, the same radio
// buttons appear as you type (from /places/search), in a live region, so a screen reader hears
// that there are matches; choosing one and pressing Save saves it, as without JavaScript.
(function () {
  "use strict";
  var form = document.querySelector("form.town-picker");
  if (!form || !window.fetch) { return; }
  var input = form.querySelector("input[name='town']");
  var results = document.getElementById("place-results");
  var url = form.getAttribute("data-search-url");
  var legendText = form.getAttribute("data-choose");
  var timer = null;
  var latest = 0;

  function render(items) {
    results.textContent = "";
    if (!items.length) { return; }
    var fieldset = document.createElement("fieldset");
    fieldset.className = "field radios";
    fieldset.id = "place";
    var legend = document.createElement("legend");
    legend.textContent = legendText;
    fieldset.appendChild(legend);
    items.forEach(function (item, index) {
      var choice = document.createElement("div");
      choice.className = "choice";
      var radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "place";
      radio.value = item.id;
      radio.id = "place-" + item.id;
      if (items.length === 1 && index === 0) { radio.checked = true; }
      var label = document.createElement("label");
      label.htmlFor = radio.id;
      label.textContent = item.label;
      choice.appendChild(radio);
      choice.appendChild(document.createTextNode(" "));
      choice.appendChild(label);
      fieldset.appendChild(choice);
    });
    results.appendChild(fieldset);
  }

  function search() {
    var query = input.value.trim();
    if (query.length < 2) { results.textContent = ""; return; }
    var ticket = ++latest;
    fetch(url + "?q=" + encodeURIComponent(query), {
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    })
      .then(function (response) { return response.ok ? response.json() : { items: [] }; })
      .then(function (body) { if (ticket === latest) { render(body.items || []); } })
      .catch(function () { /* "Find my town" still works */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  // Enter in the town field searches instead of saving.
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(timer);
      search();
    }
  });
  // Arrow down from the field moves to the first match.
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown") {
      var first = results.querySelector("input[name='place']");
      if (first) { event.preventDefault(); first.focus(); }
    }
  });
})();
