(function () {
  var errors = [];
  window.__reportErrors = errors;
  window.__reportRecord = record;
  function record(msg) {
    errors.push(String(msg));
    var el = document.getElementById("report-errors");
    if (el) { el.hidden = false; el.textContent = "Page errors:\n" + errors.join("\n"); }
  }
  window.addEventListener("error", function (e) {  // capture phase: also failed image, script and stylesheet loads
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) { record("Failed to load resource " + (t.src || t.href)); }
    else { record("Uncaught " + (e.message || e)); }
  }, true);
  window.addEventListener("unhandledrejection", function (e) { record("Unhandled rejection " + (e.reason || "")); });
  var orig = console.error;
  console.error = function () {
    record("console.error " + Array.prototype.map.call(arguments, String).join(" "));
    return orig.apply(console, arguments);
  };
})();
