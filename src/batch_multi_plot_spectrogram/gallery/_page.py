"""The gallery's page: one static HTML file with its style and script inline.

The page holds no item: it reads them from ``gallery.js`` (see :mod:`._index`), so that
it is written once and stays the same while the index changes at every save of a run.
Item names only ever reach the page as JSON strings put in place with ``textContent`` and
as URL parts passed through ``encodeURIComponent``: a group called ``<b>"x"#1`` is shown as
written and its files are still found. The only text of this file that comes from the
run, the output folder's name, goes through :func:`html.escape`.

No network, no server: the page, its index and the images are plain files, linked by
relative paths, so the folder can be opened from ``file://`` and moved or copied.
"""

from __future__ import annotations

import html

__all__ = ["INDEX_SCRIPT_NAME", "page_html"]

#: The file the page loads its items from.
INDEX_SCRIPT_NAME = "gallery.js"
#: The global that ``gallery.js`` sets.
INDEX_GLOBAL = "SPECTROGRAM_GALLERY"

_STYLE = """
:root { --ok: #1a7f37; --no_data: #6e7781; --error: #cf222e; --pending: #9a6700;
  --line: #d0d7de; --muted: #57606a; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1f2328; background: #fff; }
header { position: sticky; top: 0; z-index: 2; background: #fff;
  border-bottom: 1px solid var(--line); padding: 8px 16px; }
h1 { font-size: 18px; margin: 0 0 4px; }
#summary { color: var(--muted); margin: 0 0 6px; }
#summary b { color: #1f2328; }
#filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
#filters select, #filters input { font: inherit; padding: 3px 6px; }
#filters input { min-width: 18em; }
#shown { color: var(--muted); }
#notice { margin: 8px 16px 0; padding: 6px 10px; border-left: 4px solid var(--pending);
  background: #fff8c5; }
#problems { margin: 8px 16px 0; padding: 6px 10px; border-left: 4px solid var(--error);
  background: #ffebe9; }
#problems ul { margin: 4px 0 0; padding-left: 20px; }
#problems li { white-space: pre-wrap; overflow-wrap: anywhere; }
main { padding: 4px 16px 40px; }
section > h2 { font-size: 15px; margin: 18px 0 8px; overflow-wrap: anywhere; }
section > h2 small { font-weight: normal; color: var(--muted); }
#more { margin: 0 16px 40px; color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr));
  gap: 12px; }
.card { display: block; color: inherit; text-decoration: none; border: 1px solid var(--line);
  border-radius: 6px; overflow: hidden; background: #fff;
  content-visibility: auto; contain-intrinsic-size: auto 250px; }
.card:hover, .card:focus { border-color: #0969da; outline: none;
  box-shadow: 0 0 0 2px #0969da44; }
.card[hidden] { display: none; }
.card img { display: block; width: 100%; height: auto; aspect-ratio: 3 / 2;
  background: var(--bg); }
.card img[width] { aspect-ratio: auto; }
.ph { aspect-ratio: 3 / 2; display: flex; flex-direction: column; justify-content: center;
  align-items: center; gap: 6px; padding: 10px; background: var(--bg); text-align: center;
  overflow: hidden; }
.ph p { margin: 0; color: var(--muted); font-size: 12px; overflow-wrap: anywhere;
  max-height: 7.2em; overflow: hidden; }
.cap { padding: 6px 8px; border-top: 1px solid var(--line); }
.grp { font-weight: 600; overflow-wrap: anywhere; }
.time { color: var(--muted); font-size: 12px; }
.why { font-size: 12px; color: var(--error); overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.card.no_data .why { color: var(--muted); }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px;
  color: #fff; background: var(--muted); vertical-align: 1px; }
.badge.ok { background: var(--ok); } .badge.error { background: var(--error); }
.badge.no_data { background: var(--no_data); } .badge.pending { background: var(--pending); }
.card.error { border-color: #ff818266; }
#viewer { position: fixed; inset: 0; z-index: 10; background: #fff; display: flex;
  flex-direction: column; }
#viewer[hidden] { display: none; }
.vbar { display: flex; gap: 10px; align-items: center; padding: 8px 12px;
  border-bottom: 1px solid var(--line); background: var(--bg); }
.vbar button { font: inherit; padding: 2px 10px; cursor: pointer; }
.vinfo { flex: 1; min-width: 0; }
#v-title { font-weight: 600; overflow-wrap: anywhere; }
#v-meta { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
#v-pos { color: var(--muted); font-variant-numeric: tabular-nums; }
.vbody { flex: 1; overflow: auto; padding: 12px; text-align: center; }
#v-img { max-width: 100%; height: auto; }
#v-msg { max-width: 60em; margin: 40px auto; text-align: left; padding: 12px 16px;
  border-left: 4px solid var(--muted); background: var(--bg); white-space: pre-wrap;
  overflow-wrap: anywhere; }
#v-msg.error { border-color: var(--error); }
#v-msg.pending { border-color: var(--pending); }
kbd { border: 1px solid var(--line); border-radius: 3px; padding: 0 4px; font-size: 12px; }
"""

