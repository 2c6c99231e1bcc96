// The page's filters: by qube (its name, or its firewall qube's), by
// destination (an address or prefix that shares addresses with the
// destinations, or words of them) and by verdict. An edge shows when it passes all three; a node when one of
// its edges shows, or, for a qube and its firewall qube, when the qube
// passes the qube filter and no other filter is set.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var qubeIn = document.getElementById("f-qube");
  var destIn = document.getElementById("f-dest");
  var status = document.getElementById("status");
  var edges = Array.prototype.slice.call(document.querySelectorAll("svg .edge"));
  var links = Array.prototype.slice.call(document.querySelectorAll("svg .link"));
  var nodes = Array.prototype.slice.call(document.querySelectorAll("svg .node"));
  var rows = {};
  Array.prototype.forEach.call(document.querySelectorAll("tr[data-edge]"), function (r) { rows[r.dataset.edge] = r; });
  var names = Array.prototype.map.call(document.querySelectorAll("#qube-names option"), function (o) { return o.value.toLowerCase(); });
  var byID = {};
  nodes.forEach(function (n) { byID[n.id] = n; });

  // parseAddr returns an IPv4 or IPv6 address as its family and its value,
  // or null if s is not one.
  function parseAddr(s) {
    var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
    if (m) {
      var v = 0n;
      for (var i = 1; i <= 4; i++) {
        var o = Number(m[i]);
        if (o > 255 || (m[i].length > 1 && m[i][0] === "0")) return null;
        v = (v << 8n) | BigInt(o);
      }
      return { family: 4, value: v };
    }
    if (s.indexOf(":") < 0 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
    var halves = s.split("::");
    if (halves.length > 2) return null;
    var groups = [];
    for (var h = 0; h < halves.length; h++) {
      var part = halves[h] === "" ? [] : halves[h].split(":");
      var out = [];
      for (var j = 0; j < part.length; j++) {
        var g = part[j];
        if (j === part.length - 1 && h === halves.length - 1 && g.indexOf(".") >= 0) {
          var v4 = parseAddr(g);
          if (!v4 || v4.family !== 4) return null;
          out.push(Number(v4.value >> 16n), Number(v4.value & 0xffffn));
          continue;
        }
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
        out.push(parseInt(g, 16));
      }
      groups.push(out);
    }
    var all;
    if (groups.length === 2) {
      var fill = 8 - groups[0].length - groups[1].length;
      if (fill < 1) return null;
      all = groups[0].concat(new Array(fill).fill(0), groups[1]);
    } else {
      all = groups[0];
    }
    if (all.length !== 8) return null;
    var v6 = 0n;
    all.forEach(function (x) { v6 = (v6 << 16n) | BigInt(x); });
    return { family: 6, value: v6 };
  }

  // parsePrefix returns a prefix ("10.0.0.0/8") or an address (a prefix
  // of all its bits) as its family, its value and its length, or null.
  function parsePrefix(s) {
    var at = s.lastIndexOf("/");
    var a = parseAddr(at < 0 ? s : s.slice(0, at));
    if (!a) return null;
    var max = a.family === 4 ? 32 : 128;
    var bits = at < 0 ? max : Number(s.slice(at + 1));
    if (!/^\d{1,3}$/.test(at < 0 ? String(max) : s.slice(at + 1)) || bits > max) return null;
    a.bits = bits;
    return a;
  }

  // within reports whether prefix q lies inside prefix p.
  function within(q, p) {
    if (p.family !== q.family || q.bits < p.bits) return false;
    var shift = BigInt((p.family === 4 ? 32 : 128) - p.bits);
    return (p.value >> shift) === (q.value >> shift);
  }

  function words(s) { return s.trim().toLowerCase(); }

  // destMatches reports whether destination node n passes query q: an
  // address or prefix that shares addresses with its destinations, or
  // text it shows. Its prefixes and exceptions are each the fewest that
  // hold their addresses, so a prefix left out by them all is inside one.
  function destMatches(n, q) {
    if (q === "") return true;
    var a = parsePrefix(q);
    if (!a) return n.dataset.match.indexOf(q) >= 0;
    var list = function (s) { return s ? s.split(" ").map(parsePrefix) : []; };
    var meets = n.dataset.any === "true" || list(n.dataset.prefixes).some(function (p) { return within(a, p) || within(p, a); });
    return meets && !list(n.dataset.except).some(function (p) { return within(a, p); });
  }

  function update() {
    var q = words(qubeIn.value), d = words(destIn.value);
    var verdicts = {}, every = true;
    Array.prototype.forEach.call(form.querySelectorAll("input[name=verdict]"), function (c) {
      verdicts[c.value] = c.checked;
      every = every && c.checked;
    });
    // A qube with no edge shown is drawn only while nothing but the
    // qube filter is set: it says that the qube is there and reaches
    // nothing, or nothing it is not shown reaching.
    var bare = d === "" && every;
    // A qube's name, as the list offers them, means that qube alone;
    // other text, every qube whose name holds it.
    var exact = names.indexOf(q) >= 0;
    var has = function (name) { return exact ? name.toLowerCase() === q : name.toLowerCase().indexOf(q) >= 0; };
    var qubeOK = function (el) { return q === "" || has(el.dataset.qube) || has(el.dataset.firewall); };
    var shown = {}, count = 0;
    edges.forEach(function (e) {
      var on = verdicts[e.dataset.verdict] && qubeOK(e) && destMatches(byID[e.dataset.dest], d);
      e.classList.toggle("off", !on);
      if (rows[e.id]) rows[e.id].classList.toggle("off", !on);
      if (on) {
        count++;
        shown[e.dataset.from] = shown[e.dataset.via] = shown[e.dataset.dest] = true;
      }
    });
    links.forEach(function (l) {
      var on = (bare && qubeOK(l)) || shown[l.dataset.from];
      l.classList.toggle("off", !on);
      if (on) shown[l.dataset.from] = shown[l.dataset.via] = true;
    });
    nodes.forEach(function (n) {
      var on = shown[n.id] || (bare && n.dataset.kind === "qube" && qubeOK(n));
      n.classList.toggle("off", !on);
    });
    status.textContent = count + " of " + edges.length + " edges shown";
  }

  // A click on a node, or Enter on it, filters by it.
  nodes.forEach(function (n) {
    var pick = function () {
      if (n.dataset.kind === "dest") destIn.value = n.dataset.name;
      else qubeIn.value = n.dataset.name;
      update();
    };
    n.addEventListener("click", pick);
    n.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pick(); }
    });
  });
  form.addEventListener("input", update);
  form.addEventListener("reset", function () { setTimeout(update, 0); });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); });
  update();
})();
