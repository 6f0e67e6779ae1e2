// okrd's only script, and optional: pages work without it. Pages marked
// data-live refresh their <main> every 15 s while visible, unless the
// visitor is typing in a form, so values move without a reload.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !main.hasAttribute("data-live")) return;
  var busy = function () {
    var a = document.activeElement;
    if (a && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName)) return true;
    var fields = main.querySelectorAll("textarea, input[type=text], input[type=number]");
    for (var i = 0; i < fields.length; i++) if (fields[i].value !== fields[i].defaultValue) return true;
    return false;
  };
  var refresh = function () {
    if (document.hidden || busy()) return;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Okrd-Refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        if (!next || next.getAttribute("data-version") === main.getAttribute("data-version")) return;
        main.innerHTML = next.innerHTML;
        main.setAttribute("data-version", next.getAttribute("data-version"));
        var live = document.getElementById("live-note");
        if (live) live.textContent = "Updated " + new Date().toLocaleTimeString();
      })
      .catch(function () {});
  };
  setInterval(refresh, 15000);
})();
