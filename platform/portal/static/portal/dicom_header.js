/* Read a DICOM file's patient sex and age in the browser, so the submit form can be prefilled without sending
   the file anywhere first (nothing is stored or uploaded by this). Only the first 256 KiB are read: the patient
   module (group 0010) comes long before the pixel data. Handles Part 10 files in explicit or implicit VR little
   endian, including sequences of undefined length; anything else simply yields no prefill. */
(function (global) {
  "use strict";
  var LONG_VRS = { OB: 1, OD: 1, OF: 1, OL: 1, OV: 1, OW: 1, SQ: 1, SV: 1, UC: 1, UN: 1, UR: 1, UT: 1, UV: 1 };
  var UNDEFINED = 0xffffffff;

  function Reader(view, explicit) { this.v = view; this.explicit = explicit; }

  Reader.prototype.element = function (pos) {
    var v = this.v;
    if (pos + 8 > v.byteLength) return null;
    var group = v.getUint16(pos, true), elem = v.getUint16(pos + 2, true), vr = "", len, header;
    if (group === 0xfffe) { return { group: group, elem: elem, vr: "", len: v.getUint32(pos + 4, true), start: pos + 8 }; }
    if (this.explicit) {
      vr = String.fromCharCode(v.getUint8(pos + 4), v.getUint8(pos + 5));
      if (LONG_VRS[vr]) { if (pos + 12 > v.byteLength) return null; len = v.getUint32(pos + 8, true); header = 12; }
      else { len = v.getUint16(pos + 6, true); header = 8; }
    } else { len = v.getUint32(pos + 4, true); header = 8; }
    return { group: group, elem: elem, vr: vr, len: len, start: pos + header };
  };

  // Skip a sequence or item of undefined length: walk nested items until the matching delimiter.
  Reader.prototype.skipUndefined = function (pos) {
    var depth = 1;
    while (pos + 8 <= this.v.byteLength) {
      var e = this.element(pos);
      if (!e) return -1;
      if (e.group === 0xfffe && (e.elem === 0xe0dd || e.elem === 0xe00d)) { depth -= 1; pos = e.start; if (depth === 0) return pos; continue; }
      if (e.group === 0xfffe && e.elem === 0xe000) { if (e.len === UNDEFINED) { depth += 1; pos = e.start; } else { pos = e.start + e.len; } continue; }
      if (e.len === UNDEFINED) { depth += 1; pos = e.start; continue; }
      pos = e.start + e.len;
    }
    return -1;
  };

  function text(view, start, len) {
    var out = "";
    for (var i = 0; i < len && start + i < view.byteLength; i++) out += String.fromCharCode(view.getUint8(start + i));
    return out.replace(/[\0\s]+$/, "").trim();
  }

  function ageMonths(value) {
    var m = /^(\d{3})([DWMY])$/.exec(value || "");
    if (!m) return null;
    var n = parseInt(m[1], 10);
    return { D: n / 30.4375, W: n * 7 / 30.4375, M: n, Y: n * 12 }[m[2]];
  }

  function monthsBetween(birth, study) {
    var b = /^(\d{4})(\d{2})(\d{2})$/.exec(birth || ""), s = /^(\d{4})(\d{2})(\d{2})$/.exec(study || "");
    if (!b || !s) return null;
    var months = (parseInt(s[1], 10) - parseInt(b[1], 10)) * 12 + (parseInt(s[2], 10) - parseInt(b[2], 10))
      + (parseInt(s[3], 10) - parseInt(b[3], 10)) / 30.4375;
    return months >= 0 ? months : null;
  }

  function parse(buffer) {
    var view = new DataView(buffer);
    if (view.byteLength < 140 || text(view, 128, 4) !== "DICM") return null;
    var pos = 132, transfer = "";
    var meta = new Reader(view, true);
    while (pos + 8 <= view.byteLength) {          // file meta: always explicit VR little endian
      var e = meta.element(pos);
      if (!e || e.group !== 0x0002) break;
      if (e.elem === 0x0010) transfer = text(view, e.start, e.len);
      pos = e.start + e.len;
    }
    if (transfer === "1.2.840.10008.1.2.2") return null;  // big endian: retired, not worth the code
    var reader = new Reader(view, transfer !== "1.2.840.10008.1.2");
    var found = {};
    while (pos + 8 <= view.byteLength) {
      var el = reader.element(pos);
      if (!el) break;
      var tag = el.group * 0x10000 + el.elem;
      if (tag > 0x00101010) break;                   // past Patient's Age: nothing more we need
      if (el.len === UNDEFINED) { pos = reader.skipUndefined(el.start); if (pos < 0) break; continue; }
      if (tag === 0x00080020) found.studyDate = text(view, el.start, el.len);
      else if (tag === 0x00100030) found.birthDate = text(view, el.start, el.len);
      else if (tag === 0x00100040) found.sex = text(view, el.start, el.len).toUpperCase();
      else if (tag === 0x00101010) found.age = text(view, el.start, el.len);
      pos = el.start + el.len;
    }
    var months = ageMonths(found.age);
    if (months === null) months = monthsBetween(found.birthDate, found.studyDate);
    return { sex: found.sex === "M" || found.sex === "F" ? found.sex : null, ageMonths: months };
  }

  /** Calls back with {sex: "M"|"F"|null, ageMonths: number|null}, or null when the file is not readable DICOM. */
  global.readDicomPatient = function (file, callback) {
    var reader = new FileReader();
    reader.onload = function () { try { callback(parse(reader.result)); } catch (err) { callback(null); } };
    reader.onerror = function () { callback(null); };
    reader.readAsArrayBuffer(file.slice(0, 256 * 1024));
  };
})(window);
