// linkledger dashboard: the only script. Everything works without it except the two things it
// adds: the overview refreshes itself, and copy buttons copy. Ours, vendored, no dependencies.
"use strict";
(function () {
  function refresh(section) {
    var url = section.getAttribute("data-live");
    var every = parseInt(section.getAttribute("data-every"), 10) || 3000;
    function tick() {
      if (document.hidden) { return setTimeout(tick, every); }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (res) {
          // Signed out meanwhile: the answer is the sign-in page; stop refreshing.
          if (!res.ok || res.redirected) { return null; }
          return res.text();
        })
        .then(function (html) {
          if (html === null) { return; }
          section.innerHTML = html;
          setTimeout(tick, every);
        })
        .catch(function () { setTimeout(tick, every * 2); });
    }
    setTimeout(tick, every);
  }
  function copyButtons() {
    var status = document.querySelector("[data-copy-status]");
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
          if (status) { status.textContent = "Copied " + button.getAttribute("data-copy"); }
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(refresh);
    copyButtons();
  });
})();
