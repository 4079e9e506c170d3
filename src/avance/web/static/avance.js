// Avance pages: small progressive enhancements only. Every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A form marked data-confirm asks before it is sent (the server checks everything again).
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (event) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  // A print button prints the page (release note, control report).
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
});
