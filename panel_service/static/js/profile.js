// Asks about pregnancy only where it applies: the question hides while "Male" is chosen.
// Without JavaScript the question stays visible with a hint, and the server stores "no" for men.
(function () {
  "use strict";
  var group = document.querySelector("fieldset.pregnancy");
  var radios = document.querySelectorAll("input[name='sex']");
  if (!group || !radios.length) { return; }
  function update() {
    var male = document.querySelector("input[name='sex'][value='male']");
    var hide = male && male.checked;
    group.hidden = !!hide;
    group.querySelectorAll("input").forEach(function (input) { input.disabled = !!hide; });
  }
  radios.forEach(function (radio) { radio.addEventListener("change", update); });
  update();
})();
