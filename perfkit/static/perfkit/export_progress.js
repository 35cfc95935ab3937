// Live progress of an export job on its admin page: polls the job's JSON, no library.
(function () {
  "use strict";
  var box = document.getElementById("perfkit-export");
  if (!box) { return; }
  var url = box.getAttribute("data-progress-url");
  function show(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function poll() {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (job) {
      show("perfkit-export-status", job.status);
      show("perfkit-export-rows", job.rows_done);
      show("perfkit-export-total", job.rows_total === null ? "?" : job.rows_total);
      var bar = document.getElementById("perfkit-export-bar");
      if (bar && job.percent !== null) { bar.value = job.percent; }
      var stalled = document.getElementById("perfkit-export-stalled");
      if (stalled) {
        stalled.hidden = !job.stalled_seconds;
        stalled.textContent = job.stalled_seconds ? "stalled: no heartbeat for " + job.stalled_seconds + " s" : "";
      }
      if (job.error) { var e = document.getElementById("perfkit-export-error"); e.hidden = false; e.textContent = job.error; }
      if (job.finished) {
        if (job.status === "succeeded") { document.getElementById("perfkit-export-download").hidden = false; }
        return;
      }
      window.setTimeout(poll, 1000);
    }).catch(function () { window.setTimeout(poll, 5000); });
  }
  poll();
}());
