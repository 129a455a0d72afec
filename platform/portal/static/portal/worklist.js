/* Live worklist: poll a small JSON endpoint for the workflow state of the rows on the page.

   Polling (not server-sent events or websockets) on purpose: a few hundred bytes every few seconds work through
   every hospital proxy and gunicorn's sync workers, and a missed poll heals itself on the next one. The endpoint
   answers workflow state only (status, critical flag), never clinical values. Polling slows down while the tab
   is hidden and stops once every row on the page is finished and nothing new has arrived for a while. */
(function () {
  "use strict";
  var table = document.querySelector("table[data-worklist]");
  if (!table) return;
  var url = table.getAttribute("data-states-url");
  var interval = parseInt(table.getAttribute("data-poll-ms"), 10) || 3000;
  var newest = table.getAttribute("data-newest") || "";
  var indicator = document.querySelector("[data-live-indicator]");
  var newer = document.querySelector("[data-newer]");
  var labels = { open: table.getAttribute("data-label-open"), critical: table.getAttribute("data-label-critical") };
  var failures = 0;
  var timer = null;
  var inFlight = false;

  function rows() { return Array.prototype.slice.call(table.querySelectorAll("tr[data-assessment]")); }

  function apply(state) {
    var row = table.querySelector('tr[data-assessment="' + state.id + '"]');
    if (!row || row.getAttribute("data-status") === state.status) return;
    row.setAttribute("data-status", state.status);
    var pill = row.querySelector("[data-status-pill]");
    pill.className = "pill status-" + state.status;
    pill.textContent = state.status_display;
    if (state.is_critical && !row.querySelector("[data-critical]")) {
      row.classList.add("is-critical");
      var flag = document.createElement("span");
      flag.className = "pill flag-critical";
      flag.setAttribute("data-critical", "");
      flag.textContent = labels.critical;
      pill.parentNode.appendChild(document.createTextNode(" "));
      pill.parentNode.appendChild(flag);
    }
    var cell = row.querySelector("[data-result]");
    if (state.status === "succeeded") {
      var link = row.querySelector("[data-open]").cloneNode(false);
      link.textContent = labels.open + " →";
      link.removeAttribute("data-open");
      cell.textContent = "";
      cell.appendChild(link);
    } else if (state.status === "failed") {
      cell.innerHTML = "";
      var err = document.createElement("span");
      err.className = "error-text";
      err.textContent = state.error_code;
      cell.appendChild(err);
    }
  }

  function poll() {
    if (inFlight) return;
    inFlight = true;
    var pending = rows().filter(function (r) {
      var s = r.getAttribute("data-status");
      return s === "queued" || s === "running";
    }).map(function (r) { return r.getAttribute("data-assessment"); });
    var query = "?ids=" + encodeURIComponent(pending.join(",")) + "&since=" + encodeURIComponent(newest);
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url + query);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      inFlight = false;
      if (xhr.status !== 200) { return fail(); }
      failures = 0;
      if (indicator) indicator.classList.remove("stale");
      var body = JSON.parse(xhr.responseText);
      body.results.forEach(apply);
      if (newer && body.newer > 0) newer.hidden = false;
      schedule();
    };
    xhr.onerror = fail;
    xhr.send();
  }

  function fail() {
    inFlight = false;
    failures += 1;
    if (indicator) indicator.classList.add("stale");
    schedule();
  }

  function schedule() {
    // Back off while hidden or failing (at most one poll a minute), so idle tabs cost almost nothing.
    var wait = interval * Math.min(20, (document.hidden ? 10 : 1) * Math.pow(2, failures));
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, wait);
  }

  document.addEventListener("visibilitychange", function () { if (!document.hidden) { window.clearTimeout(timer); poll(); } });
  schedule();
})();
