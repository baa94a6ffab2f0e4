// aescull review: the grid, the loupe and the burst compare, driven by the keyboard.
// Every decision is shown at once and sent to the server one at a time, in the order made
// (two quick keys on one shot must land in that order); the server's answer, read back from
// the sidecars, is what the tile shows in the end. The grid shows one page of shots at a time,
// so 5,000 photos lay out like 200. No row text ever becomes markup: names go in as text.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="aescull-token"]').content;
  var auth = "token=" + encodeURIComponent(token);
  var $ = function (id) { return document.getElementById(id); };
  var grid = $("grid"), statusLine = $("status"), pager = $("pager");
  var controls = { group: $("group"), sort: $("sort"), decision: $("decision"), reason: $("reason"), verdict: $("verdict") };
  var loupe = $("loupe"), loupeImage = $("loupe-image"), loupeCaption = $("loupe-caption");
  var compare = $("compare"), comparePanels = $("compare-panels"), compareCaption = $("compare-caption");
  var applyButton = $("apply");

  var shots = [], byId = {}, states = {}, library = null;
  var order = [], page = 0, pageSize = 200, current = null;  // current: the shot the keys act on
  var tiles = {};  // id -> tile element, for the shots on the page
  var pending = {};  // id -> decisions sent and not answered yet
  var queue = Promise.resolve();
  var focusOf = {};  // id -> promise of {width, height, x, y, sharpest}
  var loupeView = null;  // {shot, focus, cx, cy}
  var compareView = null;  // {members, index, full}

  function get(path) {
    return fetch(path + (path.indexOf("?") < 0 ? "?" : "&") + auth).then(function (response) {
      if (!response.ok) return response.text().then(function (text) { throw new Error(text); });
      return response.json();
    });
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json", "X-Aescull-Token": token }, body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) return response.text().then(function (text) { throw new Error(text); });
      return response.json();
    });
  }

  function say(text, failure) {
    statusLine.textContent = text;
    statusLine.className = failure ? "failure" : "";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- what is shown, in which order ----

  function visible(shot) {
    var state = states[shot.id];
    if (state.gone) return false;
    if (controls.decision.value && state.flag !== controls.decision.value) return false;
    var reason = controls.reason.value;
    if (reason === "flagged" && !shot.reasons.length) return false;
    if (reason === "none" && shot.reasons.length) return false;
    if (reason && reason !== "flagged" && reason !== "none" && shot.reasons.indexOf(reason) < 0) return false;
    if (controls.verdict.value && shot.verdict !== controls.verdict.value) return false;
    return true;
  }

  var sorts = {
    score: function (a, b) { return b.score - a.score || a.id - b.id; },
    worst: function (a, b) { return a.score - b.score || a.id - b.id; },
    time: function (a, b) {
      if ((a.time === null) !== (b.time === null)) return a.time === null ? 1 : -1;
      return a.time - b.time || a.id - b.id;
    },
    name: function (a, b) {
      var x = a.folder + "/" + a.name, y = b.folder + "/" + b.name;
      return x < y ? -1 : x > y ? 1 : a.id - b.id;
    }
  };
  var sections = {
    decision: { of: function (shot) { return states[shot.id].flag; }, order: ["pick", "none", "reject"], names: { pick: "picked", none: "unflagged", reject: "rejected" } },
    verdict: { of: function (shot) { return shot.verdict || ""; }, order: ["pick", "keep", "reject", ""], names: { pick: "verdict: pick", keep: "verdict: keep", reject: "verdict: reject", "": "no verdict" } }
  };

  // order: [{shot, moment (a burst's id, its members kept together), section (a heading before it)}]
  function arrange() {
    var compareBy = sorts[controls.sort.value] || sorts.score;
    var list = shots.filter(visible);
    var grouping = controls.group.value;
    order = [];
    if (grouping === "moment") {
      var places = {}, keys = [];
      list.forEach(function (shot) {
        var key = shot.moment ? "m" + shot.moment : "s" + shot.id;
        if (!places[key]) { places[key] = []; keys.push(key); }
        places[key].push(shot);
      });
      var members = keys.map(function (key) { return places[key].sort(compareBy); });
      members.sort(function (a, b) { return compareBy(a[0], b[0]); });
      members.forEach(function (group) {
        group.forEach(function (shot) { order.push({ shot: shot, moment: group.length > 1 ? shot.moment : null, section: null }); });
      });
    } else if (sections[grouping]) {
      var by = sections[grouping];
      list.sort(function (a, b) {
        return by.order.indexOf(by.of(a)) - by.order.indexOf(by.of(b)) || compareBy(a, b);
      });
      var last = null;
      list.forEach(function (shot) {
        var name = by.of(shot);
        var count = list.filter(function (other) { return by.of(other) === name; }).length;
        order.push({ shot: shot, moment: null, section: name !== last ? by.names[name] + " · " + count : null });
        last = name;
      });
    } else {
      list.sort(compareBy).forEach(function (shot) { order.push({ shot: shot, moment: null, section: null }); });
    }
    $("shown").textContent = order.length + " of " + shots.filter(function (shot) { return !states[shot.id].gone; }).length + " shown";
  }

  function pages() { return Math.max(1, Math.ceil(order.length / pageSize)); }

  function indexOf(shot) {
    for (var index = 0; index < order.length; index++) if (order[index].shot === shot) return index;
    return -1;
  }

  // ---- the grid ----

  function hue(text) {
    var value = 0;
    for (var index = 0; index < text.length; index++) value = (value * 31 + text.charCodeAt(index)) % 360;
    return value;
  }

  function stars(count) {
    return count > 0 ? "★★★★★".slice(0, count) + "☆☆☆☆☆".slice(0, 5 - count) : "";
  }

  function makeTile(shot) {
    var tile = element("figure", "tile");
    tile.dataset.id = shot.id;
    tile.dataset.name = shot.name;
    tile.title = shot.details;
    var frame = element("div", "frame");
    var image = element("img");
    image.loading = "lazy";
    image.decoding = "async";
    image.alt = shot.name;
    image.src = "/thumb/" + shot.id + "?" + auth;
    image.addEventListener("error", function () { frame.replaceChildren(element("span", "nothumb", "no preview")); });
    frame.appendChild(image);
    var caption = element("figcaption");
    caption.appendChild(element("span", "score", shot.score.toFixed(3)));
    caption.appendChild(element("span", "flag"));
    caption.appendChild(element("span", "stars"));
    caption.appendChild(element("span", "name", (shot.folder ? shot.folder + "/" : "") + shot.files.join(" + ")));
    var chips = element("span", "chips");
    shot.reasons.forEach(function (reason) { chips.appendChild(element("span", "reason", reason)); });
    if (shot.verdict) chips.appendChild(element("span", "verdict", "verdict " + shot.verdict));
    caption.appendChild(chips);
    tile.appendChild(frame);
    tile.appendChild(caption);
    tile.addEventListener("click", function () { select(shot); });
    tile.addEventListener("dblclick", function () { select(shot); openLoupe(); });
    paint(tile, shot);
    return tile;
  }

  function paint(tile, shot) {
    var state = states[shot.id];
    tile.classList.toggle("pick", state.flag === "pick");
    tile.classList.toggle("reject", state.flag === "reject");
    tile.classList.toggle("pending", !!pending[shot.id]);
    tile.classList.toggle("current", shot === current);
    tile.querySelector(".flag").textContent = state.flag === "pick" ? "✓ picked" : state.flag === "reject" ? "✕ rejected" : "";
    tile.querySelector(".stars").textContent = stars(state.stars);
    var chips = tile.querySelector(".chips"), error = chips.querySelector(".error");
    if (state.error && !error) chips.appendChild(element("span", "error", "sidecar cannot be edited"));
    if (!state.error && error) error.remove();
    if (state.error) tile.title = shot.details + "\n" + state.error;
  }

  function repaint(id) {
    if (tiles[id]) paint(tiles[id], byId[id]);
    if (compareView) paintCompare();
    if (loupeView && loupeView.shot.id === id) captionLoupe();
    counts();
  }

  function render() {
    page = Math.max(0, Math.min(page, pages() - 1));
    var fragment = document.createDocumentFragment();
    var box = null, boxMoment = null;
    tiles = {};
    order.slice(page * pageSize, (page + 1) * pageSize).forEach(function (entry) {
      if (entry.section) fragment.appendChild(element("h2", "section", entry.section));
      if (entry.moment !== boxMoment) {
        box = null;
        boxMoment = entry.moment;
        if (entry.moment) {
          box = element("section", "moment");
          box.style.setProperty("--hue", hue(entry.moment));
          box.appendChild(element("h2", null, "burst · " + entry.shot.moment_size + " shots"));
          fragment.appendChild(box);
        }
      }
      var tile = makeTile(entry.shot);
      tiles[entry.shot.id] = tile;
      (box || fragment).appendChild(tile);
    });
    if (!order.length) fragment.appendChild(element("p", "loading", "no shot matches"));
    grid.replaceChildren(fragment);
    var first = order.length ? page * pageSize + 1 : 0;
    pager.hidden = pages() < 2;
    pager.querySelector(".range").textContent = first + "–" + Math.min(order.length, (page + 1) * pageSize) + " of " + order.length +
      " · page " + (page + 1) + " of " + pages();
    pager.querySelector(".prev").disabled = page === 0;
    pager.querySelector(".next").disabled = page >= pages() - 1;
    remember();
  }

  function counts() {
    var picked = 0, rejected = 0, left = 0;
    shots.forEach(function (shot) {
      var state = states[shot.id];
      if (state.gone) return;
      left++;
      if (state.flag === "pick") picked++;
      if (state.flag === "reject") rejected++;
    });
    $("counts").textContent = left + " shots · " + picked + " picked · " + rejected + " rejected · " + (left - picked - rejected) + " unflagged";
    if (!applyButton.classList.contains("armed")) {
      applyButton.textContent = "move " + rejected + " rejected to " + library.culled_folder.split("/").pop() + "/";
      applyButton.disabled = !library.can_apply || rejected === 0;
    }
  }

  function select(shot, align) {
    var previous = current;
    current = shot;
    if (previous && tiles[previous.id]) paint(tiles[previous.id], previous);
    if (!shot) return;
    var index = indexOf(shot);
    if (index >= 0 && Math.floor(index / pageSize) !== page) {
      page = Math.floor(index / pageSize);
      render();
    }
    if (tiles[shot.id]) {
      paint(tiles[shot.id], shot);
      tiles[shot.id].scrollIntoView({ block: align || "nearest" });
    }
  }

  function move(by) {
    if (!order.length) return;
    var index = current ? indexOf(current) : -1;
    index = index < 0 ? 0 : Math.max(0, Math.min(order.length - 1, index + by));
    select(order[index].shot);
  }

  // ↑ and ↓: the tile above or below on screen, the nearest across (bursts and sections break rows).
  function moveRow(by) {
    if (!current || !tiles[current.id]) return move(by);
    var here = tiles[current.id].getBoundingClientRect();
    var best = null, bestRow = null, bestDistance = Infinity;
    Object.keys(tiles).forEach(function (id) {
      var box = tiles[id].getBoundingClientRect();
      var row = box.top - here.top;
      if (by > 0 ? row <= 5 : row >= -5) return;
      var distance = Math.abs(box.left - here.left);
      if (bestRow === null || (by > 0 ? row < bestRow - 5 : row > bestRow + 5) || (Math.abs(row - bestRow) <= 5 && distance < bestDistance)) {
        best = byId[id]; bestRow = row; bestDistance = distance;
      }
    });
    if (best) select(best);
    else if (by > 0 ? page < pages() - 1 : page > 0) move(by * pageSize);
  }

  function turn(by) {
    if (page + by < 0 || page + by >= pages()) return;
    page += by;
    render();
    select(order[page * pageSize].shot, "start");
  }

  // ---- decisions ----

  // What the server will answer, shown at once (the mapping of aescull/library/decisions.py).
  function predicted(state, action, count) {
    var rejected = state.flag === "reject";
    if (action === "reject") return { flag: "reject", stars: 0 };
    if (action === "stars") return { flag: rejected ? "none" : state.flag, stars: count };
    return { flag: action === "pick" ? "pick" : "none", stars: state.stars };
  }

  function target() {
    if (compareView) return compareView.members[compareView.index];
    if (loupeView) return loupeView.shot;
    return current;
  }

  function decide(action, count) {
    var shot = target();
    if (!shot) return;
    var state = states[shot.id];
    if (state.gone) return;
    if (state.error) { say(shot.name + ": " + state.error, true); return; }
    var guess = predicted(state, action, count);
    states[shot.id] = { id: shot.id, flag: guess.flag, stars: guess.stars, error: null, gone: false };
    pending[shot.id] = (pending[shot.id] || 0) + 1;
    repaint(shot.id);
    queue = queue.then(function () {
      return post("/api/decide", { ids: [shot.id], action: action, stars: count || 0 }).then(function (answer) {
        pending[shot.id] -= 1;
        answer.states.forEach(function (known) { if (!pending[known.id]) states[known.id] = known; });
        if (answer.failures.length) say("not written: " + answer.failures.join("; "), true);
        else say(shot.name + ": " + describe(states[shot.id]) + ", written to its sidecars");
        repaint(shot.id);
      }, function (error) {
        pending[shot.id] -= 1;
        say("not written (" + error.message + "); reload the page to see what the sidecars say", true);
        repaint(shot.id);
      });
    });
  }

  function describe(state) {
    var flag = state.flag === "pick" ? "picked" : state.flag === "reject" ? "rejected" : "unflagged";
    return flag + (state.stars ? ", " + state.stars + " star" + (state.stars > 1 ? "s" : "") : "");
  }

  function applyRejects() {
    if (!applyButton.classList.contains("armed")) {
      applyButton.classList.add("armed");
      applyButton.textContent = "click again to move the rejected shots to " + library.culled_folder;
      setTimeout(function () { applyButton.classList.remove("armed"); counts(); }, 6000);
      return;
    }
    applyButton.classList.remove("armed");
    applyButton.disabled = true;
    queue = queue.then(function () {
      return post("/api/apply", {}).then(function (answer) {
        answer.states.forEach(function (known) { states[known.id] = known; });
        say(answer.states.length + " shots moved to " + library.culled_folder + (answer.failures.length ? "; not moved: " + answer.failures.join("; ") : "") +
          " · undo with: aescull undo " + library.root, answer.failures.length > 0);
        arrange();
        render();
        counts();
      }, function (error) { say("nothing moved: " + error.message, true); counts(); });
    });
  }

  // ---- the loupe: 100 % on the sharpest region ----

  function focus(shot) {
    if (!focusOf[shot.id]) {
      focusOf[shot.id] = get("/focus/" + shot.id);
      focusOf[shot.id].catch(function () { delete focusOf[shot.id]; });
    }
    return focusOf[shot.id];
  }

  // The native pixels around (cx, cy) that fill width × height CSS pixels at one pixel per screen pixel.
  function crop(shot, size, cx, cy, width, height) {
    var ratio = window.devicePixelRatio || 1;
    var w = Math.max(1, Math.min(size.width, Math.round(width * ratio), 4096));
    var h = Math.max(1, Math.min(size.height, Math.round(height * ratio), 4096));
    var x = Math.max(0, Math.min(size.width - w, Math.round(cx - w / 2)));
    var y = Math.max(0, Math.min(size.height - h, Math.round(cy - h / 2)));
    return { url: "/crop/" + shot.id + "?x=" + x + "&y=" + y + "&w=" + w + "&h=" + h + "&" + auth, x: x, y: y, w: w, h: h, ratio: ratio };
  }

  function openLoupe() {
    var shot = target();
    if (!shot) return;
    loupe.hidden = false;
    showLoupe(shot);
  }

  function closeLoupe() {
    loupe.hidden = true;
    loupeView = null;
    loupeImage.removeAttribute("src");
    if (current && tiles[current.id]) tiles[current.id].scrollIntoView({ block: "nearest" });
  }

  function showLoupe(shot) {
    loupeView = { shot: shot, focus: null, cx: 0, cy: 0 };
    loupeImage.removeAttribute("src");
    loupeCaption.textContent = shot.name + " · loading…";
    focus(shot).then(function (found) {
      if (!loupeView || loupeView.shot !== shot) return;
      loupeView.focus = found;
      loupeView.cx = found.x;
      loupeView.cy = found.y;
      loadLoupe();
    }, function (error) {
      if (loupeView && loupeView.shot === shot) loupeCaption.textContent = shot.name + ": no 100 % view (" + error.message + ")";
    });
  }

  function loadLoupe() {
    var view = loupeView;
    var part = crop(view.shot, view.focus, view.cx, view.cy, loupe.clientWidth, loupe.clientHeight);
    loupeImage.style.width = part.w / part.ratio + "px";
    loupeImage.style.height = part.h / part.ratio + "px";
    loupeImage.style.transform = "translate(-50%, -50%)";
    loupeImage.dataset.x = part.x;
    loupeImage.dataset.y = part.y;
    loupeImage.dataset.w = part.w;
    loupeImage.dataset.h = part.h;
    loupeImage.src = part.url;
    captionLoupe();
  }

  function captionLoupe() {
    var view = loupeView;
    if (!view || !view.focus) return;
    var state = states[view.shot.id];
    loupeCaption.textContent = view.shot.name + " · " + view.shot.score.toFixed(3) + " · " + describe(state) + " · 100 % " +
      (view.focus.sharpest ? "on the sharpest region" : "at the centre (no sharp edges found)") + " · drag to look around · Z or Esc closes";
  }

  var drag = null;
  loupe.addEventListener("pointerdown", function (event) {
    if (!loupeView || !loupeView.focus) return;
    drag = { x: event.clientX, y: event.clientY };
    loupe.classList.add("dragging");
    loupe.setPointerCapture(event.pointerId);
  });
  loupe.addEventListener("pointermove", function (event) {
    if (!drag) return;
    loupeImage.style.transform = "translate(calc(-50% + " + (event.clientX - drag.x) + "px), calc(-50% + " + (event.clientY - drag.y) + "px))";
  });
  loupe.addEventListener("pointerup", function (event) {
    if (!drag) return;
    var ratio = window.devicePixelRatio || 1;
    var part = { x: +loupeImage.dataset.x, y: +loupeImage.dataset.y, w: +loupeImage.dataset.w, h: +loupeImage.dataset.h };
    loupeView.cx = part.x + part.w / 2 - (event.clientX - drag.x) * ratio;
    loupeView.cy = part.y + part.h / 2 - (event.clientY - drag.y) * ratio;
    drag = null;
    loupe.classList.remove("dragging");
    loadLoupe();
  });

  // ---- compare: the shots of one burst side by side ----

  function openCompare() {
    var shot = target();
    if (!shot) return;
    if (!shot.moment) { say(shot.name + " is not part of a burst: C compares the shots of one moment", true); return; }
    var members = shots.filter(function (other) { return other.moment === shot.moment && !states[other.id].gone; });
    members.sort(function (a, b) { return (a.rank || 0) - (b.rank || 0) || b.score - a.score; });
    compareView = { members: members, index: members.indexOf(shot), full: false };
    compare.hidden = false;
    comparePanels.replaceChildren();
    members.forEach(function (member) {
      var panel = element("div", "panel");
      panel.dataset.id = member.id;
      panel.dataset.name = member.name;
      panel.appendChild(element("img"));
      panel.appendChild(element("p"));
      panel.addEventListener("click", function () { compareView.index = members.indexOf(member); paintCompare(); });
      comparePanels.appendChild(panel);
    });
    showCompare();
  }

  function closeCompare() {
    var shot = compareView.members[compareView.index];
    compare.hidden = true;
    compareView = null;
    if (indexOf(shot) >= 0) select(shot);
  }

  function showCompare() {
    var view = compareView;
    var panels = comparePanels.children;
    if (!view.full) {
      view.members.forEach(function (member, index) {
        var image = panels[index].querySelector("img");
        panels[index].classList.remove("full");
        image.style.width = image.style.height = "";
        image.src = "/thumb/" + member.id + "?" + auth;
      });
      paintCompare();
      return;
    }
    // 100 %: every frame on the same point of the scene, the sharpest region of the focused one.
    focus(view.members[view.index]).then(function (found) {
      var rx = found.x / found.width, ry = found.y / found.height;
      view.members.forEach(function (member, index) {
        focus(member).then(function (size) {
          if (compareView !== view || !view.full) return;
          var panel = panels[index], image = panel.querySelector("img");
          var part = crop(member, size, rx * size.width, ry * size.height, panel.clientWidth, panel.clientHeight);
          panel.classList.add("full");
          image.style.width = part.w / part.ratio + "px";
          image.style.height = part.h / part.ratio + "px";
          image.src = part.url;
        });
      });
    }, function (error) { say("no 100 % view: " + error.message, true); });
    paintCompare();
  }

  function paintCompare() {
    var view = compareView;
    Array.prototype.forEach.call(comparePanels.children, function (panel, index) {
      var member = view.members[index], state = states[member.id];
      panel.classList.toggle("current", index === view.index);
      panel.classList.toggle("pick", state.flag === "pick");
      panel.classList.toggle("reject", state.flag === "reject");
      panel.querySelector("p").textContent = member.score.toFixed(3) + " · " + describe(state) + (member.reasons.length ? " · " + member.reasons.join(", ") : "") +
        " · " + member.name;
    });
    compareCaption.textContent = "burst of " + view.members.length + (view.full ? " at 100 %" : "") + " · ←/→ choose a frame · P/X/U/1–5 decide on it · Z 100 % · C or Esc closes";
  }

  // ---- keys ----

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.tagName === "SELECT" && /^Arrow/.test(event.key)) return;  // the menu's own keys
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    var handled = true;
    if (key === "p") decide("pick");
    else if (key === "x") decide("reject");
    else if (key === "u") decide("unflag");
    else if (/^[0-5]$/.test(key)) decide("stars", +key);
    else if (key === "ArrowRight" || key === "ArrowLeft" || key === "ArrowDown" || key === "ArrowUp") {
      var by = key === "ArrowRight" || key === "ArrowDown" ? 1 : -1;
      if (compareView) {
        compareView.index = Math.max(0, Math.min(compareView.members.length - 1, compareView.index + by));
        if (compareView.full) showCompare(); else paintCompare();
      } else if (loupeView) {
        move(by);
        showLoupe(current);
      } else if (key === "ArrowDown" || key === "ArrowUp") moveRow(by);
      else move(by);
    } else if (key === "z") {
      if (compareView) { compareView.full = !compareView.full; showCompare(); }
      else if (loupeView) closeLoupe();
      else openLoupe();
    } else if (key === "c") {
      if (compareView) closeCompare();
      else { if (loupeView) closeLoupe(); openCompare(); }
    } else if (key === "Escape") {
      if (compareView) closeCompare();
      else if (loupeView) closeLoupe();
    } else if (key === "PageDown" && !loupeView && !compareView) turn(1);
    else if (key === "PageUp" && !loupeView && !compareView) turn(-1);
    else handled = false;
    if (handled) event.preventDefault();
  });

  // ---- controls, and the view kept in the address ----

  function remember() {
    var parts = [];
    Object.keys(controls).forEach(function (name) { parts.push(name + "=" + encodeURIComponent(controls[name].value)); });
    if (page) parts.push("page=" + (page + 1));
    if (history.replaceState) history.replaceState(null, "", "#" + parts.join("&"));
  }

  function restore() {
    location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
      var parts = pair.split("="), name = decodeURIComponent(parts[0] || ""), value = decodeURIComponent(parts[1] || "");
      var control = controls[name];
      if (control && Array.prototype.some.call(control.options, function (option) { return option.value === value && !option.hidden; })) control.value = value;
      if (name === "page") page = Math.max(0, (parseInt(value, 10) || 1) - 1);
    });
  }

  Object.keys(controls).forEach(function (name) {
    controls[name].addEventListener("change", function () {
      page = 0;
      arrange();
      render();
      select(order.length ? order[0].shot : null, "start");
      controls[name].blur();  // the keys go back to the grid
    });
  });
  pager.querySelector(".prev").addEventListener("click", function () { turn(-1); });
  pager.querySelector(".next").addEventListener("click", function () { turn(1); });
  applyButton.addEventListener("click", applyRejects);

  get("/api/shots").then(function (answer) {
    library = answer;
    pageSize = answer.page_size;
    shots = answer.shots;
    shots.forEach(function (shot) { byId[shot.id] = shot; });
    answer.states.forEach(function (state) { states[state.id] = state; });
    var reasons = controls.reason;
    if (answer.checked) {
      ["flagged"].concat(answer.reasons, ["none"]).forEach(function (reason) {
        var option = element("option", null, reason === "flagged" ? "any flag" : reason === "none" ? "no flag" : reason);
        option.value = reason;
        reasons.appendChild(option);
      });
    } else {
      reasons.disabled = true;
      reasons.title = "run the review with --checks to see why photos scored low";
    }
    if (shots.some(function (shot) { return shot.verdict; })) {
      $("verdict-filter").hidden = false;
      controls.group.querySelector('option[value="verdict"]').hidden = false;
    }
    restore();
    arrange();
    render();
    counts();
    if (order.length) select(order[Math.min(page * pageSize, order.length - 1)].shot, "start");
    document.body.dataset.ready = "1";
  }, function (error) {
    grid.replaceChildren(element("p", "loading", "the library could not be loaded: " + error.message));
  });
})();
