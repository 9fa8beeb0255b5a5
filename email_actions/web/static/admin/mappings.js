// The mappings editor's pickers: when an entity's object changes, its field pickers are filled with that
// object's fields (from the org's describe, through the console). Without this script the page still works:
// saving with a new object shows that object's fields on the next page.
// Also: a problem's "line N" link selects that line in the YAML editor.
(function () {
  "use strict";

  var form = document.getElementById("fields-form");

  function option(value, text, selected) {
    var element = document.createElement("option");
    element.value = value;
    element.textContent = text;
    if (selected) {
      element.selected = true;
    }
    return element;
  }

  function refill(select, data, objectName) {
    var current = select.value;
    var fits = data.accepts[select.dataset.type] || [];
    var names = data.fields.map(function (f) { return f.name; });
    select.textContent = "";
    if (select.dataset.optional) {
      select.appendChild(option("", "— not mapped —", !current));
    }
    if (current && names.indexOf(current) === -1) {
      var kept = document.createElement("optgroup");
      kept.label = "Current";
      var kind = current.indexOf(".") !== -1 ? "relationship path" : "not a field of " + objectName;
      kept.appendChild(option(current, current + " (" + kind + ")", true));
      select.appendChild(kept);
    }
    var groups = [
      ["Fields that fit a " + select.dataset.type, function (f) { return fits.indexOf(f.type) !== -1; }],
      ["Other fields (need a transform, or do not fit)", function (f) { return fits.indexOf(f.type) === -1; }]
    ];
    groups.forEach(function (group) {
      var matching = data.fields.filter(group[1]);
      if (!matching.length) {
        return;
      }
      var element = document.createElement("optgroup");
      element.label = group[0];
      matching.forEach(function (f) {
        element.appendChild(option(f.name, f.name + " — " + f.label + " (" + f.type + ")", f.name === current));
      });
      select.appendChild(element);
    });
  }

  function objectChanged(event) {
    var picker = event.target;
    var entity = picker.dataset.entity;
    var status = document.getElementById("status-" + entity);
    var url = form.dataset.fieldsUrl.replace("__OBJECT__", encodeURIComponent(picker.value));
    status.textContent = "Reading the fields of " + picker.value + "…";
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.error) {
          status.textContent = "Could not read the fields: " + data.error;
          return;
        }
        form.querySelectorAll('select.mapping-field[data-entity="' + entity + '"]').forEach(function (select) {
          refill(select, data, picker.value);
        });
        status.textContent = "Fields of " + picker.value + " listed.";
      })
      .catch(function () {
        status.textContent = "Could not read the fields of " + picker.value + ".";
      });
  }

  if (form) {
    form.querySelectorAll("select.mapping-object").forEach(function (picker) {
      picker.addEventListener("change", objectChanged);
    });
  }

  var editor = document.getElementById("yaml-text");
  document.querySelectorAll("a.mapping-line").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (!editor) {
        return;
      }
      event.preventDefault();
      var wanted = parseInt(link.dataset.line, 10);
      var lines = editor.value.split("\n");
      var start = 0;
      for (var i = 0; i < wanted - 1 && i < lines.length; i += 1) {
        start += lines[i].length + 1;
      }
      var end = start + (lines[wanted - 1] || "").length;
      editor.focus();
      editor.setSelectionRange(start, end);
      var lineHeight = editor.scrollHeight / Math.max(lines.length, 1);
      editor.scrollTop = Math.max(0, (wanted - 5) * lineHeight);
    });
  });
})();
