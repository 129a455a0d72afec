/* Result viewer: the radiograph on a canvas with window/level, and the model's overlays on a second canvas.

   Window/level is applied here, in the browser, to the grayscale PNG the server rendered from the DICOM (with the
   file's own window already applied): changing it is instant and needs no new request, and each request for the
   image is an audited download. Overlays (docs/catalogue.md, result["overlays"]): "heatmap" (a grid of values in
   [0, 1] over the whole image), "boxes" ([x0, y0, x1, y1] in source pixels), "mask" (an artifact the server
   renders as a transparent PNG, or an inline grid of labels) and "points". */
(function () {
  "use strict";
  // A result still queued or running: ask the worklist's state endpoint until it is finished, then show it.
  var pending = document.querySelector("[data-pending]");
  if (pending) {
    var wait = parseInt(pending.getAttribute("data-poll-ms"), 10) || 3000;
    var check = function () {
      var xhr = new XMLHttpRequest();
      xhr.open("GET", pending.getAttribute("data-states-url"));
      xhr.onload = function () {
        var rows = xhr.status === 200 ? JSON.parse(xhr.responseText).results : [];
        if (rows.length && (rows[0].status === "succeeded" || rows[0].status === "failed")) { window.location.reload(); return; }
        window.setTimeout(check, wait);
      };
      xhr.onerror = function () { window.setTimeout(check, wait * 4); };
      xhr.send();
    };
    window.setTimeout(check, wait);
  }
  var viewer = document.querySelector("[data-viewer]");
  if (!viewer) return;
  var canvas = viewer.querySelector("[data-image]");
  var overlay = viewer.querySelector("[data-overlay]");
  var level = document.querySelector("[data-level]");
  var width = document.querySelector("[data-width]");
  var invertButton = document.querySelector("[data-invert]");
  var toggle = document.querySelector("[data-overlay-toggle]");
  var opacity = document.querySelector("[data-opacity]");
  var readout = document.querySelector("[data-wl-readout]");
  var overlays = JSON.parse(document.getElementById("overlays-data").textContent || "[]");
  var artifacts = JSON.parse(document.getElementById("artifacts-data").textContent || "[]");
  var sourceColumns = parseFloat(viewer.getAttribute("data-columns")) || 0;
  var sourceRows = parseFloat(viewer.getAttribute("data-rows")) || 0;
  var original = null;
  var inverted = false;
  var ctx = canvas.getContext("2d");

  function render() {
    if (!original) return;
    var L = parseFloat(level.value), W = Math.max(1, parseFloat(width.value));
    var low = L - W / 2, out = ctx.createImageData(original.width, original.height);
    var src = original.data, dst = out.data;
    var lut = new Uint8ClampedArray(256);
    for (var v = 0; v < 256; v++) {
      var g = ((v - low) / W) * 255;
      lut[v] = inverted ? 255 - g : g;
    }
    for (var i = 0; i < src.length; i += 4) {
      var value = lut[src[i]];
      dst[i] = value; dst[i + 1] = value; dst[i + 2] = value; dst[i + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    readout.textContent = "L " + Math.round(L) + " · W " + Math.round(W) + (inverted ? " · inv" : "");
  }

  function heatColour(value, alpha) {
    // Transparent blue through yellow to red: the hottest cells draw the eye, cold ones stay invisible.
    var v = Math.max(0, Math.min(1, value));
    var r = Math.round(255 * Math.min(1, 2 * v)), gr = Math.round(255 * Math.min(1, 2 * (1 - v))), b = Math.round(80 * (1 - v));
    return "rgba(" + r + "," + gr + "," + b + "," + (alpha * v).toFixed(3) + ")";
  }

  function gridOf(item) { return item.grid || item.values || item.data || null; }

  function drawOverlays() {
    var o = overlay.getContext("2d");
    o.clearRect(0, 0, overlay.width, overlay.height);
    overlay.style.opacity = opacity ? opacity.value / 100 : 0.6;
    overlay.hidden = toggle && !toggle.checked;
    var scale = sourceColumns ? overlay.width / sourceColumns : 1;
    var drawn = 0;
    var pending = [];
    overlays.forEach(function (item) {
      var grid = gridOf(item);
      if ((item.kind === "heatmap" || item.kind === "mask") && grid && grid.length) {
        var rows = grid.length, cols = grid[0].length;
        // The grid covers the whole image, or with frame "letterbox" the square the model saw: the image scaled
        // to fit and centred on padding (studies.imaging.preprocess_bone_age), so cells over padding fall outside.
        var fx = 0, fy = 0, fw = overlay.width, fh = overlay.height;
        if (item.frame === "letterbox" && sourceColumns && sourceRows) {
          var side = Math.max(sourceColumns, sourceRows) * scale;
          fx = (overlay.width - side) / 2; fy = (overlay.height - side) / 2; fw = fh = side;
        }
        var cw = fw / cols, ch = fh / rows;
        for (var r = 0; r < rows; r++) for (var c = 0; c < cols; c++) {
          var value = grid[r][c];
          if (!value) continue;
          o.fillStyle = item.kind === "heatmap" ? heatColour(value, 1) : "rgba(0,114,178,0.7)";
          o.fillRect(fx + c * cw, fy + r * ch, Math.ceil(cw), Math.ceil(ch));
        }
        drawn += 1;
      } else if (item.kind === "boxes") {
        (item.boxes || []).forEach(function (box) {
          var b = box.box || box;
          o.lineWidth = Math.max(2, overlay.width / 300);
          o.strokeStyle = "#ffbf47";
          o.strokeRect(b[0] * scale, b[1] * scale, (b[2] - b[0]) * scale, (b[3] - b[1]) * scale);
          var label = (box.label || "") + (box.score !== undefined ? " " + Math.round(box.score * 100) + "%" : "");
          if (label.trim()) {
            o.font = Math.max(12, overlay.width / 60) + "px system-ui, sans-serif";
            o.fillStyle = "#ffbf47";
            o.fillText(label.trim(), b[0] * scale, Math.max(12, b[1] * scale - 4));
          }
        });
        drawn += 1;
      } else if (item.kind === "points") {
        (item.points || []).forEach(function (p) {
          o.fillStyle = "#ffbf47";
          o.beginPath();
          o.arc(p.x * scale, p.y * scale, Math.max(4, overlay.width / 150), 0, 2 * Math.PI);
          o.fill();
        });
        drawn += 1;
      } else if (item.artifact) {
        pending.push(item.artifact);
      }
    });
    // Artifacts (masks, heat maps) are rendered by the server as transparent PNGs of the image's size.
    var names = pending.length ? pending : (overlays.length ? [] : artifacts.map(function (a) { return a.name; }));
    names.forEach(function (name) {
      var artifact = artifacts.filter(function (a) { return a.name === name; })[0];
      if (!artifact) return;
      var img = new Image();
      img.onload = function () {
        o.drawImage(img, 0, 0, overlay.width, overlay.height);
        overlay.setAttribute("data-drawn", String(parseInt(overlay.getAttribute("data-drawn") || "0", 10) + 1));
      };
      img.src = artifact.url;
    });
    overlay.setAttribute("data-drawn", String(drawn));
  }

  var image = new Image();
  image.onload = function () {
    canvas.width = overlay.width = image.naturalWidth;
    // Small images (an MR frame is often 128-256 px) are shown at least 480 px wide, aspect kept; larger ones fit.
    if (image.naturalWidth < 480) canvas.style.width = "480px";
    canvas.height = overlay.height = image.naturalHeight;
    ctx.drawImage(image, 0, 0);
    original = ctx.getImageData(0, 0, canvas.width, canvas.height);
    render();
    drawOverlays();
    viewer.setAttribute("data-ready", "1");
  };
  image.onerror = function () { viewer.setAttribute("data-ready", "error"); readout.textContent = "—"; };
  image.src = viewer.getAttribute("data-src");

  [level, width].forEach(function (el) { el.addEventListener("input", render); });
  document.querySelector("[data-wl-reset]").addEventListener("click", function () {
    level.value = 128; width.value = 256; inverted = false; invertButton.setAttribute("aria-pressed", "false"); render();
  });
  invertButton.addEventListener("click", function () {
    inverted = !inverted; invertButton.setAttribute("aria-pressed", String(inverted)); render();
  });
  if (toggle) toggle.addEventListener("change", drawOverlays);
  if (opacity) opacity.addEventListener("input", function () { overlay.style.opacity = opacity.value / 100; });

  // Drag on the image like a PACS viewer: horizontal changes the width, vertical the level.
  var drag = null;
  viewer.addEventListener("pointerdown", function (e) {
    drag = { x: e.clientX, y: e.clientY, L: parseFloat(level.value), W: parseFloat(width.value) };
    viewer.setPointerCapture(e.pointerId);
  });
  viewer.addEventListener("pointermove", function (e) {
    if (!drag) return;
    width.value = Math.max(1, Math.min(512, drag.W + (e.clientX - drag.x)));
    level.value = Math.max(0, Math.min(255, drag.L - (e.clientY - drag.y) / 2));
    render();
  });
  ["pointerup", "pointercancel"].forEach(function (name) { viewer.addEventListener(name, function () { drag = null; }); });
})();
