// Progressive enhancement for the intake and sign-off forms (they work without it):
// a question whose data-asked-when condition does not hold is hidden and disabled, so it
// is not sent, exactly as the server drops it. Served by the app; no inline script.
(function () {
  "use strict";
  function valueOf(form, name) {
    var checked = form.querySelector('input[type=radio][name="' + name + '"]:checked');
    if (checked) { return checked.value; }
    var other = form.querySelector('[name="' + name + '"]:not([type=radio])');
    return other ? other.value : "";
  }
  function update(form) {
    form.querySelectorAll("[data-asked-when]").forEach(function (row) {
      var shown = row.getAttribute("data-asked-when").split(" ").every(function (cond) {
        var at = cond.indexOf("=");
        return valueOf(form, cond.slice(0, at)) === cond.slice(at + 1);
      });
      row.hidden = !shown;
      row.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !shown; });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.intake").forEach(function (form) {
      form.addEventListener("change", function () { update(form); });
      update(form);
    });
  });
})();
