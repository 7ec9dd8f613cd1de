// Polls an image's status while it is being processed, and reloads the page once it is final.
(function () {
  "use strict";
  var box = document.getElementById("image-status");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var delay = 1000;
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.final) { window.location.reload(); return; }
        if (data) {
          box.setAttribute("data-status", data.status);
          var text = box.querySelector(".status-text");
          if (text) { text.textContent = data.status.charAt(0).toUpperCase() + data.status.slice(1); }
        }
        delay = Math.min(delay * 1.3, 5000);
        window.setTimeout(poll, delay);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, delay);
})();
