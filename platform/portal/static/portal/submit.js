/* The submit page: collect dropped or chosen files, prefill sex and age from the first DICOM header, then send
   each file (or a zip, or the DICOM files as one series) with XMLHttpRequest, whose upload progress drives a bar
   per file. Errors come back as the API's problem JSON; `message` is the plain-language sentence shown. */
(function () {
  "use strict";
  var form = document.getElementById("submit-form");
  if (!form) return;
  var t = JSON.parse(document.getElementById("submit-i18n").textContent);
  var input = document.getElementById("id_files");
  var zone = form.querySelector("[data-dropzone]");
  var list = form.querySelector("[data-file-list]");
  var empty = form.querySelector("[data-empty]");
  var seriesNote = form.querySelector("[data-series-note]");
  var modelSelect = document.getElementById("id_model");
  var formError = form.querySelector("[data-form-error]");
  var note = form.querySelector("[data-prefill-note]");
  var template = document.getElementById("file-item-template");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var items = [];
  var prefilled = false;

  function isZip(file) { return /\.zip$/i.test(file.name) || file.type === "application/zip"; }
  function isPlainImage(file) { return /\.(png|jpe?g)$/i.test(file.name) || /^image\/(png|jpeg)$/.test(file.type); }

  function setState(item, state, label) {
    var pill = item.el.querySelector("[data-state]");
    pill.className = "pill status-" + state;
    pill.textContent = label;
    item.el.classList.toggle("failed", state === "failed");
    item.el.classList.toggle("done", state === "succeeded" || state === "queued-done");
  }

  function addFiles(files) {
    formError.hidden = true;
    Array.prototype.forEach.call(files, function (file) {
      var el = template.content.firstElementChild.cloneNode(true);
      el.querySelector("[data-name]").textContent = file.name;
      var item = { file: file, el: el, sent: false };
      list.appendChild(el);
      items.push(item);
      if (file.size > maxBytes) { item.sent = true; setState(item, "failed", t.failed); el.querySelector("[data-msg]").textContent = t.too_large; }
      if (!prefilled && !isZip(file) && !isPlainImage(file) && window.readDicomPatient) {
        window.readDicomPatient(file, function (found) { if (found && !prefilled) prefill(found, file.name); });
      }
    });
    empty.hidden = items.length > 0;
    updateSeriesNote();
  }

  // Series assessments (catalogue input_kind "series") take every DICOM file as one submission; image
  // assessments take one file each.
  function seriesModel() {
    var option = modelSelect.options[modelSelect.selectedIndex];
    return option && option.getAttribute("data-input-kind") === "series";
  }
  function updateSeriesNote() {
    var dicomCount = items.filter(function (i) { return !i.sent && !isZip(i.file) && !isPlainImage(i.file); }).length;
    seriesNote.hidden = !(seriesModel() && dicomCount > 1);
  }
  modelSelect.addEventListener("change", updateSeriesNote);

  function prefill(found, name) {
    if (found.sex === null && found.ageMonths === null) return;
    prefilled = true;
    if (found.sex) { document.getElementById(found.sex === "F" ? "sex-f" : "sex-m").checked = true; }
    if (found.ageMonths !== null) {
      var total = Math.round(found.ageMonths);
      document.getElementById("id_age_years").value = Math.floor(total / 12);
      document.getElementById("id_age_months").value = total % 12;
    }
    note.textContent = t.prefilled + " " + name + ".";
  }

  zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
  });
  input.addEventListener("change", function () { addFiles(input.files); input.value = ""; });

  function ageMonths() {
    var years = document.getElementById("id_age_years").value, months = document.getElementById("id_age_months").value;
    if (years === "" && months === "") return "";
    return String((parseInt(years || "0", 10) * 12) + parseInt(months || "0", 10));
  }

  function send(group) {
    return new Promise(function (resolve) {
      var data = new FormData();
      group.forEach(function (item) { data.append("files", item.file, item.file.name); });
      ["model", "priority"].forEach(function (name) {
        var field = form.querySelector("[name=" + name + "]:checked") || form.querySelector("select[name=" + name + "]");
        data.append(name, field ? field.value : "");
      });
      var sex = form.querySelector("input[name=patient_sex]:checked");
      data.append("patient_sex", sex ? sex.value : "");
      data.append("chronological_age_months", ageMonths());
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action"));
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      group.forEach(function (item) { item.sent = true; setState(item, "running", t.uploading); });
      xhr.upload.onprogress = function (e) {
        if (!e.lengthComputable) return;
        group.forEach(function (item) { item.el.querySelector("[data-progress]").value = Math.round(100 * e.loaded / e.total); });
      };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        group.forEach(function (item) {
          var msg = item.el.querySelector("[data-msg]");
          msg.textContent = "";
          if (xhr.status === 200 || xhr.status === 202) {
            item.el.querySelector("[data-progress]").value = 100;
            setState(item, "succeeded", body.duplicate ? t.duplicate : t.queued);
            var link = document.createElement("a");
            link.href = body.url;
            link.textContent = t.open + " →";
            link.setAttribute("data-assessment-link", body.id);
            msg.appendChild(link);
          } else {
            setState(item, "failed", t.failed);
            msg.textContent = body.message || t.network;
            if (body.code) msg.setAttribute("data-code", body.code);
          }
        });
        resolve();
      };
      xhr.onerror = function () {
        group.forEach(function (item) { setState(item, "failed", t.failed); item.el.querySelector("[data-msg]").textContent = t.network; });
        resolve();
      };
      xhr.send(data);
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var pending = items.filter(function (i) { return !i.sent; });
    if (!pending.length) { formError.textContent = t.no_files; formError.hidden = false; return; }
    formError.hidden = true;
    var asSeries = seriesModel();
    var groups = [];
    var dicoms = pending.filter(function (i) { return !isZip(i.file) && !isPlainImage(i.file); });
    if (asSeries && dicoms.length > 1) {
      groups.push(dicoms);
      pending.filter(function (i) { return dicoms.indexOf(i) < 0; }).forEach(function (i) { groups.push([i]); });
    } else {
      pending.forEach(function (i) { groups.push([i]); });
    }
    var button = form.querySelector("[data-send]");
    button.disabled = true;
    // One upload at a time: a radiograph is tens of megabytes, and parallel uploads only share the same link.
    groups.reduce(function (chain, group) { return chain.then(function () { return send(group); }); }, Promise.resolve())
      .then(function () { button.disabled = false; });
  });
})();
