(function () {
  // the CSV buttons of the tables and the "All numbers (JSON)" button: built from the numbers
  // embedded in #report-numbers (no network), saved through a Blob
  var data = null;
  function numbers() {
    if (data === null) { data = JSON.parse(document.getElementById("report-numbers").textContent); }
    return data;
  }
  function table(id) {
    var parts = numbers().sections;
    for (var i = 0; i < parts.length; i++) {
      for (var j = 0; j < parts[i].tables.length; j++) {
        if (parts[i].tables[j].id === id) { return parts[i].tables[j]; }
      }
    }
    return null;
  }
  function cell(v) {
    var s = v === null || v === undefined ? "" : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function csv(t) {
    return [t.header].concat(t.rows).map(function (r) { return r.map(cell).join(","); }).join("\r\n") + "\r\n";
  }
  function save(text, name, type) {
    var url = URL.createObjectURL(new Blob([text], {type: type}));
    var a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  }
  window.__reportCsv = function (id) { var t = table(id); return t ? csv(t) : null; };
  document.addEventListener("click", function (e) {
    var b = e.target && e.target.closest ? e.target.closest("button.csv, #download-json") : null;
    if (!b) { return; }
    if (b.id === "download-json") {
      save(document.getElementById("report-numbers").textContent, "report-numbers.json", "application/json");
    } else {
      var id = b.getAttribute("data-table");
      var text = window.__reportCsv(id);
      if (text !== null) { save(text, id + ".csv", "text/csv;charset=utf-8"); }
    }
  });
})();
