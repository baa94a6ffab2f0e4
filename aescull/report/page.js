// aescull report: filter by score range, re-sort, and page through the tiles already in the page.
// Only one page of tiles is laid out at a time (the rest are hidden), so a 5,000-photo report
// scrolls like a small one. The view lives in the address's #fragment
// (e.g. #sort=name&min=0.5&page=2), so it can be bookmarked.
(function () {
  "use strict";
  var grid = document.getElementById("grid");
  var tiles = Array.prototype.slice.call(grid.children);
  var sort = document.getElementById("sort");
  var low = document.getElementById("min");
  var high = document.getElementById("max");
  var failed = document.getElementById("failed");
  var shown = document.getElementById("shown");
  var pagers = Array.prototype.slice.call(document.querySelectorAll(".pager"));
  var range = document.getElementById("hist-range");
  var rangeX = range ? +range.getAttribute("x") : 0;
  var rangeW = range ? +range.getAttribute("width") : 0;
  var pageSize = +grid.getAttribute("data-page-size") || tiles.length || 1;
  var rows = tiles.map(function (tile, index) {
    var d = tile.dataset;
    return {
      tile: tile,
      index: index,
      score: d.score === undefined ? null : +d.score,
      best: d.best === undefined ? null : +d.best,
      group: d.group || "",
      name: d.name || "",
      time: d.t === undefined ? null : +d.t,
      verdict: d.verdict === undefined ? 3 : +d.verdict  // 0 pick, 1 keep, 2 reject, 3 none (failed)
    };
  });
  var matching = rows.slice();  // the filtered rows, in display order
  var onPage = rows.slice(0, pageSize);
  var page = 0;

  function byScore(a, b) {
    // The same order as the report was written in: a group sits at the place of its best shot.
    if ((a.score === null) !== (b.score === null)) return a.score === null ? 1 : -1;
    if (a.score === null) return a.index - b.index;
    return b.best - a.best || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0) || b.score - a.score || a.index - b.index;
  }
  var orders = {
    score: byScore,
    verdict: function (a, b) { return a.verdict - b.verdict || byScore(a, b); },  // as the report was written, with verdicts
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

  function pages() {
    return Math.max(1, Math.ceil(matching.length / pageSize));
  }

  function showPage() {
    page = Math.max(0, Math.min(page, pages() - 1));
    onPage.forEach(function (row) { row.tile.hidden = true; });
    onPage = matching.slice(page * pageSize, (page + 1) * pageSize);
    onPage.forEach(function (row) { row.tile.hidden = false; });
    var first = matching.length ? page * pageSize + 1 : 0;
    var text = first + "–" + (page * pageSize + onPage.length) + " of " + matching.length + " · page " + (page + 1) + " of " + pages();
    pagers.forEach(function (pager) {
      pager.hidden = pages() < 2;
      pager.querySelector(".range").textContent = text;
      pager.querySelector(".prev").disabled = page === 0;
      pager.querySelector(".next").disabled = page >= pages() - 1;
    });
  }

  function remember() {
    var state = "sort=" + sort.value + "&min=" + number(low, 0) + "&max=" + number(high, 1) +
      (failed.checked ? "" : "&failed=0") + (page ? "&page=" + (page + 1) : "");
    if (history.replaceState) history.replaceState(null, "", "#" + state);
  }

  function apply() {
    var lo = number(low, 0), hi = number(high, 1), withFailed = failed.checked;
    var sorted = rows.slice().sort(orders[sort.value] || byScore);
    var fragment = document.createDocumentFragment();
    sorted.forEach(function (row) {
      row.tile.hidden = true;
      fragment.appendChild(row.tile);
    });
    grid.appendChild(fragment);
    matching = sorted.filter(function (row) {
      return row.score === null ? withFailed : row.score >= lo && row.score <= hi;
    });
    onPage = [];
    showPage();
    shown.textContent = matching.length + " of " + rows.length + " shown";
    if (range) {
      var a = Math.max(0, Math.min(1, lo)), b = Math.max(a, Math.min(1, hi));
      range.setAttribute("x", rangeX + a * rangeW);
      range.setAttribute("width", (b - a) * rangeW);
    }
  }

  function turn(by, pager) {
    page += by;
    showPage();
    remember();
    if (pager.id === "pager-bottom") grid.scrollIntoView();
  }

  function restore() {
    location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
      var parts = pair.split("="), key = decodeURIComponent(parts[0] || ""), value = decodeURIComponent(parts[1] || "");
      if (key === "sort" && orders[value]) sort.value = value;
      if (key === "min") low.value = value;
      if (key === "max") high.value = value;
      if (key === "failed") failed.checked = value !== "0";
      if (key === "page") page = Math.max(0, (parseInt(value, 10) || 1) - 1);
    });
  }

  [sort, low, high, failed].forEach(function (control) {
    function changed() {
      page = 0;
      apply();
      remember();
    }
    control.addEventListener("input", changed);
    control.addEventListener("change", changed);
  });
  pagers.forEach(function (pager) {
    pager.querySelector(".prev").addEventListener("click", function () { turn(-1, pager); });
    pager.querySelector(".next").addEventListener("click", function () { turn(1, pager); });
  });
  if (location.hash.length > 1) {
    restore();
    apply();
  } else {
    showPage();
    shown.textContent = rows.length + " of " + rows.length + " shown";
  }
})();
