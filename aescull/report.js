// aescull report: filter by score range and re-sort the tiles already in the page.
// The view lives in the address's #fragment (e.g. #sort=name&min=0.5), so it can be bookmarked.
(function () {
  "use strict";
  var grid = document.getElementById("grid");
  var tiles = Array.prototype.slice.call(grid.children);
  var sort = document.getElementById("sort");
  var low = document.getElementById("min");
  var high = document.getElementById("max");
  var failed = document.getElementById("failed");
  var shown = document.getElementById("shown");
  var range = document.getElementById("hist-range");
  var rangeX = range ? +range.getAttribute("x") : 0;
  var rangeW = range ? +range.getAttribute("width") : 0;
  var rows = tiles.map(function (tile, index) {
    var d = tile.dataset;
    return {
      tile: tile,
      index: index,
      score: d.score === undefined ? null : +d.score,
      best: d.best === undefined ? null : +d.best,
      group: d.group || "",
      name: d.name || "",
      time: d.t === undefined ? null : +d.t
    };
  });

  function byScore(a, b) {
    // The same order as the report was written in: a group sits at the place of its best shot.
    if ((a.score === null) !== (b.score === null)) return a.score === null ? 1 : -1;
    if (a.score === null) return a.index - b.index;
    return b.best - a.best || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0) || b.score - a.score || a.index - b.index;
  }
  var orders = {
    score: byScore,
    worst: function (a, b) {
      if (a.score === null || b.score === null) return byScore(a, b);  // failed files stay last either way
      return -byScore(a, b);
    },
    name: function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : a.index - b.index; },
    time: function (a, b) {
      if ((a.time === null) !== (b.time === null)) return a.time === null ? 1 : -1;
      return a.time - b.time || a.index - b.index;
    }
  };

  function number(input, fallback) {
    var value = parseFloat(input.value);
    return isNaN(value) ? fallback : value;
  }

  function apply() {
    var lo = number(low, 0), hi = number(high, 1), withFailed = failed.checked;
    var order = orders[sort.value] || byScore;
    var fragment = document.createDocumentFragment();
    var count = 0;
    rows.slice().sort(order).forEach(function (row) {
      var visible = row.score === null ? withFailed : row.score >= lo && row.score <= hi;
      row.tile.hidden = !visible;
      count += visible ? 1 : 0;
      fragment.appendChild(row.tile);
    });
    grid.appendChild(fragment);
    shown.textContent = count + " of " + rows.length + " shown";
    if (range) {
      var a = Math.max(0, Math.min(1, lo)), b = Math.max(a, Math.min(1, hi));
      range.setAttribute("x", rangeX + a * rangeW);
      range.setAttribute("width", (b - a) * rangeW);
    }
    var state = "sort=" + sort.value + "&min=" + lo + "&max=" + hi + (withFailed ? "" : "&failed=0");
    if (history.replaceState) history.replaceState(null, "", "#" + state);
  }

  function restore() {
    location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
      var parts = pair.split("="), key = decodeURIComponent(parts[0] || ""), value = decodeURIComponent(parts[1] || "");
      if (key === "sort" && orders[value]) sort.value = value;
      if (key === "min") low.value = value;
      if (key === "max") high.value = value;
      if (key === "failed") failed.checked = value !== "0";
    });
  }

  [sort, low, high, failed].forEach(function (control) {
    control.addEventListener("input", apply);
    control.addEventListener("change", apply);
  });
  if (location.hash.length > 1) {
    restore();
    apply();
  } else {
    shown.textContent = rows.length + " of " + rows.length + " shown";
  }
})();
