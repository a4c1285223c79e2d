window.addEventListener("load", function () {
  setTimeout(function () {
    (performance.getEntriesByType ? performance.getEntriesByType("resource") : []).forEach(function (r) {
      if (/^(https?|wss?):/.test(r.name)) { window.__reportRecord("Network request " + r.name); }
    });
    var divs = document.querySelectorAll("div.plotly-graph-div");
    var ok = 0;
    divs.forEach(function (d) { if (d.querySelector(".plot-container svg.main-svg")) { ok += 1; } });
    var s = document.getElementById("report-status");
    s.setAttribute("data-figures", String(divs.length));
    s.setAttribute("data-rendered", String(ok));
    s.setAttribute("data-errors", String((window.__reportErrors || []).length));
    s.textContent = ok + " of " + divs.length + " figures rendered";
  }, 0);
});