# The script runs once gallery.js has set its global (a classic <script src> before it:
# a page opened from file:// may not fetch() a local file, nor load a module script, but
# it may run a classic script from its own folder).
_SCRIPT = """
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  performance.mark("gallery-script");
  var data = window.__GLOBAL__;
  if (!data || !Array.isArray(data.items)) {
    $("summary").textContent = "The index (__SCRIPT__) is missing or unreadable. Rebuild "
      + "it with: batch-spectrograms gallery <this folder>";
    return;
  }
  var items = data.items;
  var STATUSES = ["ok", "no_data", "error", "pending"];

  function itemId(it) { return it.store + "/" + it.group.replace(/^\\/+/, ""); }
  function encodePath(path) { return path.split("/").map(encodeURIComponent).join("/"); }
  function hashOf(it) { return "#item=" + encodePath(it.id); }
  function utc(seconds) {
    return new Date(seconds * 1000).toISOString().replace("T", " ").replace(/\\.\\d+Z$/, "");
  }
  function timeRange(it) { // UTC, the end without its date when it is the start's
    if (it.start == null) { return ""; }
    var a = utc(it.start), b = utc(it.end == null ? it.start : it.end);
    return a + " \\u2013 " + (a.slice(0, 10) === b.slice(0, 10) ? b.slice(11) : b);
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text != null) { node.textContent = text; }
    return node;
  }
  function badge(status) { return el("span", "badge " + status, status.replace("_", " ")); }

  // -- the summary -----------------------------------------------------------------------
  var byId = new Map();
  items.forEach(function (it, i) {
    it.id = itemId(it);
    if (!byId.has(it.id)) { byId.set(it.id, i); }
  });
  document.title = "Spectrograms: " + (data.title || "");
  var counts = data.counts || {};
  var summary = $("summary");
  summary.textContent = "";
  summary.appendChild(el("b", null, items.length + " item" + (items.length === 1 ? "" : "s")));
  summary.appendChild(document.createTextNode(": " + STATUSES.filter(function (s) {
    return counts[s];
  }).map(function (s) { return counts[s] + " " + s.replace("_", " "); }).join(", ")
    + " \\u00b7 " + ({ running: "run in progress", complete: "run complete",
      incomplete: "run incomplete" }[data.state] || data.state)
    + " \\u00b7 updated " + (data.updated || "").replace("T", " ").replace("Z", " UTC")));
  if (data.state === "running") {
    var notice = $("notice");
    notice.textContent = "A run is writing into this folder: reload the page to see the "
      + "items finished since the time above.";
    notice.hidden = false;
  }
  if (data.problems && data.problems.length) {
    var box = $("problems");
    box.appendChild(el("b", null, "Stores left out of the run"));
    var list = el("ul");
    data.problems.forEach(function (p) {
      var line = el("li");
      line.appendChild(el("code", null, p.store));
      line.appendChild(document.createTextNode(": " + p.reason));
      list.appendChild(line);
    });
    box.appendChild(list);
    box.hidden = false;
  }

  // -- the grid ----------------------------------------------------------------------------
  // Cards are made for the items shown (after the filters), in order, CHUNK at a time: the
  // first when the page opens, the next ones as the end of the grid comes near the screen.
  // Ten thousand items then open as fast as a hundred; thumbnails load lazily as well.
  var CHUNK = 240;
  var main = $("grid"), more = $("more");
  var storeSelect = $("f-store");
  var perStore = new Map(); // store -> number of its items
  items.forEach(function (it) {
    if (!perStore.has(it.store)) {
      storeSelect.appendChild(new Option(it.store || ".", it.store));
    }
    perStore.set(it.store, (perStore.get(it.store) || 0) + 1);
  });
  var visible = [];       // indices of the items the filters let through, in order
  var shownPerStore = new Map();
  var position = null;    // item index -> place in `visible`, made when needed
  var made = 0;           // cards made so far, for visible[0 .. made)
  var cards = new Map();  // item index -> its card, once made
  var lastGrid = null, lastStore = null;
  var current = null;

  function makeCard(i) {
    var it = items[i];
    var card = el("a", "card " + it.status);
    card.href = hashOf(it);
    card.title = it.title || it.group;
    if (it.status === "ok" && it.thumb) {
      var img = el("img");
      img.loading = "lazy";
      img.decoding = "async";
      img.alt = it.group;
      if (it.tw && it.th) { img.width = it.tw; img.height = it.th; }
      img.src = encodePath(it.thumb);
      card.appendChild(img);
    } else {
      var ph = el("div", "ph");
      ph.appendChild(badge(it.status));
      ph.appendChild(el("p", null, it.reason || (it.status === "ok" ? "no thumbnail" : "")));
      card.appendChild(ph);
    }
    var cap = el("div", "cap");
    cap.appendChild(el("div", "grp", it.group));
    cap.appendChild(el("div", "time", timeRange(it) || "\\u00a0"));
    var line = el("div", "why");
    line.appendChild(badge(it.status));
    if (it.reason) { line.appendChild(document.createTextNode(" " + it.reason)); }
    cap.appendChild(line);
    card.appendChild(cap);
    return card;
  }
  function makeMore(count) {
    var end = Math.min(visible.length, made + count);
    var fragment = document.createDocumentFragment();
    for (; made < end; made += 1) {
      var i = visible[made], it = items[i];
      if (lastGrid === null || lastStore !== it.store) {
        if (lastGrid !== null) { lastGrid.appendChild(fragment); }
        var section = el("section");
        var heading = el("h2", null, it.store || ".");
        var shown = shownPerStore.get(it.store), total = perStore.get(it.store);
        heading.appendChild(document.createTextNode(" "));
        heading.appendChild(el("small", null, "(" + (shown === total ? total
          : shown + " of " + total) + ")"));
        section.appendChild(heading);
        lastGrid = el("div", "grid");
        section.appendChild(lastGrid);
        main.appendChild(section);
        lastStore = it.store;
      }
      var card = makeCard(i);
      cards.set(i, card);
      fragment.appendChild(card);
    }
    if (lastGrid !== null) { lastGrid.appendChild(fragment); }
    more.hidden = made >= visible.length;
    more.textContent = visible.length - made + " more below\\u2026";
  }
  var watcher = "IntersectionObserver" in window ? new IntersectionObserver(function (seen) {
    if (seen.some(function (e) { return e.isIntersecting; }) && made < visible.length) {
      makeMore(CHUNK);
      watcher.unobserve(more); // watching again reports at once if it is still near
      watcher.observe(more);
    }
  }, { rootMargin: "0px 0px 1500px 0px" }) : null;
  if (watcher) { watcher.observe(more); } else { CHUNK = Infinity; }

  // -- filters -----------------------------------------------------------------------------
  function haystack(it) {
    if (it.hay == null) {
      it.hay = [it.store, it.group, it.status, it.title || "", it.reason || "",
        timeRange(it)].join("\\n").toLowerCase();
    }
    return it.hay;
  }
  function applyFilters() {
    var store = storeSelect.value, status = $("f-status").value;
    var text = $("f-text").value.trim().toLowerCase();
    visible = [];
    shownPerStore = new Map();
    items.forEach(function (it, i) {
      if ((!store || it.store === store) && (!status || it.status === status)
          && (!text || haystack(it).indexOf(text) >= 0)) {
        visible.push(i);
        shownPerStore.set(it.store, (shownPerStore.get(it.store) || 0) + 1);
      }
    });
    position = null;
    made = 0;
    cards = new Map();
    lastGrid = lastStore = null;
    main.textContent = "";
    if (!items.length) { main.appendChild(el("p", null, "No items yet.")); }
    else if (!visible.length) { main.appendChild(el("p", null, "No item matches.")); }
    makeMore(CHUNK);
    $("shown").textContent = visible.length + " of " + items.length + " shown";
  }
  var typing = null;
  $("f-text").addEventListener("input", function () {
    clearTimeout(typing);
    typing = setTimeout(applyFilters, 120);
  });
  storeSelect.addEventListener("change", applyFilters);
  $("f-status").addEventListener("change", applyFilters);
  applyFilters();
  performance.mark("gallery-grid");

  // -- the viewer --------------------------------------------------------------------------
  var viewer = $("viewer"), image = $("v-img"), message = $("v-msg");
  function placeOf(i) {
    if (position === null) {
      position = new Map();
      visible.forEach(function (j, k) { position.set(j, k); });
    }
    return position.has(i) ? position.get(i) : null;
  }
  function show(i) {
    var it = items[i];
    current = i;
    var place = placeOf(i);
    $("v-pos").textContent = place === null ? "(filtered out)"
      : (place + 1) + " / " + visible.length;
    $("v-prev").disabled = place === null || place === 0;
    $("v-next").disabled = place === null || place === visible.length - 1;
    $("v-title").textContent = it.store + " \\u203a " + it.group;
    $("v-meta").textContent = [it.status.replace("_", " "),
      it.start == null ? "" : timeRange(it) + " UTC", it.title]
      .filter(Boolean).join(" \\u00b7 ");
    var link = $("v-link");
    if (it.status === "ok" && it.figure) {
      link.href = encodePath(it.figure);
      link.hidden = false;
    } else {
      link.hidden = true;
    }
    var pdf = it.figure && /\\.pdf$/i.test(it.figure);
    if (it.status === "ok" && it.figure && !(pdf && !it.thumb)) {
      // A browser shows PNG and SVG in <img>; a PDF shows as its thumbnail (the link
      // opens the PDF itself).
      image.src = encodePath(pdf ? it.thumb : it.figure);
      image.alt = it.group;
      image.hidden = false;
      message.className = "";
      message.textContent = "The thumbnail of a PDF: open the figure file to see the PDF.";
      message.hidden = !pdf;
    } else {
      image.removeAttribute("src");
      image.hidden = true;
      message.className = it.status;
      message.textContent = it.status === "ok" ? "No picture to show: open the figure file."
        : it.status === "pending" ? "Not rendered yet."
        : it.status.replace("_", " ") + ": " + (it.reason || "(no reason recorded)");
      message.hidden = false;
    }
    document.title = it.group + " \\u2013 " + it.store;
    viewer.hidden = false;
    [-1, 1].forEach(function (step) { // fetch the neighbours' figures ahead of the keys
      var k = place === null ? null : visible[place + step];
      if (k != null && items[k].status === "ok" && items[k].figure
          && !/\\.pdf$/i.test(items[k].figure)) {
        new Image().src = encodePath(items[k].figure);
      }
    });
  }
  function hide() {
    viewer.hidden = true;
    image.removeAttribute("src");
    document.title = "Spectrograms: " + (data.title || "");
    // Back where the keys left off, unless that card is far beyond the cards made (it
    // was opened by a link): making thousands of cards to get there would take seconds.
    var place = current === null ? null : placeOf(current);
    if (place !== null && place < made + 4 * CHUNK) {
      if (place >= made) { makeMore(place - made + CHUNK); }
      var card = cards.get(current);
      card.scrollIntoView({ block: "nearest" });
      card.focus({ preventScroll: true });
    }
  }
  function wanted() {
    var match = /^#item=(.*)$/.exec(location.hash);
    if (!match) { return null; }
    try { return decodeURIComponent(match[1]); } catch (e) { return match[1]; }
  }
  function route() {
    var id = wanted();
    $("missing").hidden = true;
    if (id !== null && byId.has(id)) {
      show(byId.get(id));
    } else {
      if (id !== null) {
        $("missing").textContent = "No item \\u201c" + id + "\\u201d in this gallery.";
        $("missing").hidden = false;
      }
      if (!viewer.hidden) { hide(); }
    }
  }
  function step(delta) {
    var place = current === null ? null : placeOf(current);
    if (place === null) { return; }
    var next = visible[place + delta];
    if (next == null) { return; }
    // Replace, not push: stepping through a thousand figures leaves one history entry.
    location.replace(hashOf(items[next]));
  }
  function close() {
    try {
      history.replaceState(null, "", location.pathname + location.search);
    } catch (e) {
      location.replace("#");
    }
    route();
  }
  $("v-prev").addEventListener("click", function () { step(-1); });
  $("v-next").addEventListener("click", function () { step(1); });
  $("v-close").addEventListener("click", close);
  document.addEventListener("keydown", function (event) {
    if (viewer.hidden || event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (event.key === "ArrowRight") { step(1); } else if (event.key === "ArrowLeft") {
      step(-1);
    } else if (event.key === "Escape") { close(); } else { return; }
    event.preventDefault();
  });
  window.addEventListener("hashchange", route);
  route();

  // Ready: the grid is built and painted, and the page answers the keyboard and filters.
  requestAnimationFrame(function () {
    setTimeout(function () {
      window.galleryReadyAt = performance.now();
      document.documentElement.setAttribute("data-ready", "");
    }, 0);
  });
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="batch_multi_plot_spectrogram">
<title>Spectrograms: __TITLE__</title>
<style>__STYLE__</style>
</head>
<body>
<header>
<h1>Spectrograms: __TITLE__</h1>
<p id="summary">Loading the index\u2026</p>
<div id="filters">
<label>Store <select id="f-store"><option value="">all stores</option></select></label>
<label>Status <select id="f-status"><option value="">any status</option>
<option value="ok">ok</option><option value="no_data">no data</option>
<option value="error">error</option><option value="pending">pending</option></select></label>
<input id="f-text" type="search" placeholder="Filter: group, title, reason\u2026"
 aria-label="Filter by text">
<span id="shown"></span>
<span class="keys">Times are UTC. Open a figure, then <kbd>\u2190</kbd> <kbd>\u2192</kbd>
to step, <kbd>Esc</kbd> to come back.</span>
</div>
</header>
<div id="notice" hidden></div>
<div id="missing" hidden></div>
<div id="problems" hidden></div>
<noscript><p>This page needs JavaScript to show its items; they are listed in
gallery.json.</p></noscript>
<main id="grid"></main>
<p id="more" hidden></p>
<div id="viewer" hidden role="dialog" aria-modal="true" aria-labelledby="v-title">
<div class="vbar">
<button id="v-prev" type="button" title="Previous (\u2190)">\u2190</button>
<span id="v-pos"></span>
<button id="v-next" type="button" title="Next (\u2192)">\u2192</button>
<div class="vinfo"><div id="v-title"></div><div id="v-meta"></div></div>
<a id="v-link" href="" target="_blank" rel="noopener">Open the figure file</a>
<button id="v-close" type="button" title="Back to the grid (Esc)">\u2715</button>
</div>
<div class="vbody"><img id="v-img" alt="" hidden><div id="v-msg" hidden></div></div>
</div>
<script src="__SCRIPT__"></script>
<script>__CODE__</script>
</body>
</html>
"""


def page_html(title: str) -> str:
    """The page, titled with ``title`` (the output folder's name)."""
    script = _SCRIPT.replace("__GLOBAL__", INDEX_GLOBAL).replace("__SCRIPT__", INDEX_SCRIPT_NAME)
    return (
        _PAGE.replace("__STYLE__", _STYLE)
        .replace("__CODE__", script)
        .replace("__SCRIPT__", INDEX_SCRIPT_NAME)
        .replace("__TITLE__", html.escape(title))
    )
