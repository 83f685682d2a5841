// The dashboard picks up an invitation sent while it is open (for example one sent during the
// profile wizard, a few seconds after its last step) without a reload: for two minutes after
// the page loads it fetches the page again every 5 seconds and, when the list of invitations
// changed, swaps in the new list and says so to screen readers. Without JavaScript a reload
// shows the same; nothing here is needed to use the page.
(function () {
  "use strict";
  var section = document.getElementById("invitations");
  if (!section || !window.fetch || !window.DOMParser) { return; }
  var url = section.getAttribute("data-watch");
  var until = Date.now() + 120000;
  var status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  section.parentNode.insertBefore(status, section.nextSibling);

  function check() {
    if (Date.now() > until) { return; }
    if (document.hidden) { window.setTimeout(check, 5000); return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("invitations");
          if (fresh && fresh.innerHTML !== section.innerHTML) {
            var before = section.querySelectorAll("li.card").length;
            section.innerHTML = fresh.innerHTML;
            if (section.querySelectorAll("li.card").length > before) {
              status.textContent = section.getAttribute("data-new") || "";
            }
          }
        }
        window.setTimeout(check, 5000);
      })
      .catch(function () { window.setTimeout(check, 5000); });
  }
  window.setTimeout(check, 5000);
})();
