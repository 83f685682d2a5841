// When a form comes back with problems, move focus to the error summary so that keyboard and
// screen-reader users hear what is wrong first; its links lead to each field.
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
})();
